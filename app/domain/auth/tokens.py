"""JWTs: HS256 only, typed (`typ` keeps access and refresh tokens apart), signed with the current
secret and verified with the current or the previous one, so a secret rotates without forcing
every user to log in again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt

from app.domain.errors import TokenExpired, Unauthorized
from app.secret import Secret

ALGORITHM = "HS256"
ACCESS = "access"
REFRESH = "refresh"
_REQUIRED = ["exp", "iat", "sub", "jti", "iss", "aud", "typ"]
_LEEWAY_SECONDS = 5
# Ours are a few hundred bytes; anything far longer is refused before any decoding work.
MAX_TOKEN_LENGTH = 4096


@dataclass(frozen=True, slots=True)
class TokenKeys:
    """Signing key first; any further keys only verify."""

    signing: Secret
    verifying: tuple[Secret, ...]


@dataclass(frozen=True, slots=True)
class TokenConfig:
    access: TokenKeys
    refresh: TokenKeys
    issuer: str
    audience: str
    access_ttl: timedelta
    refresh_ttl: timedelta


class TokenCodec:
    def __init__(self, config: TokenConfig) -> None:
        self._config = config

    @property
    def access_ttl_seconds(self) -> int:
        return int(self._config.access_ttl.total_seconds())

    def encode(self, typ: str, *, subject: str, jti: str, now: datetime, **claims: Any) -> str:
        keys, ttl = self._for(typ)
        payload = {
            "iss": self._config.issuer,
            "aud": self._config.audience,
            "sub": subject,
            "jti": jti,
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            "typ": typ,
            **claims,
        }
        return jwt.encode(payload, keys.signing.reveal(), algorithm=ALGORITHM)

    def expiry(self, typ: str, now: datetime) -> datetime:
        return now + self._for(typ)[1]

    def decode(self, typ: str, token: str) -> dict[str, Any]:
        """The verified claims, or Unauthorized / TokenExpired, whatever the input: a token
        that cannot be decoded (bad encoding, base64, JSON, claim types, length) is invalid,
        never an exception of another kind. Never says which check failed beyond expiry: the
        client can act on expiry, an attacker learns nothing from the rest."""
        if len(token) > MAX_TOKEN_LENGTH or not token.isascii():
            raise Unauthorized("Invalid token")
        keys, _ = self._for(typ)
        for key in keys.verifying:
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    key.reveal(),
                    algorithms=[ALGORITHM],
                    audience=self._config.audience,
                    issuer=self._config.issuer,
                    leeway=_LEEWAY_SECONDS,
                    options={"require": _REQUIRED},
                )
            except jwt.InvalidSignatureError:
                continue  # perhaps signed with the other secret
            except jwt.ExpiredSignatureError:
                raise TokenExpired() from None
            except (jwt.InvalidTokenError, ValueError, TypeError, KeyError, OverflowError):
                # pyjwt raises more than its own errors on hostile input (a list where a
                # number belongs, an exp beyond any date): all of it is an invalid token.
                raise Unauthorized("Invalid token") from None
            if claims.get("typ") != typ or not isinstance(claims.get("sub"), str) or \
                    not isinstance(claims.get("jti"), str):
                raise Unauthorized("Invalid token")
            return claims
        raise Unauthorized("Invalid token")

    def _for(self, typ: str) -> tuple[TokenKeys, timedelta]:
        if typ == ACCESS:
            return self._config.access, self._config.access_ttl
        if typ == REFRESH:
            return self._config.refresh, self._config.refresh_ttl
        raise ValueError(f"unknown token type {typ!r}")
