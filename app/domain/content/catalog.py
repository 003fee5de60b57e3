"""The catalog cache: active tags with counts of active items, built from the store, kept in
memory and served as ready-made bytes with a strong ETag.

It is rebuilt when content or tags change (the event bus), and checked periodically so that
instances that did not see a change converge: the check reads the store's catalog stamp, and
rebuilds only when it moved. The body depends only on the data, never on the instance, so
every instance computes the same version and ETag for the same catalog.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass

import orjson

from app.store.base import Store


@dataclass(frozen=True, slots=True)
class CatalogSnapshot:
    version: str
    body: bytes  # the `data` document, serialized once
    etag: str  # strong: quoted hash of `body`
    tag_count: int
    stamp: int  # the store's catalog stamp it was built from


class CatalogCache:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._snapshot: CatalogSnapshot | None = None
        self._lock = asyncio.Lock()
        # Plain counters: telemetry reads them at scrape time, nothing is paid per request.
        self.hits = 0
        self.misses = 0

    @property
    def primed(self) -> bool:
        return self._snapshot is not None

    @property
    def snapshot(self) -> CatalogSnapshot | None:
        return self._snapshot

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
        async with self._lock:
            stamp = await self._store.catalog_stamp()  # read first: a later write moves it again
            tags = await self._store.list_tags()
            counts = await self._store.active_counts_by_tag()
            entries = [
                {"slug": tag.slug, "name": tag.name, "count": counts[tag.slug]}
                for tag in sorted(tags, key=lambda tag: tag.slug)
                if counts.get(tag.slug, 0) > 0
            ]
            version = hashlib.sha256(orjson.dumps(entries)).hexdigest()[:16]
            body = orjson.dumps({"version": version, "tags": entries})
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            snapshot = CatalogSnapshot(version, body, etag, len(entries), stamp)
            self._snapshot = snapshot
            return snapshot
