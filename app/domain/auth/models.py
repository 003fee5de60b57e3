"""Users and refresh-token records, as the stores hold them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

ROLES = ("user", "curator", "admin")
CURATORS = ("curator", "admin")
# `RefreshToken.revoked_by` of the tokens an operator's command revoked (users disable,
# reset-password, set-roles, tokens revoke): presenting one is no sign of theft.
OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    password_hash: str
    roles: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    # Set by an operator (`users disable`): no login, no refresh, no /me. Stored documents
    # from before the flag existed have no such field and read as enabled.
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """One issued refresh token. Its successor names it as `parent_jti` (unique: a token can be
    rotated once), and rotation marks it used with `replaced_by`; presenting it again is reuse.
    `revoked_by` says who revoked it when that was an operator (OPERATOR); None for a logout, a
    reuse, and tokens revoked before the reason was kept."""

    jti: str
    user_id: str
    family_id: str
    created_at: datetime
    expires_at: datetime
    parent_jti: str | None = None
    used_at: datetime | None = None
    revoked_at: datetime | None = None
    replaced_by: str | None = None
    revoked_by: str | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a verified access token speaks for."""

    user_id: str
    roles: tuple[str, ...]

    def has_any(self, roles: tuple[str, ...]) -> bool:
        return any(role in self.roles for role in roles)
