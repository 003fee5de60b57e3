"""Request bodies and query parameters of the content routes, and the response shapes the
OpenAPI document publishes. Validation lives here, once."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.domain.validation import Body

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
# http(s) only, a host, an optional port, then anything but whitespace: no javascript:, data:,
# or scheme-relative URLs. A pattern rather than code, so the OpenAPI document states it too.
HTTP_URL_PATTERN = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?([/?#]\S*)?$"
MAX_LIMIT = 100
CURSOR_PATTERN = r"^[0-9A-HJKMNP-TV-Z]{26}$"


Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
TagName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
HttpUrl = Annotated[str, StringConstraints(max_length=2048, pattern=HTTP_URL_PATTERN)]
TagList = Annotated[list[Slug], Field(max_length=20)]


class NewContent(Body):
    title: Title
    url: HttpUrl
    tags: TagList
    thumbnailUrl: HttpUrl | None = None  # camelCase: the wire format
    isActive: bool = True


class ContentChanges(Body):
    """PATCH: every field optional; a field that is present replaces the stored value."""

    title: Title | None = None
    url: HttpUrl | None = None
    tags: TagList | None = None
    thumbnailUrl: HttpUrl | None = None
    isActive: bool | None = None


class NewTag(Body):
    slug: Slug
    name: TagName


class TagRename(Body):
    slug: Slug
    name: TagName | None = None


class ContentListQuery(BaseModel):
    """Query string of GET /content. Values arrive as strings (hence a lax integer), and unknown
    parameters are ignored so a cache-busting `?_=123` does not break a client."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    tag: Slug | None = None
    q: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    # Opaque to clients; every value of this form is a valid position, so a schema-valid cursor
    # is never refused.
    cursor: Annotated[str, StringConstraints(pattern=CURSOR_PATTERN)] | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = 20


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
