"""The example domain's wiring, shared by the web app and the operator CLI: what it needs of the
configuration, the store adapter the settings ask for, and the auth service with its token keys,
password hashing and failed-login budget (cosmicpython's `bootstrap.py`: adapters and use cases
assembled in one place). Nothing here imports the web layer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from app.config import AccountRules, Needs, Settings
from app.domain.auth.emails import canonical_email
from app.domain.auth.passwords import (
    ACCOUNT_FAILURE_PERIOD_SECONDS,
    FailedLoginBudget,
    Passwords,
)
from app.domain.auth.passwords import MAX_LENGTH as PASSWORD_MAX
from app.domain.auth.passwords import MIN_LENGTH as PASSWORD_MIN
from app.domain.auth.service import AuthEvents, AuthService
from app.domain.auth.tokens import TokenCodec, TokenConfig, TokenKeys
from app.domain.ratelimit import RateLimiter
from app.domain.store import Store
from app.store import warn_memory_store
from app.store.memory import MemoryStore

if TYPE_CHECKING:
    from pymongo.monitoring import CommandListener


def open_store(settings: Settings, listeners: Sequence[CommandListener] = ()) -> Store:
    """The store adapter the settings ask for; `listeners` observe every MongoDB command."""
    if settings.mongo_uri is None:
        warn_memory_store()
        return MemoryStore()
    from app.store.mongo import MongoStore  # pymongo is only imported when it is used

    return MongoStore(settings.mongo_uri.reveal(), settings.mongo_db,
                      timeout_ms=settings.mongo_timeout_ms, listeners=listeners)


def token_config(settings: Settings) -> TokenConfig:
    return TokenConfig(
        access=TokenKeys(settings.jwt_access.current, settings.jwt_access.verification_keys()),
        refresh=TokenKeys(settings.jwt_refresh.current, settings.jwt_refresh.verification_keys()),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        access_ttl=timedelta(seconds=settings.access_token_ttl_seconds),
        refresh_ttl=timedelta(seconds=settings.refresh_token_ttl_seconds),
    )


def build_auth(settings: Settings, store: Store, events: AuthEvents) -> AuthService:
    passwords = Passwords(
        cheap=settings.app_env == "test",
        concurrency=settings.auth_hash_concurrency,
        queue_max=settings.auth_hash_queue_max,
    )
    # Per process, like the in-process limiter: N instances allow N times the budget.
    failed_logins = FailedLoginBudget(
        settings.auth_account_failures_per_15_minutes, ACCOUNT_FAILURE_PERIOD_SECONDS,
        RateLimiter(max_keys=settings.rate_limit_max_keys),
    )
    return AuthService(
        store,
        TokenCodec(token_config(settings)),
        passwords,
        events,
        allow_self_registration=settings.auth_allow_self_registration,
        failed_logins=failed_logins,
    )


# The example needs JWT secrets (production refuses to start without them) and checks the
# bootstrap admin's email and password as /auth/register checks any other.
settings_needs = Needs(
    jwt_secrets=True,
    accounts=AccountRules(canonical_email=canonical_email,
                          password_lengths=(PASSWORD_MIN, PASSWORD_MAX)),
)
