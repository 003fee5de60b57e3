"""Secrets in configuration are masked on every path that renders an object: repr, str, format,
%-format, a traceback with its local variables, pickling."""

import pickle
import traceback

import pytest

from app.config import AccountRules, Needs, load_settings
from app.secret import Secret
from tests.conftest import TEST_ENV

# Every secret the configuration can hold, whatever the service's features read: JWT secrets
# and a bootstrap admin (with rules of its own here).
EVERY_SECRET = Needs(jwt_secrets=True, accounts=AccountRules(str.lower, (8, 256)))

VALUES = {
    "JWT_ACCESS_SECRET": "canary-access-Zq8kW2pL9xM4vB7nR1tY6cAA",
    "JWT_ACCESS_SECRET_PREVIOUS": "canary-prev-Hq2wE7rT4yU9iO1pA6sD3fGG",
    "JWT_REFRESH_SECRET": "canary-refresh-Wq9pX2mZ7kL4vB8nR1tY6c",
    "MONGO_URI": "mongodb://ops:canary-mongo-pw@127.0.0.1:27017/",
    "SENTRY_DSN": "https://canarysentrykey0123@sentry.invalid/1",
    "BOOTSTRAP_ADMIN_EMAIL": "ops@example.org",
    "BOOTSTRAP_ADMIN_PASSWORD": "canary-admin-password",
}
NEEDLES = ("canary-access", "canary-prev", "canary-refresh", "canary-mongo-pw",
           "canarysentrykey", "canary-admin-password")


def test_settings_never_render_a_secret():
    settings = load_settings({**TEST_ENV, **VALUES}, needs=EVERY_SECRET)

    def fail_with(settings):
        keys = settings.jwt_access  # noqa: F841 - the local is the point
        raise RuntimeError("boom", settings)

    try:
        fail_with(settings)
    except RuntimeError as exc:
        with_locals = "".join(traceback.TracebackException.from_exception(
            exc, capture_locals=True).format())
    renderings = [repr(settings), str(settings), f"{settings}", "%s %r" % (settings, settings),  # noqa: UP031
                  repr(settings.jwt_access), f"{settings.mongo_uri:>80}", with_locals]
    for text in renderings:
        for needle in NEEDLES:
            assert needle not in text, (needle, text[:200])
    # The values are there for the code that needs them.
    assert settings.mongo_uri.reveal() == VALUES["MONGO_URI"]
    assert settings.jwt_access.previous.reveal() == VALUES["JWT_ACCESS_SECRET_PREVIOUS"]


def test_a_secret_cannot_be_pickled_or_changed():
    secret = Secret("canary-value")
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    with pytest.raises(AttributeError):
        secret._value = "other"
    assert secret == Secret("canary-value") and secret != "canary-value"
