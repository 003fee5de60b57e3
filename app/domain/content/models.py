"""Tags and content items, as the stores hold them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Tag:
    id: str
    slug: str
    name: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ContentItem:
    id: str
    title: str
    url: str
    thumbnail_url: str | None
    tags: tuple[str, ...]
    is_active: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ContentQuery:
    """Active items, newest first, after the cursor's id; `text` matches the title literally."""

    tag: str | None = None
    text: str | None = None
    after_id: str | None = None
    limit: int = 20


def iso(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def item_json(item: ContentItem) -> dict[str, Any]:
    """The wire form of a content item (camelCase, fixed by the API contract)."""
    return {
        "id": item.id,
        "title": item.title,
        "url": item.url,
        "thumbnailUrl": item.thumbnail_url,
        "tags": list(item.tags),
        "isActive": item.is_active,
        "createdAt": iso(item.created_at),
        "updatedAt": iso(item.updated_at),
    }


def tag_json(tag: Tag) -> dict[str, Any]:
    return {"slug": tag.slug, "name": tag.name}
