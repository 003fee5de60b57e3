"""Domain errors carry a stable code; the web layer maps codes to HTTP statuses in one place."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """Base of every expected failure. `code` is one of the fixed codes in DESIGN.md."""

    code = "internal"
    default_message = "Internal error"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        self.details = details or []
        self.headers = headers  # extra response headers (Retry-After, ...)


class ValidationFailed(AppError):
    code = "validation.failed"
    default_message = "The request is invalid"


class MalformedJson(AppError):
    code = "request.malformed_json"
    default_message = "The request body is not valid JSON"


class NotFound(AppError):
    code = "resource.not_found"
    default_message = "Not found"


class Conflict(AppError):
    code = "conflict"
    default_message = "The resource already exists"


class Unauthorized(AppError):
    code = "auth.unauthorized"
    default_message = "Authentication required"


class Forbidden(AppError):
    code = "auth.forbidden"
    default_message = "Not allowed"


class DependencyUnavailable(AppError):
    """A backing service (the database) did not answer in time."""

    code = "dependency.unavailable"
    default_message = "A dependency is unavailable; retry later"


class InvalidCredentials(AppError):
    code = "auth.invalid_credentials"
    default_message = "Email or password is incorrect"


class TokenExpired(AppError):
    code = "auth.token_expired"
    default_message = "The token has expired"


class RefreshReused(AppError):
    code = "auth.refresh.reused"
    default_message = "This refresh token was already used; every session of its family is revoked"


class RegistrationDisabled(AppError):
    code = "auth.registration_disabled"
    default_message = "Self-registration is disabled"


class RateLimited(AppError):
    code = "ratelimit.exceeded"
    default_message = "Too many requests; retry after the time in Retry-After"


class AuthBusy(AppError):
    """Password hashing is at its bound: answered at once instead of queueing without end."""

    code = "auth.busy"
    default_message = "Too many sign-ins at once; retry after the time in Retry-After"


class UnsupportedMediaType(AppError):
    code = "request.unsupported_media_type"
    default_message = "Send the body as application/json"


class TooLarge(AppError):
    code = "request.too_large"
    default_message = "The request body is too large"
