"""Auth use cases: register, login, refresh with rotation and reuse detection, logout, bootstrap.

Refresh-token rotation, step by step: verify the JWT; extend the token's family, which fails
when the family was revoked (logout, an earlier reuse); insert the successor naming the presented
token as its unique parent, so of two concurrent refreshes exactly one insert succeeds; mark the
presented token used. Presenting a token that was rotated already, or whose family is revoked, is
reuse: the whole family is revoked and the security event recorded.

Operators disable and enable accounts, reset passwords and change roles (`python -m app users
...`); all but enable revoke every refresh token of the account, as `tokens revoke` does. A
disabled account cannot log in (answered as a wrong password), refresh, or read /me; access
tokens already issued stay valid until they expire on the routes that do not read the account.
The tokens an operator revoked say so (`revoked_by`): presenting one that was never rotated is
its device's next refresh, answered 401 auth.unauthorized and logged at info, not reuse (which
would page for every device of every account an operator touched). A token rotated already is
reuse whoever revoked it later.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, NoReturn, Protocol

from app.domain.auth.emails import InvalidEmail, canonical_email
from app.domain.auth.models import OPERATOR, ROLES, Principal, RefreshToken, User
from app.domain.auth.passwords import FailedLoginBudget, Passwords
from app.domain.auth.tokens import ACCESS, REFRESH, TokenCodec
from app.domain.errors import (
    Conflict,
    DependencyUnavailable,
    InvalidCredentials,
    NotFound,
    RateLimited,
    RefreshReused,
    RegistrationDisabled,
    Unauthorized,
    ValidationFailed,
)
from app.domain.ids import new_id, utcnow
from app.domain.ratelimit import header_seconds
from app.domain.store import Store


class AuthEvents(Protocol):
    """Where security-relevant events go (logs, metrics, Sentry): one function, see telemetry."""

    def __call__(self, event: str, **fields: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class AccountChange:
    """What an operator command did to an account: before, after, refresh tokens revoked."""

    before: User
    after: User
    revoked_tokens: int


class AuthService:
    def __init__(
        self,
        store: Store,
        codec: TokenCodec,
        passwords: Passwords,
        events: AuthEvents,
        *,
        allow_self_registration: bool,
        failed_logins: FailedLoginBudget,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._codec = codec
        self._passwords = passwords
        self._failed_logins = failed_logins
        self._events = events
        self._allow_self_registration = allow_self_registration
        self._now = clock

    # accounts

    async def create_user(self, email: str, password: str, roles: tuple[str, ...]) -> User:
        roles = _roles(roles)
        email = _canonical(email)
        now = self._now()
        user = User(
            id=new_id(),
            email=email,
            password_hash=await self._passwords.hash(password),
            roles=roles,
            created_at=now,
            updated_at=now,
        )
        await self._store.create_user(user)
        return user

    async def register(self, email: str, password: str) -> TokenPair:
        if not self._allow_self_registration:
            raise RegistrationDisabled()
        user = await self.create_user(email, password, ("user",))
        self._events("registered", user_id=user.id)
        return await self._start_session(user, new_id())

    async def ensure_admin(self, email: str, password: str) -> bool:
        """Create the bootstrap admin unless the email exists; never touches an existing user."""
        if await self._store.get_user_by_email(_canonical(email)) is not None:
            return False
        await self.create_user(email, password, ("admin",))
        return True

    async def me(self, user_id: str) -> User:
        """The live account of a verified access token (/me, privileged routes)."""
        user = await self._store.get_user(user_id)
        if user is None:
            raise NotFound("The user no longer exists")
        if user.disabled:  # its access tokens are still valid: the account says no
            raise Unauthorized("The account is disabled")
        return user

    async def find_user(self, id_or_email: str) -> User:
        user = (
            await self._store.get_user_by_email(_canonical(id_or_email))
            if "@" in id_or_email
            else await self._store.get_user(id_or_email)
        )
        if user is None:
            raise NotFound(f"No user {id_or_email}")
        return user

    # operator commands: each changes the account first, then revokes its refresh tokens (a
    # session a login or a refresh opens meanwhile is caught by it: see `_session_after_login`
    # and `refresh`)

    async def account(self, email: str) -> User:
        user = await self._store.get_user_by_email(_canonical(email))
        if user is None:
            raise NotFound(f"No user with the email {email}")
        return user

    async def disable_user(self, email: str) -> AccountChange:
        user = await self.account(email)
        changed = await self._store.set_user_disabled(user.id, True, self._now())
        return await self._changed(user, changed, revoke=True)

    async def enable_user(self, email: str) -> AccountChange:
        user = await self.account(email)
        changed = await self._store.set_user_disabled(user.id, False, self._now())
        return await self._changed(user, changed, revoke=False)

    async def reset_password(self, email: str, password: str) -> AccountChange:
        user = await self.account(email)
        password_hash = await self._passwords.hash(password)
        now = self._now()
        done = await self._store.set_password_hash(user.id, password_hash, now)
        changed = replace(user, password_hash=password_hash, updated_at=now) if done else None
        return await self._changed(user, changed, revoke=True)

    async def set_roles(self, email: str, roles: tuple[str, ...]) -> AccountChange:
        roles = _roles(roles)
        user = await self.account(email)
        changed = await self._store.set_user_roles(user.id, roles, self._now())
        return await self._changed(user, changed, revoke=True)

    # sessions

    async def login(self, email: str, password: str) -> TokenPair:
        email = _canonical(email)
        # The account's failure budget is checked before any hashing, known email or not (a
        # refusal for known ones only would tell which emails have an account). Each attempt
        # reserves one failure up front, given back unless the password was wrong: guesses
        # sent at once cannot all pass the check while none has failed yet.
        budget = self._failed_logins.reserve(email)
        if not budget.allowed:
            await self._throttled(email, budget.first_rejection)
            raise RateLimited(headers={
                "Retry-After": str(max(1, header_seconds(budget.retry_after)))})
        user: User | None = None
        pair: TokenPair | None = None
        wrong = False
        try:
            user = await self._store.get_user_by_email(email)
            # An unknown email is verified against a dummy hash, a disabled account against its
            # own: the same answer as a wrong password, at the same cost, spending the budget.
            ok = await self._passwords.verify(user.password_hash if user else None, password)
            if user is not None and ok and not user.disabled:
                pair = await self._session_after_login(user, password)
            wrong = pair is None
        finally:
            if not wrong:  # a success, or no verdict (busy, database down, client gone)
                self._failed_logins.give_back(email)
        if user is None or pair is None:
            self._events("login_failure", user_id=user.id if user else None,
                         disabled=True if user is not None and user.disabled else None)
            raise InvalidCredentials()
        self._events("login_success", user_id=user.id)
        return pair

    async def refresh(self, refresh_token: str) -> TokenPair:
        claims = self._codec.decode(REFRESH, refresh_token)
        # The claims are ours (signature verified), so they name the user and family.
        jti, user_id, family_id = claims["jti"], claims["sub"], claims.get("fam")
        if not isinstance(family_id, str):
            raise Unauthorized("Invalid token")
        now = self._now()
        # The family check comes first: a revocation after it cannot undo a rotation that won,
        # so of two concurrent refreshes one succeeds and the other is the reuse.
        if not await self._store.extend_refresh_family(family_id, self._codec.expiry(REFRESH, now)):
            token = await self._store.get_refresh_token(jti)
            if token is None:
                raise Unauthorized("Unknown refresh token")
            if token.revoked_by == OPERATOR and token.used_at is None:
                self._ended_by_operator(user_id, family_id)
            await self._reuse_detected(user_id, family_id, now)
        user = await self._store.get_user(user_id)
        if user is None:
            raise Unauthorized("The user no longer exists")
        if user.disabled:  # disabling revoked its families; this one was set apart by hand
            await self._store.revoke_refresh_family(family_id, now, by=OPERATOR)
            self._ended_by_operator(user_id, family_id)
        successor = new_id()
        try:
            pair = await self._issue(user, family_id, now, jti=successor, parent=jti)
        except Conflict:
            await self._reuse_detected(user_id, family_id, now)
        # An operator's command that revoked the account's tokens before the successor existed
        # left it alive (and a reuse the day it is presented): read the account again, as a
        # login does, and end the session if the command ran.
        if await self._changed_meanwhile(user, family_id, now):
            await self._store.revoke_refresh_family(family_id, self._now(), by=OPERATOR)
            # Not marked used: its device never receives the successor, so presenting the
            # token again is the operator's ended session, not a reuse.
            self._ended_by_operator(user_id, family_id)
        await self._store.mark_refresh_token_used(jti, now, successor)
        self._events("refresh_rotated", user_id=user.id, family_id=family_id)
        return pair

    async def logout(self, refresh_token: str) -> None:
        """Revoke the token's whole family (every device session it rotated into)."""
        claims = self._codec.decode(REFRESH, refresh_token)
        token = await self._store.get_refresh_token(claims["jti"])
        if token is None:
            raise Unauthorized("Unknown refresh token")
        await self._store.revoke_refresh_family(token.family_id, self._now())
        self._events("logout", user_id=token.user_id, family_id=token.family_id)

    async def revoke_all(self, user_id: str) -> int:
        return await self._store.revoke_user_refresh_tokens(user_id, self._now(), by=OPERATOR)

    async def list_tokens(self, user_id: str) -> list[RefreshToken]:
        return await self._store.list_user_refresh_tokens(user_id)

    def authenticate(self, access_token: str) -> Principal:
        claims = self._codec.decode(ACCESS, access_token)
        roles = claims.get("roles")
        if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
            raise Unauthorized("Invalid token")
        return Principal(user_id=claims["sub"], roles=tuple(roles))

    # internals

    async def _throttled(self, email: str, first_in_window: bool) -> None:
        """Counted every time; named (by user id, never the email) once per window."""
        user = None
        if first_in_window:
            # The refusal must not depend on the database: without it, the line has no id.
            with contextlib.suppress(DependencyUnavailable):
                user = await self._store.get_user_by_email(email)
        self._events("login_throttled", user_id=user.id if user else None,
                     first_in_window=first_in_window)

    async def _session_after_login(self, user: User, password: str) -> TokenPair | None:
        """A session for `user`, whose password was just verified; None when an operator
        disabled the account or reset its password meanwhile. Their command revokes every
        session it sees, and this one may be created just after it looked: so the account is
        read again once the session exists, and the session revoked if it changed. A change
        of roles leaves the password right: the session is opened again with the new roles."""
        expected = user.password_hash
        if self._passwords.needs_rehash(expected):
            rehashed = await self._passwords.hash(password)
            # Only over the hash verified: never undo a reset made while this one was checked.
            if await self._store.set_password_hash(user.id, rehashed, self._now(),
                                                   replaces=expected):
                expected = rehashed
            else:
                # Changed since it was read: by a concurrent login's rehash (a hash of this same
                # password) or by an operator's reset. Only a hash this password fails is a reset.
                current = await self._store.get_user(user.id)
                if current is not None and await self._passwords.verify(current.password_hash,
                                                                        password):
                    expected = current.password_hash
        for _ in range(_SESSION_ATTEMPTS):
            family_id = new_id()
            pair = await self._start_session(user, family_id)
            current = await self._store.get_user(user.id)
            if current is None or current.disabled or current.password_hash != expected:
                await self._store.revoke_refresh_family(family_id, self._now())
                return None
            if current.roles == user.roles:
                return pair
            # set-roles ran meanwhile: this session's access token carries the old roles.
            await self._store.revoke_refresh_family(family_id, self._now())
            user = current
        return None  # the roles kept changing: refused as any login an operator raced

    async def _changed_meanwhile(self, user: User, family_id: str, now: datetime) -> bool:
        """Whether an operator's command changed the account since `user` was read (for a
        refresh that just inserted its successor)."""
        current = await self._store.get_user(user.id)
        if current is None or current.disabled or current.roles != user.roles:
            return True
        if current.password_hash == user.password_hash:
            return False
        # A login's rehash changes the hash too, and revokes nothing; a reset revokes every
        # family: already (the successor was left out) or after this read (it is included).
        return not await self._store.extend_refresh_family(family_id,
                                                           self._codec.expiry(REFRESH, now))

    async def _changed(self, before: User, after: User | None, *, revoke: bool) -> AccountChange:
        if after is None:  # gone between the read and the write
            raise NotFound(f"No user {before.id}")
        revoked = (await self._store.revoke_user_refresh_tokens(after.id, self._now(),
                                                                by=OPERATOR)
                   if revoke else 0)
        return AccountChange(before, after, revoked)

    async def _start_session(self, user: User, family_id: str) -> TokenPair:
        now = self._now()
        await self._store.create_refresh_family(
            family_id, user.id, now, self._codec.expiry(REFRESH, now)
        )
        return await self._issue(user, family_id, now, jti=new_id())

    async def _issue(
        self, user: User, family_id: str, now: datetime, *, jti: str, parent: str | None = None
    ) -> TokenPair:
        record = RefreshToken(
            jti=jti,
            user_id=user.id,
            family_id=family_id,
            created_at=now,
            expires_at=self._codec.expiry(REFRESH, now),
            parent_jti=parent,
        )
        await self._store.insert_refresh_token(record)
        return TokenPair(
            access_token=self._codec.encode(
                ACCESS, subject=user.id, jti=new_id(), now=now, roles=list(user.roles)
            ),
            refresh_token=self._codec.encode(
                REFRESH, subject=user.id, jti=jti, now=now, fam=family_id
            ),
            expires_in=self._codec.access_ttl_seconds,
        )

    def _ended_by_operator(self, user_id: str, family_id: str) -> NoReturn:
        self._events("refresh_revoked", user_id=user_id, family_id=family_id,
                     revoked_by=OPERATOR)
        raise Unauthorized("The session was ended by an operator; sign in again")

    async def _reuse_detected(self, user_id: str, family_id: str, now: datetime) -> NoReturn:
        revoked = await self._store.revoke_refresh_family(family_id, now)
        self._events("refresh_reused", user_id=user_id, family_id=family_id, revoked=revoked)
        raise RefreshReused()


# A login that keeps meeting a change of roles gives up after this many sessions.
_SESSION_ATTEMPTS = 3


def _roles(roles: tuple[str, ...]) -> tuple[str, ...]:
    """At least one known role; each once, in the order given."""
    if not roles or any(role not in ROLES for role in roles):
        raise ValidationFailed(details=[{"field": "roles", "reason": f"one of {ROLES}"}])
    return tuple(dict.fromkeys(roles))


def _canonical(email: str) -> str:
    try:
        return canonical_email(email)
    except InvalidEmail as exc:
        raise ValidationFailed(details=[{"field": "email", "reason": str(exc)}]) from None
