"""The content snapshot answers every `/content` query as the stores do: the same items, in the
same order, with the same next cursor and the same bytes, for many random queries on each store
adapter; and rebuilds are coalesced."""
# ruff: noqa: RUF001, RUF003  (the search words include look-alike characters on purpose)

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

from app.domain.content.catalog import CatalogCache
from app.domain.content.models import ContentItem, ContentQuery, Tag
from app.domain.content.schemas import ContentListQuery
from app.domain.content.service import ContentService
from app.domain.content.snapshot import ContentSnapshot
from app.domain.events import EventBus
from app.domain.ids import new_id, utcnow
from app.store.memory import MemoryStore

TAGS = ("python", "go", "rust", "web")
# Words with regex metacharacters (a search must treat them literally) and characters that
# Python's `re.IGNORECASE` folds unlike the database (İ ı ſ K ﬅ ẞ; see the contract test that
# pins the database's answers).
WORDS = ("Python", "PYTHON", "python", "école", "ÉCOLE", "Über", "über", "İstanbul", "ıdotless",
         "ſtraße", "STRAẞE", "\u212aelvin", "ﬅ", "ﬆ", "a.b", "(A+B)",
         "C++", "x*y", "[tag]", "50%", "$100", "back\\slash", "go", "Go-lang", "^start", "end$",
         "a|b", "?", "tabs\tand", "   ")


def random_title(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4))).strip() or "x"


def random_text(rng: random.Random, titles: list[str]) -> str | None:
    kind = rng.random()
    if kind < 0.2:
        return None
    if kind < 0.8:  # a piece of a real title, in another case
        title = rng.choice(titles)
        start = rng.randrange(len(title))
        piece = title[start:start + rng.randint(1, 6)]
        return rng.choice((str.upper, str.lower, str.swapcase, str))(piece)
    return "".join(rng.choice("abcxyz.*+()[]\\ ÉéüÜiIİısSſk\u212aßẞﬅﬆ")
                   for _ in range(rng.randint(1, 3)))


async def seed(store, rng: random.Random, count: int) -> list[ContentItem]:
    now = utcnow()
    for slug in TAGS:
        await store.create_tag(Tag(new_id(), slug, slug.title(), now, now))
    items = []
    for n in range(count):
        at = now + timedelta(milliseconds=n)  # milliseconds: what Mongo keeps
        item = ContentItem(new_id(), random_title(rng), f"https://example.org/{n}",
                           rng.choice((None, f"https://img.example.org/{n}.png")),
                           tuple(rng.sample(TAGS, rng.randint(0, 3))), rng.random() < 0.8, at, at)
        await store.insert_content(item)
        items.append(item)
    return items


def random_cursor(rng: random.Random, ids: list[str]) -> str | None:
    kind = rng.random()
    if kind < 0.4:
        return None
    if kind < 0.8:
        return rng.choice(ids)  # an inactive item's id too: it is a position all the same
    # A position between ids, or past either end: any schema-valid cursor is a position.
    base = rng.choice(ids)
    return base[:-1] + rng.choice("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


async def test_random_queries_match_the_store(store):
    rng = random.Random(15)
    items = await seed(store, rng, 60)
    # The snapshot is built from what the store lists, as the cache builds it.
    snapshot = ContentSnapshot(await store.list_content(ContentQuery(limit=1000)))
    assert len(snapshot) == sum(item.is_active for item in items)
    from_store = ContentService(store, EventBus())
    from_memory = ContentService(store, EventBus(), snapshot=lambda: snapshot)
    ids, titles = [item.id for item in items], [item.title for item in items]
    for n in range(150 if store.name == "memory" else 60):
        query = ContentListQuery.model_validate({
            key: value for key, value in {
                "tag": rng.choice((None, *TAGS, "unknown")),
                "q": random_text(rng, titles),
                "cursor": random_cursor(rng, ids),
                "limit": rng.randint(1, 12),
            }.items() if value is not None
        })
        store_query = ContentQuery(query.tag, query.q, query.cursor, query.limit)
        listed = [item.id for item in await store.list_content(store_query)]
        assert snapshot.matches(store_query) == listed, (n, query)
        # Page by page through the service: the same bytes and the same next cursor.
        assert await from_memory.page(query) == await from_store.page(query), (n, query)


async def test_items_by_id_match_the_store(store):
    rng = random.Random(16)
    items = await seed(store, rng, 20)
    snapshot = ContentSnapshot(await store.list_content(ContentQuery(limit=1000)))
    from_store = ContentService(store, EventBus())
    from_memory = ContentService(store, EventBus(), snapshot=lambda: snapshot)
    for item in items:
        if item.is_active:
            assert await from_memory.item(item.id) == await from_store.item(item.id)
        else:
            assert snapshot.item(item.id) is None
    assert snapshot.item("not-an-id") is None


async def test_tag_counts_are_the_stores_counts(store):
    await seed(store, random.Random(17), 40)
    snapshot = ContentSnapshot(await store.list_content(ContentQuery(limit=1000)))
    assert snapshot.counts == await store.active_counts_by_tag()


class GatedStore(MemoryStore):
    """Counts full reads, and holds the first one until the test lets it go."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.gate = asyncio.Event()

    async def list_tags(self) -> list[Tag]:
        self.reads += 1
        await self.gate.wait()
        return await super().list_tags()


async def test_a_burst_of_rebuilds_costs_two_reads():
    store = GatedStore()
    cache = CatalogCache(store, max_items=100)
    first = asyncio.ensure_future(cache.rebuild())
    await asyncio.sleep(0)  # the first holds the lock, reading
    now = utcnow()
    await store.create_tag(Tag(new_id(), "late", "Late", now, now))
    await store.insert_content(ContentItem(new_id(), "Late", "https://example.org/l", None,
                                           ("late",), True, now, now))
    burst = [asyncio.ensure_future(cache.rebuild()) for _ in range(10)]
    await asyncio.sleep(0)
    store.gate.set()
    await first
    snapshots = await asyncio.gather(*burst)
    assert store.reads == 2  # the first, then one for the whole burst
    # The burst's rebuild began after the writes: every caller sees them.
    assert all(snapshot is snapshots[0] for snapshot in snapshots)
    assert b'"late"' in snapshots[0].body
    assert cache.content is not None and len(cache.content) == 1


async def test_search_never_matches_across_two_titles(store):
    """The snapshot searches all titles joined in one string: a match that runs from one title
    into the next is no match, as in the store; a title's own NUL still matches."""
    now = utcnow()
    items = []
    for title in ("Zulu foo", "bar Yankee", "nul\x00inside", "foo"):
        items.append(ContentItem(new_id(), title, "https://example.org/x", None, ("t",), True,
                                 now, now))
        await store.insert_content(items[-1])
    snapshot = ContentSnapshot(items)
    for text in ("foo\x00bar", "foobar", "oo\x00b", "\x00", "l\x00i", "foo", "e\x00n"):
        for tag in (None, "t"):
            query = ContentQuery(text=text, tag=tag, limit=10)
            expected = [i.id for i in await store.list_content(query)]
            assert snapshot.matches(query) == expected, (text, tag)
    assert snapshot.matches(ContentQuery(text="foo", limit=10)) == [items[3].id, items[0].id]
