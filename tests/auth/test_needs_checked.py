"""The example domain's app is never built on settings read for the core alone in production: a
runner other than `python -m app` that forgets `needs=` would serve throwaway JWT secrets."""

import pytest

from app.composition import service_features
from app.config import CORE, ConfigError, load_settings
from app.web.app import create_app
from tests.test_config import PROD


def test_production_settings_read_for_the_core_do_not_build_the_example():
    settings = load_settings(PROD, needs=CORE)
    with pytest.raises(ConfigError) as info:
        create_app(settings)
    names = [error.variable for error in info.value.errors]
    assert names == ["JWT_ACCESS_SECRET", "JWT_REFRESH_SECRET",
                     "BOOTSTRAP_ADMIN_EMAIL", "BOOTSTRAP_ADMIN_PASSWORD"]
    assert "load_settings(needs=features.settings_needs)" in str(info.value)
    create_app(load_settings(PROD, needs=service_features().settings_needs))
