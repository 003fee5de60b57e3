"""Configuration is validated once at start; every problem is one line, all of them at once.

The core's settings, read with the core's needs (`load_settings` without `needs=`); what the
example domain adds (JWT secrets, the bootstrap admin) is tested in tests/auth/test_settings.py.
The process tests run `python -m app`, whatever its features: their variables are the core's."""

import subprocess
import sys

import pytest

from app.config import KNOWN_VARIABLES, ConfigError, load_settings
from tests.service import REPO

STRONG = "Vq8kZ2pW9xL4mN7rT1yB6cD3fG0hJ5sA"  # 32 bytes, no placeholder markers
PROD = {
    "APP_ENV": "production",
    "MONGO_URI": "mongodb://db.internal:27017/?replicaSet=rs0",
    "JWT_ACCESS_SECRET": STRONG,
    "JWT_REFRESH_SECRET": STRONG[::-1],
}


def test_defaults_in_development_need_nothing_and_say_nothing():
    settings = load_settings({})
    assert settings.app_env == "development" and settings.port == 8080
    assert settings.uses_memory_store
    assert settings.warnings == ()


def test_the_core_neither_demands_nor_reads_jwt_secrets():
    settings = load_settings({**PROD, "JWT_ACCESS_SECRET": "", "JWT_REFRESH_SECRET": "change-me"})
    assert settings.app_env == "production" and settings.warnings == ()
    assert settings.jwt_refresh.current.reveal() != "change-me"


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
        ({"CONTENT_SNAPSHOT_MAX_ITEMS": "-1"}, "CONTENT_SNAPSHOT_MAX_ITEMS"),
        ({"CONTENT_SNAPSHOT_MAX_ITEMS": "many"}, "CONTENT_SNAPSHOT_MAX_ITEMS"),
        ({"CORS_ALLOWED_ORIGINS": "not-an-origin"}, "CORS_ALLOWED_ORIGINS"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "k8s.pod.name"}, "OTEL_RESOURCE_ATTRIBUTES"),
        ({"OTEL_EXPORTER_OTLP_HEADERS": "=token"}, "OTEL_EXPORTER_OTLP_HEADERS"),
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
        ({"PORT": "eighty"}, "PORT"),
        ({"MONGO_URI": "mongodb://"}, "MONGO_URI"),  # was a 28-line traceback, exit 1
        ({"MONGO_URI": "mongodb://db.internal:99999/"}, "MONGO_URI"),
        ({"CORS_ALLOWED_ORIGINS": "*"}, "CORS_ALLOWED_ORIGINS"),
    ],
)
def test_process_refuses_to_start_with_one_line(overrides, variable):
    result = run_app({**PROD, **overrides})
    assert result.returncode == 78
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"configuration error: {variable}:")
    assert result.stdout == ""  # nothing started


def problems(environ: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(environ)
    return [str(error) for error in info.value.errors]


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as info:
        load_settings({"PORT": "eighty", "LOG_LEVEL": "loud", "APP_ENVIRONMENT": "production"})
    assert [error.variable for error in info.value.errors] == [
        "APP_ENVIRONMENT", "LOG_LEVEL", "PORT"
    ]
    assert info.value.variable == "APP_ENVIRONMENT"  # callers wanting one error get the first


def test_process_prints_every_problem_and_exits_78():
    result = run_app({
        **PROD,
        "PORT": "eighty",
        "MONGO_URL": "mongodb://db.internal:27017",
        "CORS_ALLOWED_ORIGINS": "*",
    })
    assert result.returncode == 78
    assert result.stderr.splitlines() == [
        "configuration error: MONGO_URL: is not a variable this service reads; "
        "did you mean MONGO_URI?",
        "configuration error: PORT: must be an integer, got 'eighty'",
        "configuration error: CORS_ALLOWED_ORIGINS: must not be '*' in production",
    ]
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("name", "meant"),
    [
        ("RATE_LIMT_ANON_PER_MINUTE", "RATE_LIMIT_ANON_PER_MINUTE"),  # outside every prefix
        ("MONGO_URL", "MONGO_URI"),  # silently ran on the memory store
        ("APP_ENVIRONMENT", "APP_ENV"),  # =production silently ran in development
        ("MONGODB_URI", "MONGO_URI"),
        ("mongo_uri", "MONGO_URI"),
        ("LOGLEVEL", "LOG_LEVEL"),
        ("SENTRY_DNS", "SENTRY_DSN"),
        ("SENTRY_ENV", "SENTRY_ENVIRONMENT"),
        ("JWT_ACCESS_SECRET_PREVIOU", "JWT_ACCESS_SECRET_PREVIOUS"),
    ],
)
def test_misspelled_variables_are_errors_with_a_suggestion(name, meant):
    assert problems({name: "production"}) == [
        f"{name}: is not a variable this service reads; did you mean {meant}?"
    ]


def test_a_misspelling_of_any_variable_is_caught():
    for known in KNOWN_VARIABLES:
        if known.startswith("OTEL_"):  # the OpenTelemetry SDK's namespace, not ours to police
            continue
        for typo in (known[:-1], known + "S", known.lower()):
            assert problems({typo: "1"}) == [
                f"{typo}: is not a variable this service reads; did you mean {known}?"
            ]


def test_unknown_names_under_our_prefixes_are_errors():
    assert problems({"APP_FLAVOUR": "x", "SENTRY_RELEASE": "1.2.3"}) == [
        "APP_FLAVOUR: is not a variable this service reads",
        "SENTRY_RELEASE: is not a variable this service reads; "
        "the Sentry SDK reads it, but this service configures Sentry itself",
    ]


def test_otlp_headers_are_credentials_and_unread_otel_names_are_reported():
    settings = load_settings({**PROD, "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer k3y",
                              "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                              "OTEL_BSP_SCHEDULE_DELAY": "500"})
    ((name, value),) = settings.otel_exporter_headers
    assert (name, value.reveal()) == ("authorization", "Bearer k3y")
    assert "k3y" not in repr(settings)
    # Not an error (other tools read OTEL_*), but said once at start.
    assert settings.warnings == (
        "OTEL_BSP_SCHEDULE_DELAY, OTEL_EXPORTER_OTLP_PROTOCOL set but not read by this service "
        "(it exports traces as OTLP/HTTP protobuf itself)",)


def test_names_other_programs_set_are_not_typos():
    settings = load_settings({
        # Kubernetes service links for Services named mongo, the service and kubernetes.
        "MONGO_PORT": "tcp://10.0.0.1:27017",
        "MONGO_SERVICE_HOST": "10.0.0.1",
        "MONGO_SERVICE_PORT": "27017",
        "MONGO_SERVICE_PORT_MONGO": "27017",
        "MONGO_PORT_27017_TCP": "tcp://10.0.0.1:27017",
        "MONGO_PORT_27017_TCP_PROTO": "tcp",
        "MONGO_PORT_27017_TCP_PORT": "27017",
        "MONGO_PORT_27017_TCP_ADDR": "10.0.0.1",
        "CATALOG_API_SERVICE_HOST": "10.0.0.2",
        "CATALOG_API_PORT_8080_TCP": "tcp://10.0.0.2:8080",
        "KUBERNETES_SERVICE_HOST": "10.0.0.3",
        # The OpenTelemetry SDK's own standard variables.
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod",
        "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer x",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "authorization=Bearer x",
        # Set in every container, by shells, for outgoing proxies, by the test suite.
        "HOSTNAME": "api-7d9f8b6c5-x2x9z",
        "HOME": "/home/app",
        "HTTP_PROXY": "http://proxy:3128",
        "http_proxy": "http://proxy:3128",
        "MONGO_TEST_URI": "mongodb://localhost:27017",
    })
    assert settings.uses_memory_store


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("mongodb://", "Must provide at least one hostname or IP"),
        ("mongodb://db.internal:99999", "Port must be an integer between 0 and 65535"),
        ("mongodb://db.internal/?replicaSet=rs0&wtimeout=soon", None),
        ("mongodb://app:pa:ss@db.internal", "Username and password must be escaped"),
        ("mongodb+srv://cluster0.example.invalid:27017",
         "a mongodb+srv:// URI names exactly one host and no port"),
        ("mongodb+srv://a.example.invalid,b.example.invalid",
         "a mongodb+srv:// URI names exactly one host and no port"),
        ("mongodb+srv://cluster0.example.invalid/?tls=maybe", "The value of tls must be"),
    ],
)
def test_mongo_uri_is_checked_by_the_driver_at_start(uri, problem):
    [line] = problems({"MONGO_URI": uri})
    assert line.startswith("MONGO_URI: ")
    if problem is not None:
        assert problem in line


def test_a_driver_message_quoting_the_uri_is_not_repeated(monkeypatch):
    def quoting(uri, **_):
        raise ValueError(f"bad credentials {uri.split(':')[2]}")  # what a driver might one day do

    monkeypatch.setattr("app.config_values.parse_uri", quoting)
    assert problems({"MONGO_URI": "mongodb://app:Zq8hunter@db.internal"}) == [
        "MONGO_URI: is not a valid MongoDB connection string"
    ]


def test_mongo_uri_srv_is_checked_without_a_dns_lookup():
    # A lookup of a .invalid name fails (or times out offline): loading proves none was made.
    settings = load_settings({"MONGO_URI": "mongodb+srv://app:pw@cluster0.example.invalid/cat"})
    assert not settings.uses_memory_store


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "127.0.0.1", "localhost", "api.internal."])
def test_host_accepts_addresses_and_names(host):
    assert load_settings({"HOST": host}).host == host


@pytest.mark.parametrize("host", ["999.1.1.1", "10.0.0", "-edge", "a..b", "two words", "[::1]"])
def test_host_refuses_what_is_neither(host):
    assert problems({"HOST": host}) == [
        f"HOST: must be an IP address or a host name, got {host!r}"
    ]


def test_no_message_repeats_a_secret():
    canary = "CanaryZ7q"
    result = run_app({
        **PROD,
        "MONGO_URI": f"mongodb://app:{canary}mongo@db.internal:99999/?authSource={canary}src",
        "SENTRY_DSN": f"{canary}dsn",
        "OTEL_EXPORTER_OTLP_HEADERS": f"authorization={canary}",  # not a problem: never said
        "APP_SECRET": f"{canary}typo",  # an unknown name may hold a secret too
    })
    assert result.returncode == 78
    assert [line.split(":")[1].strip() for line in result.stderr.splitlines()] == [
        "APP_SECRET", "MONGO_URI", "SENTRY_DSN",
    ]
    assert canary not in result.stderr + result.stdout
