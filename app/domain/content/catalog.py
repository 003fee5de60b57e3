"""The catalog cache: active tags with counts of active items, built from the store, kept in
memory and served as ready-made bytes with a strong ETag; and beside it the content snapshot
(every active item, for `GET /content`), built by the same rebuild from the same reads.

It is rebuilt when content or tags change (the event bus), and checked periodically so that
instances that did not see a change converge: the check reads the store's catalog stamp, and
rebuilds only when it moved. The body depends only on the data, never on the instance, so
every instance computes the same version and ETag for the same catalog.

The content snapshot is bounded by `max_items` (0: none is kept): above it `content` is None
and the content routes read the store, as they do before the first rebuild succeeds.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass

import orjson

from app.domain.content.models import ContentQuery
from app.domain.content.snapshot import ContentSnapshot
from app.domain.store import Store

log = logging.getLogger("app.content")


@dataclass(frozen=True, slots=True)
class CatalogSnapshot:
    version: str
    body: bytes  # the `data` document, serialized once
    etag: str  # strong: quoted hash of `body`
    tag_count: int
    stamp: int  # the store's catalog stamp it was built from


class CatalogCache:
    def __init__(self, store: Store, *, max_items: int = 0) -> None:
        self._store = store
        self._max_items = max_items
        self._snapshot: CatalogSnapshot | None = None
        self._content: ContentSnapshot | None = None
        self._over_limit: bool | None = None  # None until the first count
        self._lock = asyncio.Lock()
        # Rebuild tickets: a caller whose request came before a rebuild began is served by it.
        self._requested = 0
        self._built = 0
        # Plain counters: telemetry reads them at scrape time, nothing is paid per request.
        self.hits = 0
        self.misses = 0

    @property
    def primed(self) -> bool:
        return self._snapshot is not None

    @property
    def snapshot(self) -> CatalogSnapshot | None:
        return self._snapshot

    @property
    def content(self) -> ContentSnapshot | None:
        """The active items as of the last rebuild; None before one, above the limit, or off."""
        return self._content

    async def get(self) -> CatalogSnapshot:
        """The cached catalog; on a cold cache, build it now (DependencyUnavailable if the
        store cannot answer)."""
        snapshot = self._snapshot
        if snapshot is not None:
            self.hits += 1
            return snapshot
        self.misses += 1
        return await self.rebuild()

    async def refresh(self) -> CatalogSnapshot:
        """Rebuild only if the store's catalog stamp moved: one read when nothing changed."""
        snapshot = self._snapshot
        if snapshot is not None and await self._store.catalog_stamp() == snapshot.stamp:
            return snapshot
        return await self.rebuild()

    async def rebuild(self) -> CatalogSnapshot:
        """Read the store and swap in a new catalog and content snapshot. Coalesced: callers
        that arrive while a rebuild runs share the one rebuild after it (it begins after
        their writes), so a burst of N edits costs two full reads, not N."""
        self._requested += 1
        ticket = self._requested
        async with self._lock:
            if self._built >= ticket and self._snapshot is not None:
                return self._snapshot
            ticket = self._requested  # every request so far is served by this read
            stamp = await self._store.catalog_stamp()  # read first: a later write moves it again
            tags = await self._store.list_tags()
            content = await self._load_content()
            counts = (content.counts if content is not None
                      else await self._store.active_counts_by_tag())
            entries = [
                {"slug": tag.slug, "name": tag.name, "count": counts[tag.slug]}
                for tag in sorted(tags, key=lambda tag: tag.slug)
                if counts.get(tag.slug, 0) > 0
            ]
            version = hashlib.sha256(orjson.dumps(entries)).hexdigest()[:16]
            body = orjson.dumps({"version": version, "tags": entries})
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            snapshot = CatalogSnapshot(version, body, etag, len(entries), stamp)
            self._snapshot, self._content = snapshot, content
            self._built = ticket
            return snapshot

    async def _load_content(self) -> ContentSnapshot | None:
        if self._max_items <= 0:
            return None
        # One more than the limit: enough to know it is exceeded, without counting them all.
        items = await self._store.list_content(ContentQuery(limit=self._max_items + 1))
        over = len(items) > self._max_items
        if over != self._over_limit:  # said at the first count and at each crossing, not more
            if over:
                log.warning("content.snapshot_over_limit: more active items than "
                            "CONTENT_SNAPSHOT_MAX_ITEMS; /content reads the database",
                            extra={"fields": {"activeItemsAtLeast": len(items),
                                              "limit": self._max_items}})
            elif self._over_limit is not None:
                log.info("content.snapshot_within_limit: /content is served from memory again",
                         extra={"fields": {"activeItems": len(items), "limit": self._max_items}})
            self._over_limit = over
        if over:
            return None
        # Serializing tens of thousands of items is CPU work: off the loop, so requests keep
        # being answered between the thread's slices (50k items would hold it ~0.3 s).
        return await asyncio.to_thread(ContentSnapshot, items)
