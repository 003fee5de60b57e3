"""Request bodies and query parameters of the content routes, and the response shapes the
OpenAPI document publishes. Validation lives here, once."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from app.domain.validation import VISIBLE, Body, Omittable

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
# http(s) only, a host, an optional port, then visible characters only: no javascript:, data:,
# or scheme-relative URLs. A pattern rather than code, so the OpenAPI document states it too.
HTTP_URL_PATTERN = rf"^https?://[A-Za-z0-9.-]+(:[0-9]{{1,5}})?([/?#]{VISIBLE}*)?$"
MAX_LIMIT = 100
CURSOR_PATTERN = r"^[0-9A-HJKMNP-TV-Z]{26}$"


Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
# Limits apply to the text as sent, as the schema states them; it is stored trimmed, and the
# visible character it must contain keeps the trimmed text from being empty.
Title = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=VISIBLE),
                  AfterValidator(str.strip)]
TagName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=VISIBLE),
                    AfterValidator(str.strip)]
HttpUrl = Annotated[str, StringConstraints(max_length=2048, pattern=HTTP_URL_PATTERN)]
# That a slug names an existing tag is beyond JSON Schema, so the document says it in words.
TagList = Annotated[list[Slug], Field(
    max_length=20, description="Slugs of existing tags; an unknown one is a 400 that names it.")]


class NewContent(Body):
    title: Title
    url: HttpUrl
    tags: TagList
    thumbnailUrl: HttpUrl | None = None  # camelCase: the wire format
    isActive: bool = True


class ContentChanges(Body):
    """PATCH: every field optional; a field that is present replaces the stored value. Only
    thumbnailUrl can be cleared (null); the others have no "none" to go back to."""

    title: Omittable[Title] = None
    url: Omittable[HttpUrl] = None
    tags: Omittable[TagList] = None
    thumbnailUrl: HttpUrl | None = None
    isActive: Omittable[bool] = None


class NewTag(Body):
    slug: Slug
    name: TagName


class TagRename(Body):
    slug: Slug
    name: Omittable[TagName] = None  # left out: the name stays


def _decimal_digits(value: object) -> object:
    """An integer in a query string is plain digits, as the document says: not `5.0`, `+5`,
    `1_0` or four thousand leading zeros, which a lax integer parser would take."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit() and len(value) <= 6):
        raise ValueError("must be a whole number written in digits")
    return value


class ContentListQuery(BaseModel):
    """Query string of GET /content. Values arrive as strings (hence a lax integer), and unknown
    parameters are ignored so a cache-busting `?_=123` does not break a client."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    tag: Slug | None = None
    q: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    # Opaque to clients; every value of this form is a valid position, so a schema-valid cursor
    # is never refused.
    cursor: Annotated[str, StringConstraints(pattern=CURSOR_PATTERN)] | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT), BeforeValidator(_decimal_digits)] = 20


# Response shapes (for the OpenAPI document; handlers render the same fields).


class ContentItemOut(BaseModel):
    id: str
    title: str
    url: str
    thumbnailUrl: str | None
    tags: list[str]
    isActive: bool
    createdAt: str
    updatedAt: str


class TagOut(BaseModel):
    slug: str
    name: str


class CatalogTag(TagOut):
    count: int


class CatalogOut(BaseModel):
    version: str
    tags: list[CatalogTag]


class MetaOut(BaseModel):
    service: str
    version: str
    apiVersion: str
    catalogVersion: str | None
    features: dict[str, bool]
