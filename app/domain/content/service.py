"""Content use cases: browse active items, and curate items and tags. Every change publishes an
event so the catalog cache (and the content snapshot beside it) follows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from app.domain.content.models import ContentItem, ContentQuery, Tag
from app.domain.content.schemas import ContentChanges, ContentListQuery, NewContent, NewTag
from app.domain.content.snapshot import ContentSnapshot, Page, item_bytes
from app.domain.errors import NotFound, ValidationFailed
from app.domain.events import CONTENT_CHANGED, TAG_RENAMED, EventBus
from app.domain.ids import is_id, new_id, utcnow
from app.domain.store import Store

# PATCH fields: wire name -> ContentItem field (a null thumbnailUrl clears it).
_PATCHABLE = (("title", "title"), ("url", "url"), ("thumbnailUrl", "thumbnail_url"),
              ("isActive", "is_active"))


class ContentService:
    def __init__(
        self,
        store: Store,
        bus: EventBus,
        *,
        clock: Callable[[], datetime] = utcnow,
        snapshot: Callable[[], ContentSnapshot | None] = lambda: None,
    ) -> None:
        self._store = store
        self._bus = bus
        self._now = clock
        self._snapshot = snapshot

    # browsing: from the snapshot when there is one (no database, even during an outage),
    # else from the store; the same bytes either way.

    async def page(self, query: ContentListQuery) -> Page:
        snapshot = self._snapshot()
        if snapshot is None:
            items, next_cursor = await self.browse(query)
            return Page([item_bytes(item) for item in items], next_cursor)
        return snapshot.page(ContentQuery(
            tag=query.tag, text=query.q, after_id=query.cursor, limit=query.limit
        ))

    async def item(self, item_id: str) -> bytes:
        """An active item's JSON; NotFound if it is missing or inactive."""
        snapshot = self._snapshot()
        if snapshot is None:
            return item_bytes(await self.get_active(item_id))
        body = snapshot.item(item_id)
        if body is None:
            raise NotFound("No such content item")
        return body

    async def browse(self, query: ContentListQuery) -> tuple[list[ContentItem], str | None]:
        """A page of active items, newest first, and the cursor of the next page (None at the
        end). Paging by id is stable under inserts: no item is seen twice or skipped."""
        # The cursor is the last id of the previous page (ids are unique and time-ordered).
        items = await self._store.list_content(ContentQuery(
            tag=query.tag, text=query.q, after_id=query.cursor, limit=query.limit + 1
        ))
        if len(items) > query.limit:
            items = items[: query.limit]
            return items, items[-1].id
        return items, None

    async def is_empty(self) -> bool:
        return not await self._store.list_content(ContentQuery(limit=1))

    async def get_active(self, item_id: str) -> ContentItem:
        item = await self._store.get_content(item_id) if is_id(item_id) else None
        if item is None or not item.is_active:
            raise NotFound("No such content item")
        return item

    # curation

    async def create(self, body: NewContent) -> ContentItem:
        await self._require_tags(body.tags)
        now = self._now()
        item = ContentItem(
            id=new_id(),
            title=body.title,
            url=body.url,
            thumbnail_url=body.thumbnailUrl,
            tags=tuple(dict.fromkeys(body.tags)),
            is_active=body.isActive,
            created_at=now,
            updated_at=now,
        )
        await self._store.insert_content(item)
        await self._bus.publish(CONTENT_CHANGED)
        return item

    async def update(self, item_id: str, body: ContentChanges) -> ContentItem:
        given = body.model_fields_set  # a field sent is never None but a cleared thumbnailUrl
        # Only the fields sent are written, so concurrent edits of other fields are not lost.
        changes: dict[str, Any] = {}
        for wire, domain in _PATCHABLE:
            if wire in given:
                changes[domain] = getattr(body, wire)
        if body.tags is not None:
            await self._require_tags(body.tags)
            changes["tags"] = tuple(dict.fromkeys(body.tags))
        if not is_id(item_id):
            raise NotFound("No such content item")
        if not changes:
            item = await self._store.get_content(item_id)
        else:
            item = await self._store.update_content(item_id, changes, self._now())
        if item is None:
            raise NotFound("No such content item")
        if changes:
            await self._bus.publish(CONTENT_CHANGED)
        return item

    async def delete(self, item_id: str) -> None:
        if not is_id(item_id) or not await self._store.delete_content(item_id):
            raise NotFound("No such content item")
        await self._bus.publish(CONTENT_CHANGED)

    async def create_tag(self, body: NewTag) -> Tag:
        now = self._now()
        tag = Tag(id=new_id(), slug=body.slug, name=body.name, created_at=now, updated_at=now)
        await self._store.create_tag(tag)
        await self._bus.publish(CONTENT_CHANGED)
        return tag

    async def rename_tag(self, slug: str, new_slug: str, new_name: str | None) -> Tag:
        """Change a tag's slug (and name) and every item carrying it, atomically."""
        tag = await self._store.rename_tag(slug, new_slug, new_name, self._now())
        if tag is None:
            raise NotFound("No such tag")  # the slug is the client's own words: not echoed
        await self._bus.publish(TAG_RENAMED)
        return tag

    async def _require_tags(self, slugs: list[str]) -> None:
        missing = sorted(set(slugs) - await self._store.existing_tag_slugs(slugs))
        if missing:
            raise ValidationFailed(details=[
                {"field": "tags", "reason": f"unknown tag {slug!r}"} for slug in missing
            ])
