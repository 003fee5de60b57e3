"""The active content items in memory, each serialized once: `GET /content` and
`GET /content/{id}` answer from here without the database.

The queries keep the Mongo adapter's semantics exactly (it is what production runs): active
items only, newest (largest id) first, ids below the cursor, a tag filter that matches any of an
item's tags, and `text` a literal, case-insensitive substring of the title. Case-insensitive the
way a regular expression is (Python's `re.IGNORECASE`, like MongoDB's `$regex` with `i`): simple
case folding, so `ß` does not match `SS`; both stores fold the same way.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import orjson

from app.domain.content.models import ContentItem, ContentQuery, item_json


def item_bytes(item: ContentItem) -> bytes:
    """An item's wire form as bytes: the same bytes whether served from here or the store."""
    return orjson.dumps(item_json(item))


def _kept_bytes(item: ContentItem) -> bytes:
    # orjson's result keeps its ~4 KiB write buffer allocated; a copy is exactly its length
    # (measured: 39 MiB for 10k items before, 3.3 MiB after).
    return memoryview(item_bytes(item)).tobytes()


@dataclass(frozen=True, slots=True)
class Page:
    items: list[bytes]  # each item's JSON
    next_cursor: str | None  # None at the end


class ContentSnapshot:
    """Immutable once built; a rebuild makes a new one and swaps it in whole."""

    __slots__ = ("_bodies", "_by_id", "_by_tag", "_ids", "_titles", "counts")

    def __init__(self, items: Iterable[ContentItem]) -> None:
        active = sorted((item for item in items if item.is_active), key=lambda item: item.id)
        # Parallel lists by position, oldest first: positions are what the tag index holds.
        self._ids = [item.id for item in active]
        self._titles = [item.title for item in active]
        self._bodies = [_kept_bytes(item) for item in active]
        self._by_id = dict(zip(self._ids, self._bodies, strict=True))
        by_tag: dict[str, list[int]] = {}
        for position, item in enumerate(active):
            for tag in item.tags:
                by_tag.setdefault(tag, []).append(position)
        self._by_tag = by_tag
        # What the store's active_counts_by_tag() answers: every occurrence counts.
        self.counts: dict[str, int] = dict(Counter(tag for item in active for tag in item.tags))

    def __len__(self) -> int:
        return len(self._ids)

    def item(self, item_id: str) -> bytes | None:
        """An active item's JSON, or None when it is missing or inactive."""
        return self._by_id.get(item_id)

    def page(self, query: ContentQuery) -> Page:
        """`query.limit` items and the next page's cursor (the last id on this page), as the
        service's store path computes it."""
        taken = list(self._select(query, query.limit + 1))
        more = len(taken) > query.limit
        taken = taken[: query.limit]
        return Page([self._bodies[p] for p in taken],
                    self._ids[taken[-1]] if more else None)

    def matches(self, query: ContentQuery) -> list[str]:
        """The ids `store.list_content(query)` answers (for tests and checks)."""
        return [self._ids[p] for p in self._select(query, query.limit)]

    def _select(self, query: ContentQuery, limit: int) -> Iterator[int]:
        """Positions of matching items, newest first, at most `limit`."""
        if limit <= 0:
            return
        # Everything below the cursor's id: the cursor need not be an id we hold.
        end = len(self._ids) if query.after_id is None else bisect_left(self._ids,
                                                                        query.after_id)
        if query.tag is None:
            candidates: Iterable[int] = range(end - 1, -1, -1)
        else:
            positions = self._by_tag.get(query.tag, [])
            candidates = (positions[i] for i in range(bisect_left(positions, end) - 1, -1, -1))
        search = (re.compile(re.escape(query.text), re.IGNORECASE).search
                  if query.text is not None else None)
        found = 0
        for position in candidates:
            if search is None or search(self._titles[position]):
                yield position
                found += 1
                if found == limit:
                    return
