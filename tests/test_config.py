"""Configuration is validated once at start; a bad value stops the process with one clear line."""

import subprocess
import sys

import pytest

from app.config import ConfigError, load_settings
from tests.service import REPO

STRONG = "Vq8kZ2pW9xL4mN7rT1yB6cD3fG0hJ5sA"  # 32 bytes, no placeholder markers
PROD = {
    "APP_ENV": "production",
    "MONGO_URI": "mongodb://db.internal:27017/?replicaSet=rs0",
    "JWT_ACCESS_SECRET": STRONG,
    "JWT_REFRESH_SECRET": STRONG[::-1],
}


def test_defaults_in_development_generate_secrets_with_one_warning():
    settings = load_settings({})
    assert settings.app_env == "development" and settings.port == 8080
    assert settings.uses_memory_store
    assert len(settings.jwt_access.current.reveal()) >= 32
    assert settings.jwt_access.current != settings.jwt_refresh.current
    assert len(settings.warnings) == 1
    assert "JWT_ACCESS_SECRET" in settings.warnings[0]


def test_valid_production_settings_load():
    settings = load_settings(PROD)
    assert settings.app_env == "production" and not settings.uses_memory_store
    assert settings.warnings == ()


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"PORT": "http"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"APP_ENV": "staging"}, "APP_ENV"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        ({"AUTH_ALLOW_SELF_REGISTRATION": "maybe"}, "AUTH_ALLOW_SELF_REGISTRATION"),
        ({"MONGO_URI": "postgres://x"}, "MONGO_URI"),
        ({"SHUTDOWN_GRACE_SECONDS": "-1"}, "SHUTDOWN_GRACE_SECONDS"),
        ({"CORS_ALLOWED_ORIGINS": "not-an-origin"}, "CORS_ALLOWED_ORIGINS"),
        ({"BOOTSTRAP_ADMIN_EMAIL": "a@b.c"}, "BOOTSTRAP_ADMIN_PASSWORD"),
    ],
)
def test_malformed_values_name_the_variable(overrides, variable):
    with pytest.raises(ConfigError) as info:
        load_settings(overrides)
    assert info.value.variable == variable
    assert str(info.value).startswith(variable + ":")


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"MONGO_URI": ""}, "MONGO_URI"),  # the memory store
        ({"JWT_ACCESS_SECRET": ""}, "JWT_ACCESS_SECRET"),  # missing
        ({"JWT_REFRESH_SECRET": "short-but-random-Zq8"}, "JWT_REFRESH_SECRET"),  # < 32 bytes
        ({"JWT_ACCESS_SECRET": "change-me-change-me-change-me-change-me"}, "JWT_ACCESS_SECRET"),
        ({"JWT_ACCESS_SECRET_PREVIOUS": "replace-with-placeholder-value-000000"},
         "JWT_ACCESS_SECRET_PREVIOUS"),
        ({"CORS_ALLOWED_ORIGINS": "*"}, "CORS_ALLOWED_ORIGINS"),
    ],
)
def test_production_refusals(overrides, variable):
    with pytest.raises(ConfigError) as info:
        load_settings({**PROD, **overrides})
    assert info.value.variable == variable


def run_app(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app"], cwd=REPO, env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True, text=True, timeout=30,
    )


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"MONGO_URI": ""}, "MONGO_URI"),
        ({"JWT_ACCESS_SECRET": ""}, "JWT_ACCESS_SECRET"),
        ({"JWT_REFRESH_SECRET": "change-me"}, "JWT_REFRESH_SECRET"),
        ({"PORT": "eighty"}, "PORT"),
    ],
)
def test_process_refuses_to_start_with_one_line(overrides, variable):
    result = run_app({**PROD, **overrides})
    assert result.returncode == 78
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"configuration error: {variable}:")
    assert result.stdout == ""  # nothing started
