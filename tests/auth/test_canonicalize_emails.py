"""`python -m app users canonicalize-emails`: stored emails from before the canonical form."""

from __future__ import annotations

import unicodedata

from app import cli
from app.bootstrap import open_store
from app.domain.auth.models import User
from app.domain.ids import new_id, utcnow
from tests.test_cli import parse

NFD = unicodedata.normalize("NFD", "josé@example.org")


async def test_rewrites_what_it_can_and_reports_the_rest(mongo_settings):
    store = open_store(mongo_settings)
    await store.connect()
    ids = {}
    try:
        for email in ("Alice@Example.ORG", "bob@example.org", NFD, "JOSÉ@example.org",
                      "hidden\u200b@example.org"):
            now = utcnow()
            ids[email] = new_id()
            await store.create_user(User(id=ids[email], email=email, password_hash="x",
                                         roles=("user",), created_at=now, updated_at=now))

        async def run(*argv: str) -> tuple[int, list[dict]]:
            lines: list[dict] = []
            code = await cli.run(parse("users", "canonicalize-emails", *argv), mongo_settings,
                                 out=lines.append)
            return code, lines

        code, lines = await run("--dry-run")
        assert code == 1  # a collision and an invalid email remain for a person to decide
        assert lines[-1] == {"checked": 5, "rewritten": 1, "collisions": 1, "invalid": 1,
                             "dryRun": True}
        assert (await store.get_user_by_email("alice@example.org")) is None  # nothing written

        code, lines = await run()
        assert code == 1
        assert {"rewrite": ids["Alice@Example.ORG"], "from": "Alice@Example.ORG",
                "to": "alice@example.org", "dryRun": False} in lines
        collision = next(line for line in lines if "collision" in line)
        assert collision["collision"] == "josé@example.org"
        assert set(collision["users"]) == {ids[NFD], ids["JOSÉ@example.org"]}
        assert next(line for line in lines if "invalid" in line)["invalid"] == ids[
            "hidden\u200b@example.org"]
        assert (await store.get_user_by_email("alice@example.org")).id == ids["Alice@Example.ORG"]
        assert (await store.get_user_by_email(NFD)) is not None  # collisions left as they were

        code, lines = await run()  # idempotent: only what needs a person is left
        assert lines[-1]["rewritten"] == 0
    finally:
        await store._client.drop_database(mongo_settings.mongo_db)
        await store.close()


async def test_needs_the_database(settings, logs):
    code = await cli.run(parse("users", "canonicalize-emails"), settings, out=lambda _: None)
    assert code == 1 and logs.find("cli.failed")[0]["variable"] == "MONGO_URI"
