"""Request bodies of the auth routes (also the source of their OpenAPI schemas)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from app.domain.auth.passwords import MAX_LENGTH, MIN_LENGTH
from app.domain.validation import Body

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def normalize_email(value: str) -> str:
    email = value.strip().lower()
    if not _EMAIL.fullmatch(email):
        raise ValueError("must be an email address")
    return email


Email = Annotated[str, Field(max_length=254), AfterValidator(normalize_email)]
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
