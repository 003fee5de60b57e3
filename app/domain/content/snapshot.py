"""The active content items in memory, each serialized once: `GET /content` and
`GET /content/{id}` answer from here without the database.

The queries keep the Mongo adapter's semantics exactly (it is what production runs): active
items only, newest (largest id) first, ids below the cursor, a tag filter that matches any of an
item's tags, and `text` a literal, case-insensitive substring of the title. Case-insensitive the
way the database's `$regex` with `i` is: Unicode simple case folding (`search.fold`), so `ß`
does not match `SS`, `i` does not match `İ` or `ı`, and `ſ` matches `s`. The memory store folds
with the same function, so both stores and this snapshot answer alike.

Known differences from the database: none found. The fold comes from Python's Unicode tables
(14.0 on Python 3.11), the database's from its own (FerretDB built with Go 1.26: 15.0; MongoDB:
its PCRE2 build's). Every character either table gives a case mapping (2,927) was checked against
FerretDB v1.24.2 as a query on titles of one character each: the same matches for all. MongoDB
itself was not checked here. A Unicode version that adds case pairs on one side only (Python
3.13's 15.1, Go's next) would differ on those characters until the other catches up.
"""
# ruff: noqa: RUF002  (the docstring names look-alike characters on purpose)

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

import orjson

from app.domain.content.models import ContentItem, ContentQuery, item_json
from app.domain.content.search import fold


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


class _Titles:
    """The folded titles of some items (all, or one tag's) joined in one string, so a search is
    a C-level `rfind` per match instead of a Python step per title: a query that matches
    nothing costs one scan of the string (tens of µs for 10,000 titles), not one step each."""

    __slots__ = ("_ends", "_positions", "_starts", "_text")

    def __init__(self, positions: list[int], folded: list[str]) -> None:
        self._positions = positions  # ascending: oldest first, as in the snapshot
        self._starts: list[int] = []
        self._ends: list[int] = []
        offset = 0
        for position in positions:
            self._starts.append(offset)
            offset += len(folded[position])
            self._ends.append(offset)
            offset += 1  # the separator
        self._text = "\x00".join([folded[position] for position in positions])

    def newest_first(self, needle: str, below: int) -> Iterator[int]:
        """Snapshot positions under `below` whose folded title holds `needle`, newest first."""
        size = len(needle)
        last = bisect_left(self._positions, below) - 1  # the newest eligible item
        if last < 0:
            return
        high = self._ends[last]
        while True:
            found = self._text.rfind(needle, 0, high)
            if found < 0:
                return
            index = bisect_right(self._starts, found) - 1
            if found + size > self._ends[index]:  # across a separator: look further back
                high = found + size - 1
                continue
            yield self._positions[index]
            if index == 0:
                return
            high = self._starts[index] - 1  # the items before this one


class ContentSnapshot:
    """Immutable once built; a rebuild makes a new one and swaps it in whole."""

    __slots__ = ("_bodies", "_by_id", "_by_tag", "_ids", "_titles", "_titles_by_tag", "counts")

    def __init__(self, items: Iterable[ContentItem]) -> None:
        active = sorted((item for item in items if item.is_active), key=lambda item: item.id)
        # Parallel lists by position, oldest first: positions are what the tag index holds.
        self._ids = [item.id for item in active]
        folded = [fold(item.title) for item in active]  # once, not per query
        self._bodies = [_kept_bytes(item) for item in active]
        self._by_id = dict(zip(self._ids, self._bodies, strict=True))
        by_tag: dict[str, list[int]] = {}
        for position, item in enumerate(active):
            for tag in item.tags:
                by_tag.setdefault(tag, []).append(position)
        self._by_tag = by_tag
        self._titles = _Titles(list(range(len(active))), folded)
        self._titles_by_tag = {tag: _Titles(positions, folded)
                               for tag, positions in by_tag.items()}
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
        if query.text:  # "" filters nothing, as in the stores
            titles = (self._titles if query.tag is None
                      else self._titles_by_tag.get(query.tag))
            if titles is None:
                return
            candidates: Iterable[int] = titles.newest_first(fold(query.text), end)
        elif query.tag is None:
            candidates = range(end - 1, -1, -1)
        else:
            positions = self._by_tag.get(query.tag, [])
            candidates = (positions[i] for i in range(bisect_left(positions, end) - 1, -1, -1))
        yield from islice(candidates, limit)
