"""Every environment variable the service reads, parsed and validated in one place.

`load_settings(environ)` is the only reader of the environment; the rest of the code receives
the frozen `Settings` it returns. Reading never stops at the first problem: every bad value and
every unknown name under the service's prefixes is collected into one `ConfigErrors`, which
`python -m app` prints one line each before exiting 78. No message repeats a secret's value.

Two helpers keep this module to the settings themselves, and read nothing: `app.config_names`
(`KNOWN_VARIABLES`, re-exported here, and the checks of unknown names) and `app.config_values`
(values that take more than a type and a range: HOST, MONGO_URI, production secrets).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from app.config_names import KNOWN_VARIABLES, unknown_variables, unread_shared_variables
from app.config_values import (
    host_problem,
    key_value_list,
    mongo_uri_problem,
    production_secret_problem,
)
from app.identity import NAME
from app.secret import Secret

AppEnv = Literal["development", "test", "production"]
LogLevel = Literal["debug", "info", "warn", "error"]
APP_ENVS: tuple[AppEnv, ...] = ("development", "test", "production")
# LOG_LEVEL may also say "warning" (Python's name), read as "warn".
LOG_LEVELS: tuple[LogLevel | Literal["warning"], ...] = (
    "debug", "info", "warn", "warning", "error")
C = TypeVar("C", bound=str)

# The sampler names of the OpenTelemetry specification that take no plug-in.
TRACE_SAMPLERS = (
    "always_on", "always_off", "traceidratio",
    "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio",
)


class ConfigError(ValueError):
    """A variable is missing or malformed; the message starts with the variable's name."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem

    @property
    def errors(self) -> tuple[ConfigError, ...]:
        return (self,)


class ConfigErrors(ConfigError):
    """Every problem of one reading, in order; `variable` and `problem` are the first one's."""

    def __init__(self, errors: Sequence[ConfigError]) -> None:
        super().__init__(errors[0].variable, errors[0].problem)
        self.args = ("\n".join(str(error) for error in errors),)
        self._errors = tuple(errors)

    @property
    def errors(self) -> tuple[ConfigError, ...]:
        return self._errors


@dataclass(frozen=True, slots=True)
class AccountRules:
    """How the features check an account's email and password: the bootstrap admin's settings
    follow the rules /auth/register applies."""

    # The form login looks up; raises ValueError naming what is wrong (never the address).
    canonical_email: Callable[[str], str]
    password_lengths: tuple[int, int]  # inclusive bounds


@dataclass(frozen=True, slots=True)
class Needs:
    """What the features a service mounts need of the configuration beyond the core. The
    features module declares it (`app.features.settings_needs`), and `python -m app` reads the
    environment with it: a core-only service neither demands nor generates JWT secrets."""

    # JWT_ACCESS_SECRET, JWT_REFRESH_SECRET (+ _PREVIOUS): demanded in production, throwaway
    # ones generated (with a warning) in development. Unneeded, they are not read.
    jwt_secrets: bool = False
    # BOOTSTRAP_ADMIN_EMAIL + _PASSWORD, checked by these rules. Unneeded, they are not read.
    accounts: AccountRules | None = None

    def unmet(self, wanted: Needs) -> tuple[str, ...]:
        """The variables `wanted` needs that a reading for these needs leaves unread."""
        unread: list[str] = []
        if wanted.jwt_secrets and not self.jwt_secrets:
            unread += ["JWT_ACCESS_SECRET", "JWT_REFRESH_SECRET"]
        if wanted.accounts is not None and self.accounts != wanted.accounts:
            unread += ["BOOTSTRAP_ADMIN_EMAIL", "BOOTSTRAP_ADMIN_PASSWORD"]
        return tuple(unread)


CORE = Needs()  # the core alone needs nothing more


@dataclass(frozen=True, slots=True)
class JwtSecrets:
    current: Secret
    previous: Secret | None = None

    def verification_keys(self) -> tuple[Secret, ...]:
        return (self.current,) if self.previous is None else (self.current, self.previous)


@dataclass(frozen=True, slots=True)
class Settings:
    app_env: AppEnv = "development"
    host: str = "0.0.0.0"
    port: int = 8080
    log_level: LogLevel = "info"
    mongo_uri: Secret | None = None  # may carry a password
    mongo_db: str = "catalog"
    mongo_timeout_ms: int = 1000
    jwt_access: JwtSecrets = field(default_factory=lambda: JwtSecrets(_throwaway_secret()))
    jwt_refresh: JwtSecrets = field(default_factory=lambda: JwtSecrets(_throwaway_secret()))
    jwt_issuer: str = NAME
    jwt_audience: str = "catalog-extension"
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    auth_allow_self_registration: bool = False
    bootstrap_admin_email: str | None = None
    bootstrap_admin_password: Secret | None = None
    cors_allowed_origins: tuple[str, ...] = ()
    trust_proxy_hops: int = 0
    rate_limit_anon_per_minute: int = 120
    rate_limit_user_per_minute: int = 600
    rate_limit_auth_per_minute: int = 10
    rate_limit_max_keys: int = 100_000
    rate_limit_backend: str = "memory"  # memory: per process; mongo: shared by all instances
    catalog_refresh_seconds: float = 30.0
    catalog_cache_control: str = "public, max-age=60, stale-while-revalidate=300"
    # Most active items /content serves from memory; above it (or at 0) it reads the database.
    content_snapshot_max_items: int = 10_000
    seed_demo_data: bool = True
    shutdown_grace_seconds: float = 1.0
    shutdown_timeout_seconds: float = 15.0
    max_body_bytes: int = 1024 * 1024
    commit: str = "unknown"
    dependency_ping_seconds: float = 5.0
    # /ready also needs the database's ping (the strict form). Off: a primed instance stays in
    # rotation through a database outage, so a shared outage does not empty the load balancer.
    ready_requires_store: bool = False
    # Deadlines for a whole request head / body (not idle timers: slowloris never goes idle),
    # the idle keep-alive time, and the most connections served at once.
    http_header_timeout_seconds: float = 10.0
    http_body_timeout_seconds: float = 30.0
    http_keepalive_timeout_seconds: float = 75.0
    http_max_connections: int = 1000
    # Password hashing: how many run at once, how many may wait; beyond that login and register
    # answer 503 auth.busy at once. Failed logins allowed per account (any address) per 15 min.
    auth_hash_concurrency: int = 2
    auth_hash_queue_max: int = 16
    auth_account_failures_per_15_minutes: int = 10
    sentry_dsn: Secret | None = None  # its key is a credential
    sentry_environment: str | None = None
    sentry_traces_sample_rate: float = 0.0
    otel_service_name: str = NAME
    # Where spans go (OTLP/HTTP); None: tracing is off and costs nothing.
    otel_traces_endpoint: str | None = None
    otel_sampler: str = "parentbased_always_on"
    otel_sampler_ratio: float = 1.0
    # Added to the spans' resource (e.g. k8s.pod.name=...); ours win on a clash.
    otel_resource_attributes: tuple[tuple[str, str], ...] = ()
    # Sent with every export (a collector behind authentication): the values are credentials.
    otel_exporter_headers: tuple[tuple[str, Secret], ...] = ()
    # Non-fatal findings (e.g. generated secrets) to log once logging is configured.
    warnings: tuple[str, ...] = ()
    # What the environment was read for (load_settings' `needs`): create_app checks it covers
    # the features' needs, so production never serves the example with throwaway JWT secrets.
    needs: Needs = CORE

    @property
    def uses_memory_store(self) -> bool:
        return self.mongo_uri is None


def _throwaway_secret() -> Secret:
    return Secret(secrets.token_urlsafe(48))


class _Reader:
    """Typed access to the environment, restricted to KNOWN_VARIABLES. A bad value is recorded
    (the first per variable) and the default returned, so reading goes on to find the rest."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.errors: dict[str, ConfigError] = {}

    def fail(self, name: str, problem: str) -> None:
        self.errors.setdefault(name, ConfigError(name, problem))

    def raw(self, name: str) -> str | None:
        if name not in KNOWN_VARIABLES:
            raise AssertionError(f"{name} is not declared in KNOWN_VARIABLES")
        value = self._environ.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def string(self, name: str, default: str) -> str:
        return self.raw(name) or default

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            self.fail(name, f"must be an integer, got {value!r}")
            return default
        if not low <= number <= high:
            self.fail(name, f"must be between {low} and {high}, got {number}")
            return default
        return number

    def number(self, name: str, default: float, *, low: float, high: float) -> float:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            self.fail(name, f"must be a number, got {value!r}")
            return default
        if not low <= number <= high:
            self.fail(name, f"must be between {low:g} and {high:g}, got {number:g}")
            return default
        return number

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        self.fail(name, f"must be true or false, got {value!r}")
        return default

    def choice(self, name: str, default: C, options: tuple[C, ...]) -> C:
        value = (self.raw(name) or default).lower()
        for option in options:  # the option itself: typed as one of them
            if option == value:
                return option
        self.fail(name, f"must be one of {', '.join(options)}, got {value!r}")
        return default


def _secret(
    env: _Reader, name: str, app_env: str, generated: list[str], *, required: bool
) -> Secret | None:
    value = env.raw(name)
    if value is None:
        if not required:
            return None
        if app_env == "production":
            env.fail(name, "is required in production")
        else:
            generated.append(name)
        return _throwaway_secret()
    if app_env == "production":
        problem = production_secret_problem(value)
        if problem is not None:
            env.fail(name, problem)
    return Secret(value)


def _jwt_secrets(
    env: _Reader, current_name: str, previous_name: str, app_env: str, generated: list[str]
) -> JwtSecrets:
    current = _secret(env, current_name, app_env, generated, required=True)
    previous = _secret(env, previous_name, app_env, generated, required=False)
    assert current is not None
    return JwtSecrets(current, previous)


def _host(env: _Reader) -> str:
    host = env.string("HOST", "0.0.0.0")
    problem = host_problem(host)
    if problem is None:
        return host
    env.fail("HOST", problem)
    return "0.0.0.0"


def _mongo_uri(env: _Reader, app_env: str) -> Secret | None:
    uri = env.raw("MONGO_URI")
    if uri is None:
        if app_env == "production":
            env.fail("MONGO_URI", "is required in production (the memory store is not durable)")
        return None
    problem = mongo_uri_problem(uri)
    if problem is not None:
        env.fail("MONGO_URI", problem)
    return Secret(uri)


def _bootstrap_admin(env: _Reader, rules: AccountRules | None) -> tuple[str | None, Secret | None]:
    if rules is None:
        return None, None
    email = env.raw("BOOTSTRAP_ADMIN_EMAIL")
    password = env.raw("BOOTSTRAP_ADMIN_PASSWORD")
    if (email is None) != (password is None):
        missing = "BOOTSTRAP_ADMIN_PASSWORD" if password is None else "BOOTSTRAP_ADMIN_EMAIL"
        env.fail(missing, "must be set together with the other BOOTSTRAP_ADMIN_ variable")
    if email is not None:
        # The form login looks up: Ops@Example.org must be the account ops@example.org.
        try:
            email = rules.canonical_email(email)
        except ValueError as exc:
            env.fail("BOOTSTRAP_ADMIN_EMAIL", str(exc))
    shortest, longest = rules.password_lengths
    if password is not None and not shortest <= len(password) <= longest:
        # The rule /auth/register applies to every other password.
        env.fail("BOOTSTRAP_ADMIN_PASSWORD", f"must be {shortest} to {longest} characters long")
    return email, None if password is None else Secret(password)


def _origins(env: _Reader, app_env: str) -> tuple[str, ...]:
    value = env.raw("CORS_ALLOWED_ORIGINS")
    if value is None:
        return ()
    origins = tuple(part.strip().rstrip("/") for part in value.split(",") if part.strip())
    for origin in origins:
        if origin == "*":
            if app_env == "production":
                env.fail("CORS_ALLOWED_ORIGINS", "must not be '*' in production")
            continue
        scheme, sep, rest = origin.partition("://")
        if not sep or not rest or scheme not in ("https", "http", "chrome-extension"):
            env.fail(
                "CORS_ALLOWED_ORIGINS",
                f"{origin!r} is not an origin like chrome-extension://<id> or https://host",
            )
    return origins


def _traces_endpoint(env: _Reader) -> str | None:
    explicit = env.raw("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    base = env.raw("OTEL_EXPORTER_OTLP_ENDPOINT")
    name = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" if explicit else "OTEL_EXPORTER_OTLP_ENDPOINT"
    # The per-signal variable is used as given; the general one gets the signal path (spec).
    endpoint = explicit or (base.rstrip("/") + "/v1/traces" if base else None)
    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        env.fail(name, "must be an http(s) URL (OTLP over HTTP)")
        return None
    return endpoint


def _key_values(env: _Reader, name: str) -> list[tuple[str, str]]:
    value = env.raw(name)
    pairs = key_value_list(value) if value is not None else []
    if pairs is None:
        env.fail(name, "must be key=value pairs separated by commas")
        return []
    return pairs


def _sentry_dsn(env: _Reader) -> Secret | None:
    dsn = env.raw("SENTRY_DSN")
    if dsn is None:
        return None
    if not (dsn.startswith(("http://", "https://")) and "@" in dsn):
        env.fail("SENTRY_DSN", "must look like https://<key>@<host>/<project>")
        return None
    return Secret(dsn)


def _rate_limit_backend(env: _Reader, mongo_uri: Secret | None) -> str:
    backend = env.choice("RATE_LIMIT_BACKEND", "memory", ("memory", "mongo"))
    if backend == "mongo" and mongo_uri is None:
        env.fail("RATE_LIMIT_BACKEND", "mongo needs MONGO_URI")
    return backend


def check_needs(settings: Settings, needs: Needs) -> None:
    """Raise ConfigErrors when production `settings` were read without what features with
    these `needs` need (e.g. read for the core's needs, they hold throwaway JWT secrets)."""
    unread = settings.needs.unmet(needs)
    if unread and settings.app_env == "production":
        raise ConfigErrors([ConfigError(name, (
            "needed by the service's features but not read: these settings were loaded for "
            "other needs; load them with load_settings(needs=features.settings_needs)"
        )) for name in unread])


def load_settings(environ: Mapping[str, str] | None = None, *, needs: Needs = CORE) -> Settings:
    """Parse and validate the environment (the process's own unless given) for a service whose
    features have these `needs`; raise ConfigErrors listing every problem: unknown names first,
    as a typo often explains what follows."""
    environ = os.environ if environ is None else environ
    env = _Reader(environ)
    generated: list[str] = []
    app_env = env.choice("APP_ENV", "development", APP_ENVS)
    mongo_uri = _mongo_uri(env, app_env)
    admin_email, admin_password = _bootstrap_admin(env, needs.accounts)
    level = env.choice("LOG_LEVEL", "info", LOG_LEVELS)
    settings = Settings(
        app_env=app_env,
        host=_host(env),
        port=env.integer("PORT", 8080, low=1, high=65535),
        log_level="warn" if level == "warning" else level,
        mongo_uri=mongo_uri,
        mongo_db=env.string("MONGO_DB", "catalog"),
        mongo_timeout_ms=env.integer("MONGO_TIMEOUT_MS", 1000, low=50, high=60_000),
        jwt_access=_jwt_secrets(
            env, "JWT_ACCESS_SECRET", "JWT_ACCESS_SECRET_PREVIOUS", app_env, generated
        ) if needs.jwt_secrets else JwtSecrets(_throwaway_secret()),
        jwt_refresh=_jwt_secrets(
            env, "JWT_REFRESH_SECRET", "JWT_REFRESH_SECRET_PREVIOUS", app_env, generated
        ) if needs.jwt_secrets else JwtSecrets(_throwaway_secret()),
        jwt_issuer=env.string("JWT_ISSUER", NAME),
        jwt_audience=env.string("JWT_AUDIENCE", "catalog-extension"),
        access_token_ttl_seconds=env.integer("ACCESS_TOKEN_TTL_SECONDS", 900, low=30, high=86_400),
        refresh_token_ttl_seconds=env.integer(
            "REFRESH_TOKEN_TTL_SECONDS", 30 * 24 * 3600, low=60, high=365 * 24 * 3600
        ),
        auth_allow_self_registration=env.boolean("AUTH_ALLOW_SELF_REGISTRATION", False),
        bootstrap_admin_email=admin_email,
        bootstrap_admin_password=admin_password,
        cors_allowed_origins=_origins(env, app_env),
        trust_proxy_hops=env.integer("TRUST_PROXY_HOPS", 0, low=0, high=10),
        rate_limit_anon_per_minute=env.integer(
            "RATE_LIMIT_ANON_PER_MINUTE", 120, low=1, high=1_000_000
        ),
        rate_limit_user_per_minute=env.integer(
            "RATE_LIMIT_USER_PER_MINUTE", 600, low=1, high=1_000_000
        ),
        rate_limit_auth_per_minute=env.integer(
            "RATE_LIMIT_AUTH_PER_MINUTE", 10, low=1, high=1_000_000
        ),
        rate_limit_max_keys=env.integer("RATE_LIMIT_MAX_KEYS", 100_000, low=100, high=10_000_000),
        rate_limit_backend=_rate_limit_backend(env, mongo_uri),
        catalog_refresh_seconds=env.number("CATALOG_REFRESH_SECONDS", 30.0, low=0.2, high=3600),
        catalog_cache_control=env.string(
            "CATALOG_CACHE_CONTROL", "public, max-age=60, stale-while-revalidate=300"
        ),
        content_snapshot_max_items=env.integer(
            "CONTENT_SNAPSHOT_MAX_ITEMS", 10_000, low=0, high=10_000_000),
        seed_demo_data=env.boolean("SEED_DEMO_DATA", app_env == "development"),
        shutdown_grace_seconds=env.number(
            "SHUTDOWN_GRACE_SECONDS", 5.0 if app_env == "production" else 0.5, low=0, high=300
        ),
        shutdown_timeout_seconds=env.number("SHUTDOWN_TIMEOUT_SECONDS", 15.0, low=0, high=300),
        max_body_bytes=env.integer("MAX_BODY_BYTES", 1024 * 1024, low=1024, high=64 * 1024 * 1024),
        commit=env.string("APP_COMMIT", "unknown"),
        dependency_ping_seconds=env.number("DEPENDENCY_PING_SECONDS", 5.0, low=0.1, high=300),
        ready_requires_store=env.boolean("READY_REQUIRES_STORE", False),
        http_header_timeout_seconds=env.number(
            "HTTP_HEADER_TIMEOUT_SECONDS", 10.0, low=0.1, high=600),
        http_body_timeout_seconds=env.number("HTTP_BODY_TIMEOUT_SECONDS", 30.0, low=0.1, high=3600),
        http_keepalive_timeout_seconds=env.number(
            "HTTP_KEEPALIVE_TIMEOUT_SECONDS", 75.0, low=0, high=3600),
        http_max_connections=env.integer("HTTP_MAX_CONNECTIONS", 1000, low=1, high=1_000_000),
        auth_hash_concurrency=env.integer("AUTH_HASH_CONCURRENCY", 2, low=1, high=64),
        auth_hash_queue_max=env.integer("AUTH_HASH_QUEUE_MAX", 16, low=0, high=10_000),
        auth_account_failures_per_15_minutes=env.integer(
            "AUTH_ACCOUNT_FAILURES_PER_15_MINUTES", 10, low=1, high=1_000_000),
        needs=needs,
        sentry_dsn=_sentry_dsn(env),
        sentry_environment=env.raw("SENTRY_ENVIRONMENT"),
        sentry_traces_sample_rate=env.number("SENTRY_TRACES_SAMPLE_RATE", 0.0, low=0, high=1),
        otel_service_name=env.string("OTEL_SERVICE_NAME", NAME),
        otel_traces_endpoint=_traces_endpoint(env),
        otel_sampler=env.choice("OTEL_TRACES_SAMPLER", "parentbased_always_on", TRACE_SAMPLERS),
        otel_sampler_ratio=env.number("OTEL_TRACES_SAMPLER_ARG", 1.0, low=0, high=1),
        otel_resource_attributes=tuple(_key_values(env, "OTEL_RESOURCE_ATTRIBUTES")),
        otel_exporter_headers=tuple((key, Secret(value)) for key, value in (
            *_key_values(env, "OTEL_EXPORTER_OTLP_HEADERS"),
            *_key_values(env, "OTEL_EXPORTER_OTLP_TRACES_HEADERS"),
        )),
        warnings=(
            *((f"{' and '.join(generated)} not set: using throwaway secrets for this process "
               "(tokens stop verifying on restart)",) if generated else ()),
            *((f"{', '.join(unread)} set but not read by this service (it exports traces as "
               "OTLP/HTTP protobuf itself)",) if (unread := unread_shared_variables(environ))
              else ()),
        ),
    )
    unknown = [ConfigError(name, problem) for name, problem in unknown_variables(environ)]
    errors = [*unknown, *env.errors.values()]
    if errors:
        raise ConfigErrors(errors)
    return settings
