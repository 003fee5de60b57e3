"""The names of configuration: the variables the service reads, and what any other name is.

Kept apart from `app.config`, which reads and checks the values: this module only looks at the
names present in the environment mapping it is handed (never at a value), to tell a typo under
the service's prefixes (with a did-you-mean) from another program's variable, a Kubernetes
service link or the OpenTelemetry SDK's own OTEL_* names.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

# The variables `app.config` may read. `.env.example` must list each of them (a test enforces it).
KNOWN_VARIABLES: tuple[str, ...] = (
    "APP_ENV",
    "HOST",
    "PORT",
    "LOG_LEVEL",
    "MONGO_URI",
    "MONGO_DB",
    "MONGO_TIMEOUT_MS",
    "JWT_ACCESS_SECRET",
    "JWT_ACCESS_SECRET_PREVIOUS",
    "JWT_REFRESH_SECRET",
    "JWT_REFRESH_SECRET_PREVIOUS",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "ACCESS_TOKEN_TTL_SECONDS",
    "REFRESH_TOKEN_TTL_SECONDS",
    "AUTH_ALLOW_SELF_REGISTRATION",
    "BOOTSTRAP_ADMIN_EMAIL",
    "BOOTSTRAP_ADMIN_PASSWORD",
    "CORS_ALLOWED_ORIGINS",
    "TRUST_PROXY_HOPS",
    "RATE_LIMIT_ANON_PER_MINUTE",
    "RATE_LIMIT_USER_PER_MINUTE",
    "RATE_LIMIT_AUTH_PER_MINUTE",
    "RATE_LIMIT_MAX_KEYS",
    "RATE_LIMIT_BACKEND",
    "CATALOG_REFRESH_SECONDS",
    "CATALOG_CACHE_CONTROL",
    "CONTENT_SNAPSHOT_MAX_ITEMS",
    "SEED_DEMO_DATA",
    "SHUTDOWN_GRACE_SECONDS",
    "SHUTDOWN_TIMEOUT_SECONDS",
    "MAX_BODY_BYTES",
    "APP_COMMIT",
    "DEPENDENCY_PING_SECONDS",
    "READY_REQUIRES_STORE",
    "HTTP_HEADER_TIMEOUT_SECONDS",
    "HTTP_BODY_TIMEOUT_SECONDS",
    "HTTP_KEEPALIVE_TIMEOUT_SECONDS",
    "HTTP_MAX_CONNECTIONS",
    "AUTH_HASH_CONCURRENCY",
    "AUTH_HASH_QUEUE_MAX",
    "AUTH_ACCOUNT_FAILURES_PER_15_MINUTES",
    "SENTRY_DSN",
    "SENTRY_ENVIRONMENT",
    "SENTRY_TRACES_SAMPLE_RATE",
    "OTEL_SERVICE_NAME",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
)

# Prefixes of this service's own names: any other name under them is a typo or a stale setting.
# OTEL_ is not one: other OpenTelemetry tools in the same environment read other OTEL_* names.
# This service reads only the OTEL_* names above (its exporter is its own, not the SDK's);
# `unread_shared_variables` lists the rest, which start-up reports as a warning.
_OWN_PREFIXES = (
    "APP_", "MONGO_", "JWT_", "AUTH_", "BOOTSTRAP_", "CORS_", "RATE_LIMIT_", "CATALOG_",
    "CONTENT_", "SHUTDOWN_", "HTTP_", "SENTRY_", "SEED_", "DEPENDENCY_", "ACCESS_TOKEN_",
    "REFRESH_TOKEN_", "TRUST_PROXY_", "MAX_BODY_",
)
_SHARED_PREFIXES = ("OTEL_",)
# SENTRY_ is ours although the Sentry SDK reads these itself: sentry_sdk.init() is given every
# option, so they would be ignored (RELEASE) or change telemetry behind `app.config`'s back
# (DEBUG, SPOTLIGHT sends events to a second place). Refused, with that reason.
_SENTRY_SDK_NAMES = frozenset({
    "SENTRY_RELEASE", "SENTRY_DEBUG", "SENTRY_SPOTLIGHT", "SENTRY_KEEP_ALIVE", "SENTRY_TRACE",
    "SENTRY_BAGGAGE",
})
# Other programs' names under our prefixes: the proxy for outgoing HTTP (urllib, the Sentry
# SDK) and the test suite's database.
_FOREIGN_NAMES = frozenset({"HTTP_PROXY", "MONGO_TEST_URI"})
# Kubernetes service links, injected for every Service in the namespace (a Service named mongo
# yields MONGO_PORT=tcp://...): <S>_SERVICE_HOST, <S>_SERVICE_PORT[_<name>], <S>_PORT,
# <S>_PORT_<n>_<PROTO>[_PROTO|_PORT|_ADDR]. Never typos, even under our prefixes.
_SERVICE_LINK = re.compile(
    r"[A-Z0-9_]+_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_\d+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?)?)"
)
# How alike a name outside our prefixes must be to one of ours to be its misspelling
# (RATE_LIMT_..., MONGODB_URI, LOGLEVEL: 0.9 and up); HOSTNAME, set in every container, is 0.67
# from HOST.
_TYPO_CUTOFF = 0.8


def unknown_variables(names: Iterable[str]) -> list[tuple[str, str]]:
    """(name, problem) for each name that looks like ours but is not read: a typo here silently
    runs on a default (MONGO_URL: the memory store; APP_ENVIRONMENT=production: development).
    Never the value."""
    problems = []
    for name in sorted(names):
        upper = name.upper()  # mongo_uri is as much a mistake as MONGO_URL
        if (name in KNOWN_VARIABLES or upper in _FOREIGN_NAMES or upper.startswith(_SHARED_PREFIXES)
                or _SERVICE_LINK.fullmatch(upper)):
            continue
        if not upper.startswith(_OWN_PREFIXES) and not difflib.get_close_matches(
                upper, KNOWN_VARIABLES, n=1, cutoff=_TYPO_CUTOFF):
            continue
        suggestion = _suggestion(upper)
        hint = f"; did you mean {suggestion}?" if suggestion else ""
        if upper in _SENTRY_SDK_NAMES:
            hint = "; the Sentry SDK reads it, but this service configures Sentry itself"
        problems.append((name, f"is not a variable this service reads{hint}"))
    return problems


def unread_shared_variables(names: Iterable[str]) -> list[str]:
    """OTEL_* names that are set but that this service does not read (e.g.
    OTEL_EXPORTER_OTLP_PROTOCOL=grpc, OTEL_BSP_SCHEDULE_DELAY): another tool may want them, so
    they are not an error, but an operator who set them for this service should hear it."""
    return sorted(name for name in names
                  if name.upper().startswith(_SHARED_PREFIXES) and name not in KNOWN_VARIABLES)


def _suggestion(name: str) -> str | None:
    """The known name `name` most likely meant, preferring the same first word (APP_ENVIRONMENT
    is APP_ENV, not SENTRY_ENVIRONMENT) and a name it extends or shortens (SENTRY_ENV)."""
    family = [known for known in KNOWN_VARIABLES if known.split("_")[0] == name.split("_")[0]]
    extended = [known for known in family if known.startswith(name) or name.startswith(known)]
    if extended:
        return difflib.get_close_matches(name, extended, n=1, cutoff=0)[0]
    matches = (difflib.get_close_matches(name, family, n=1)
               or difflib.get_close_matches(name, KNOWN_VARIABLES, n=1))
    return matches[0] if matches else None
