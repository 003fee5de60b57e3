"""The store contract for tags and content items: both adapters, the same assertions."""
# ruff: noqa: RUF001, RUF003  (the search tests are about look-alike characters)

from datetime import timedelta

import pytest

from app.domain.content.models import ContentItem, ContentQuery, Tag
from app.domain.errors import Conflict, DependencyUnavailable
from app.domain.ids import new_id, utcnow


def a_tag(slug: str) -> Tag:
    now = utcnow()
    return Tag(new_id(), slug, slug.title(), now, now)


def an_item(*tags: str, title: str = "Title", active: bool = True) -> ContentItem:
    now = utcnow()
    return ContentItem(new_id(), title, "https://example.org/x", None, tags, active, now, now)


async def test_tags(store):
    await store.create_tag(a_tag("python"))
    await store.create_tag(a_tag("go"))
    with pytest.raises(Conflict):
        await store.create_tag(a_tag("python"))
    assert [tag.slug for tag in await store.list_tags()] == ["go", "python"]
    assert await store.existing_tag_slugs(["go", "rust"]) == {"go"}
    assert await store.existing_tag_slugs([]) == set()


async def test_content_round_trip_update_delete(store):
    item = an_item("python")
    await store.insert_content(item)
    assert await store.get_content(item.id) == item
    later = utcnow() + timedelta(seconds=1)
    updated = await store.update_content(item.id, {"title": "New", "tags": ("go",),
                                                   "thumbnail_url": "https://e.org/t"}, later)
    assert updated.title == "New" and updated.tags == ("go",) and updated.updated_at == later
    assert updated.url == item.url and updated.created_at == item.created_at
    assert await store.get_content(item.id) == updated
    assert await store.update_content(new_id(), {"title": "x"}, later) is None
    assert await store.delete_content(item.id)
    assert not await store.delete_content(item.id)
    assert await store.get_content(item.id) is None


async def test_list_is_active_newest_first_with_cursor_tag_and_text(store):
    items = [an_item("python", title=f"Item {n} (a+b)") for n in range(5)]
    items.append(an_item("go", title="A Go article"))
    items.append(an_item("python", title="Hidden", active=False))
    for item in items:
        await store.insert_content(item)
    active = sorted((i for i in items if i.is_active), key=lambda i: i.id, reverse=True)
    assert await store.list_content(ContentQuery(limit=100)) == active
    first = await store.list_content(ContentQuery(limit=2))
    rest = await store.list_content(ContentQuery(after_id=first[-1].id, limit=100))
    assert first + rest == active
    assert {i.tags for i in await store.list_content(ContentQuery(tag="go", limit=9))} == {("go",)}
    assert len(await store.list_content(ContentQuery(text="(A+B)", limit=9))) == 5
    assert await store.list_content(ContentQuery(text=".*", limit=9)) == []
    assert len(await store.list_content(ContentQuery(text="go ART", limit=9))) == 1


# Titles where folding rules disagree: Python's `re.IGNORECASE` adds i/ı/İ and ﬅ/ﬆ, full
# folding adds ß/ss; the database folds by simple case folding only. Plus regex metacharacters.
TRICKY_TITLES = (
    "i", "I", "İstanbul", "ıdotless", "ſ", "s", "S", "ς", "σ", "Σ", "µ", "μ", "Μ", "K", "k",
    "\u212a", "ß", "ẞ", "ss", "ﬅ", "ﬆ", "st", "ᾳ", "ᾼ", "ǅ", "ǆ", "Ǆ", "ꭰ", "Ꭰ", "𐐨", "𐐀",
    "STRASSE ÉTÉ", "a.b", "(A+B)", "x*y", "[tag]", "^start", "end$", "a|b", "back\\slash",
)
TRICKY_QUERIES = ("İ", "ı", "i\u0307", "straße", "été", ".*", "a.", "\\", "\\s", "$", "ǈ")


async def test_search_folds_case_as_the_database_does(store):
    """Every store and the snapshot answer the same ids for every title and query in the table,
    and the database's answers (FerretDB: Go's regexp; MongoDB: PCRE; both simple folding) are
    pinned for the cases an attacker found differing."""
    from app.domain.content.snapshot import ContentSnapshot

    items = {title: an_item(title=title) for title in TRICKY_TITLES}
    for item in items.values():
        await store.insert_content(item)
    snapshot = ContentSnapshot(items.values())
    queries = {variant for title in TRICKY_TITLES
               for variant in (title, title.upper(), title.lower(), title.swapcase())}
    found: dict[str, set[str]] = {}
    for text in sorted(queries | set(TRICKY_QUERIES)):
        query = ContentQuery(text=text, limit=100)
        listed = [item.id for item in await store.list_content(query)]
        assert snapshot.matches(query) == listed, text
        found[text] = {item.title for item in items.values() if item.id in listed}
    assert found["i"] == found["I"] == {"i", "I"}  # not İ nor ı: they have no simple folding
    assert found["İ"] == {"İstanbul"} and found["ı"] == {"ıdotless"}
    assert found["ﬅ"] == {"ﬅ"} and found["ﬆ"] == {"ﬆ"}  # full folding only: not each other
    # ß is ẞ (simple folding) but not ss (full folding only).
    assert found["ß"] == {"ß", "ẞ"} and found["ss"] == {"ss", "STRASSE ÉTÉ", "ıdotless"}
    assert found["straße"] == set() and found["été"] == {"STRASSE ÉTÉ"}
    assert found["s"] == {"ſ", "s", "S", "ss", "st", "STRASSE ÉTÉ", "İstanbul", "ıdotless",
                          "^start", "back\\slash"}  # ſ is s; ﬅ is not
    assert found["σ"] == {"ς", "σ", "Σ"} and found["µ"] == {"µ", "μ", "Μ"}
    assert found["k"] == {"K", "k", "\u212a", "back\\slash"}
    assert found["ᾳ"] == {"ᾳ", "ᾼ"} and found["ǅ"] == {"ǅ", "ǆ", "Ǆ"}
    assert found["ꭰ"] == {"ꭰ", "Ꭰ"} and found["𐐀"] == {"𐐨", "𐐀"}
    assert found[".*"] == set() and found["a."] == {"a.b"} and found["\\"] == {"back\\slash"}


async def test_active_counts_by_tag(store):
    for item in (an_item("python"), an_item("python", "go"), an_item("go", active=False)):
        await store.insert_content(item)
    assert await store.active_counts_by_tag() == {"python": 2, "go": 1}


async def test_rename_tag(store):
    if store.name == "mongo" and not store.supports_transactions:
        with pytest.raises(DependencyUnavailable, match="replica set"):
            await store.rename_tag("py", "python", None, utcnow())
        pytest.skip("tag rename needs transactions; FerretDB v1.24.2 (standalone) has none")
    await store.create_tag(a_tag("py"))
    await store.create_tag(a_tag("go"))
    moved, other = an_item("go", "py"), an_item("go")
    for item in (moved, other):
        await store.insert_content(item)
    at = utcnow()
    tag = await store.rename_tag("py", "python", "Python", at)
    assert (tag.slug, tag.name, tag.updated_at) == ("python", "Python", at)
    assert (await store.get_content(moved.id)).tags == ("go", "python")
    assert (await store.get_content(other.id)).tags == ("go",)
    with pytest.raises(Conflict):
        await store.rename_tag("python", "go", None, at)
    assert await store.rename_tag("missing", "x", None, at) is None


async def test_the_catalog_stamp_moves_on_every_catalog_write(store):
    stamps = [await store.catalog_stamp()]

    async def moved() -> bool:
        stamps.append(await store.catalog_stamp())
        return stamps[-1] != stamps[-2]

    await store.create_tag(a_tag("python"))
    assert await moved()
    item = an_item("python")
    await store.insert_content(item)
    assert await moved()
    await store.update_content(item.id, {"title": "x"}, utcnow())
    assert await moved()
    assert not await moved()  # reads do not move it
    await store.delete_content(item.id)
    assert await moved()
