"""What the example domain needs of the configuration (app.bootstrap.settings_needs): JWT secrets,
demanded in production and generated in development, and a bootstrap admin checked as
/auth/register checks an account. The core's own settings are tested in tests/test_config.py."""

from collections.abc import Mapping

import pytest

from app.bootstrap import settings_needs
from app.config import ConfigError, Settings, load_settings
from app.domain.auth.emails import InvalidEmail, canonical_email
from app.domain.auth.passwords import MAX_LENGTH, MIN_LENGTH
from tests.test_config import PROD, run_app


def settings(environ: Mapping[str, str]) -> Settings:
    return load_settings(environ, needs=settings_needs)


def problems(environ: Mapping[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        settings(environ)
    return [str(error) for error in info.value.errors]


def test_defaults_in_development_generate_secrets_with_one_warning():
    loaded = settings({})
    assert len(loaded.jwt_access.current.reveal()) >= 32
    assert loaded.jwt_access.current != loaded.jwt_refresh.current
    assert len(loaded.warnings) == 1
    assert "JWT_ACCESS_SECRET" in loaded.warnings[0]


def test_valid_production_settings_load():
    assert settings(PROD).warnings == ()


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"JWT_ACCESS_SECRET": ""}, "JWT_ACCESS_SECRET"),  # missing
        ({"JWT_REFRESH_SECRET": "short-but-random-Zq8"}, "JWT_REFRESH_SECRET"),  # < 32 bytes
        ({"JWT_ACCESS_SECRET": "change-me-change-me-change-me-change-me"}, "JWT_ACCESS_SECRET"),
        ({"JWT_ACCESS_SECRET_PREVIOUS": "replace-with-placeholder-value-000000"},
         "JWT_ACCESS_SECRET_PREVIOUS"),
    ],
)
def test_production_refusals(overrides, variable):
    with pytest.raises(ConfigError) as info:
        settings({**PROD, **overrides})
    assert info.value.variable == variable


def test_half_a_bootstrap_admin_is_refused():
    with pytest.raises(ConfigError) as info:
        settings({"BOOTSTRAP_ADMIN_EMAIL": "a@b.c"})
    assert info.value.variable == "BOOTSTRAP_ADMIN_PASSWORD"


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"JWT_ACCESS_SECRET": ""}, "JWT_ACCESS_SECRET"),
        ({"JWT_REFRESH_SECRET": "change-me"}, "JWT_REFRESH_SECRET"),
        ({"BOOTSTRAP_ADMIN_EMAIL": "ops@example.org", "BOOTSTRAP_ADMIN_PASSWORD": "short"},
         "BOOTSTRAP_ADMIN_PASSWORD"),
    ],
)
def test_process_refuses_to_start_with_one_line(overrides, variable):
    result = run_app({**PROD, **overrides})
    assert result.returncode == 78
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"configuration error: {variable}:")
    assert result.stdout == ""  # nothing started


def test_process_prints_every_problem_and_exits_78():
    result = run_app({
        **PROD,
        "PORT": "eighty",
        "MONGO_URL": "mongodb://db.internal:27017",
        "BOOTSTRAP_ADMIN_EMAIL": "Ops@Example.org",
        "BOOTSTRAP_ADMIN_PASSWORD": "short",
    })
    assert result.returncode == 78
    assert result.stderr.splitlines() == [
        "configuration error: MONGO_URL: is not a variable this service reads; "
        "did you mean MONGO_URI?",
        "configuration error: BOOTSTRAP_ADMIN_PASSWORD: "
        f"must be {MIN_LENGTH} to {MAX_LENGTH} characters long",
        "configuration error: PORT: must be an integer, got 'eighty'",
    ]
    assert result.stdout == ""


def test_bootstrap_admin_email_is_stored_in_the_form_login_looks_up():
    loaded = settings({
        "BOOTSTRAP_ADMIN_EMAIL": " Ops@Example.org ",
        "BOOTSTRAP_ADMIN_PASSWORD": "correct horse battery staple",
    })
    assert loaded.bootstrap_admin_email == "ops@example.org"


@pytest.mark.parametrize("email", ["ops at example.org", "ops@localhost", "ops\u200b@example.org"])
def test_bootstrap_admin_email_must_be_one_register_accepts(email):
    with pytest.raises(InvalidEmail) as reason:
        canonical_email(email)
    assert problems({"BOOTSTRAP_ADMIN_EMAIL": email,
                     "BOOTSTRAP_ADMIN_PASSWORD": "correct horse battery staple"}) == [
        f"BOOTSTRAP_ADMIN_EMAIL: {reason.value}"
    ]


@pytest.mark.parametrize("password", ["short", "x" * (MIN_LENGTH - 1), "x" * (MAX_LENGTH + 1)])
def test_bootstrap_admin_password_follows_the_register_rule(password):
    assert problems({"BOOTSTRAP_ADMIN_EMAIL": "ops@example.org",
                     "BOOTSTRAP_ADMIN_PASSWORD": password}) == [
        f"BOOTSTRAP_ADMIN_PASSWORD: must be {MIN_LENGTH} to {MAX_LENGTH} characters long"
    ]


def test_no_message_repeats_a_secret():
    canary = "CanaryZ7q"
    result = run_app({
        "APP_ENV": "production",
        "MONGO_URI": f"mongodb://app:{canary}mongo@db.internal:99999/?authSource={canary}src",
        "JWT_ACCESS_SECRET": f"{canary}jwt",  # too short
        "JWT_REFRESH_SECRET": f"change-me-{canary}-refresh-change-me-refresh",  # placeholder
        "JWT_ACCESS_SECRET_PREVIOUS": f"{canary}prev",
        "SENTRY_DSN": f"{canary}dsn",
        "BOOTSTRAP_ADMIN_EMAIL": "ops@example.org",
        "BOOTSTRAP_ADMIN_PASSWORD": f"{canary}pw",
        "JWT_SECRET": f"{canary}typo",  # an unknown name may hold a secret too
    })
    assert result.returncode == 78
    assert [line.split(":")[1].strip() for line in result.stderr.splitlines()] == [
        "JWT_SECRET", "MONGO_URI", "BOOTSTRAP_ADMIN_PASSWORD", "JWT_ACCESS_SECRET",
        "JWT_ACCESS_SECRET_PREVIOUS", "JWT_REFRESH_SECRET", "SENTRY_DSN",
    ]
    assert canary not in result.stderr + result.stdout
