"""Request bodies of the auth routes (also the source of their OpenAPI schemas)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from app.domain.auth.passwords import MAX_LENGTH, MIN_LENGTH
from app.domain.validation import Body

# Deliberately loose (one @, a dot in the domain, no spaces): the pattern is published in the
# OpenAPI document, so clients validate the same way we do.
EMAIL_PATTERN = r"^\s*[^@\s]+@[^@\s]+\.[^@\s]+\s*$"


def normalize_email(value: str) -> str:
    return value.strip().lower()


Email = Annotated[
    str, Field(max_length=254, pattern=EMAIL_PATTERN), AfterValidator(normalize_email)
]
NewPassword = Annotated[str, Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)]
# Login accepts whatever was valid when the password was set; only the length is bounded.
AnyPassword = Annotated[str, Field(min_length=1, max_length=MAX_LENGTH)]
JwtString = Annotated[str, Field(min_length=1, max_length=4096)]


class RegisterBody(Body):
    email: Email
    password: NewPassword


class LoginBody(Body):
    email: Email
    password: AnyPassword


class RefreshBody(Body):
    refreshToken: JwtString  # camelCase: the wire format


class TokenPairOut(BaseModel):
    accessToken: str
    refreshToken: str
    tokenType: str
    expiresIn: int


class MeOut(BaseModel):
    id: str
    email: str
    roles: list[str]
