"""Request bodies of the auth routes (also the source of their OpenAPI schemas)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from app.domain.auth.emails import EMAIL_PATTERN, MAX_LENGTH, canonical_email
from app.domain.auth.passwords import MAX_LENGTH as PASSWORD_MAX_LENGTH
from app.domain.auth.passwords import MIN_LENGTH as PASSWORD_MIN_LENGTH
from app.domain.validation import Body

# The server's rule is `canonical_email` (its reasons are clearer than "does not match"); the
# pattern says the same to clients in the OpenAPI document, and a test holds the two together.
Email = Annotated[
    str,
    Field(max_length=MAX_LENGTH, json_schema_extra={"pattern": EMAIL_PATTERN}),
    AfterValidator(canonical_email),
]
NewPassword = Annotated[
    str, Field(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH)
]
# Login accepts whatever was valid when the password was set; only the length is bounded.
AnyPassword = Annotated[str, Field(min_length=1, max_length=PASSWORD_MAX_LENGTH)]
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
