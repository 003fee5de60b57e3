"""The one place security-relevant events are recorded: a log line (refresh-token reuse at
error), a metric, and for the serious ones a Sentry message. Fields are ids only: never an
email, password, hash or token."""

from __future__ import annotations

import logging
import time
from typing import Any

from app.domain.ratelimit import Limit, RateLimiter
from app.telemetry import sentry
from app.telemetry.logging import fields
from app.telemetry.metrics import Metrics

log = logging.getLogger("app.security")

AUTH_EVENTS = (
    "login_success",
    "login_failure",
    "refresh_rotated",
    "refresh_reused",
    "registered",
    "logout",
)
# ratelimit_rejections_total's scopes, exported at 0 from the start so rate() sees the first
# refusal: per address, per user, and per account (failed logins per email, see the auth domain).
RATE_LIMIT_SCOPES = ("ip", "user", "account")
HERD_REPORT_SECONDS = 60.0
_PER_FAMILY = Limit(1, 3600.0)
_ALL_REUSE = Limit(30, 60.0)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class SecurityEvents:
    def __init__(self, metrics: Metrics) -> None:
        self._auth = {event: metrics.auth_events.labels(event) for event in AUTH_EVENTS}
        self._rejections = metrics.ratelimit_rejections
        for scope in RATE_LIMIT_SCOPES:
            self._rejections.labels(scope)
        self._herd_reported_at = -HERD_REPORT_SECONDS
        # Replaying one old refresh token is reuse every time: each is logged and counted, but
        # Sentry hears of a family once an hour, and of all reuse at most 30 times a minute,
        # so a replay loop cannot spend the project's event quota.
        self._sentry_budget = RateLimiter(max_keys=10_000)

    def auth_event(self, event: str, **values: Any) -> None:
        if event == "login_throttled":  # a rate-limit refusal, not one of the auth events
            self.account_throttled(values.get("user_id"), values.get("first_in_window", False))
            return
        if event == "refresh_revoked":
            # A device refreshing a session an operator ended: expected (about one per device
            # of the account), so no counter, no Sentry, and never the reuse line.
            log.info("auth.refresh.revoked", extra=fields(event=event, **{
                _camel(key): value for key, value in values.items() if value is not None}))
            return
        counter = self._auth.get(event)
        if counter is None:
            raise ValueError(f"unknown auth event {event!r}")
        counter.inc()
        extra = {_camel(key): value for key, value in values.items() if value is not None}
        if event == "refresh_reused":
            log.error("auth.refresh.reused", extra=fields(event=event, **extra))
            if self._tell_sentry(f"family:{values.get('family_id')}"):
                sentry.capture_message("auth.refresh.reused", "error", event=event, **{
                    key: value for key, value in values.items() if value is not None})
        else:
            log.info(f"auth.{event}", extra=fields(event=event, **extra))

    def _tell_sentry(self, key: str) -> bool:
        if not self._sentry_budget.peek(key, _PER_FAMILY).allowed:
            return False
        if not self._sentry_budget.hit("all", _ALL_REUSE).allowed:
            return False
        self._sentry_budget.hit(key, _PER_FAMILY)
        return True

    def account_throttled(self, user_id: str | None, first_in_window: bool) -> None:
        """A login refused because the account's failure budget is spent: counted every time,
        logged at warn once per window (with the user id when the account exists)."""
        self._rejections.labels("account").inc()
        if first_in_window:
            extra = {"scope": "account"} if user_id is None else {
                "scope": "account", "userId": user_id}
            log.warning("ratelimit.exceeded", extra=fields(**extra))

    def rate_limited(self, scope: str, client: str | None, user_id: str | None) -> None:
        """Every refusal is counted; `client` is given for the first refusal of a key in its
        window only, and only then is a line logged, so a flood does not flood the logs."""
        self._rejections.labels(scope).inc()
        if client is None:
            return
        extra = {"scope": scope, "client": client}
        if user_id is not None:
            extra["userId"] = user_id
        log.warning("ratelimit.exceeded", extra=fields(**extra))
        now = time.monotonic()
        if now - self._herd_reported_at >= HERD_REPORT_SECONDS:  # one Sentry warning a window
            self._herd_reported_at = now
            sentry.capture_message("ratelimit.exceeded", "warning", scope=scope)
