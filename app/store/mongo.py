"""MongoDB adapter on pymongo's native async client (no thread pool).

Every operation runs through the call boundary (`mongo_calls.DriverCalls.run`): in a task of its
own that nothing cancels, bounded by the client-side timeout (`timeoutMS`), while the caller waits
at most `DEADLINE_MARGIN` longer; every driver failure that means the database cannot serve
becomes `StoreUnavailable` with a short reason (see `mongo_errors`). So a request never waits much
past MONGO_TIMEOUT_MS, and no outage, refused credential or failover turns into a 500. The shared
rate limiter (`ratelimit_mongo`) goes through the same boundary.

Indexes and capabilities are prepared once, off the probe path: at start when the database
answers, otherwise by a background task that retries with backoff. Servers that lack a feature
(FerretDB v1 has no TTL indexes and no transactions) are detected from their answers, and the
adapter degrades with one warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import pymongo
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel, monitoring
from pymongo.errors import OperationFailure

from app.domain.auth.models import RefreshToken, User
from app.domain.content.models import ContentItem, ContentQuery, Tag
from app.domain.errors import Conflict, DependencyUnavailable
from app.identity import NAME
from app.store.base import StoreUnavailable
from app.store.documents import (
    CONTENT_FIELDS,
    content_document,
    content_from_document,
    tag_from_document,
    token_document,
    token_from_document,
    user_document,
    user_from_document,
)
from app.store.mongo_calls import DEADLINE_MARGIN as DEADLINE_MARGIN  # re-exported for callers
from app.store.mongo_calls import DriverCalls
from app.store.ratelimit_mongo import MongoRateLimiter
from app.telemetry import fields, get_logger

T = TypeVar("T")
log = get_logger(__name__)

_NOT_IMPLEMENTED = 238  # the server's error code for an unsupported option
# Index builds may take longer than a request may wait; they run off the request path.
PREPARE_TIMEOUT = 60.0
PREPARE_RETRY = (1.0, 30.0)  # first and longest wait between background attempts
PREPARE_START_WAIT = 5.0  # how long the start waits for the first attempt


async def _index_names(collection: Any) -> set[str]:
    return {index["name"] async for index in await collection.list_indexes()}


async def _ensure_indexes(collection: Any, models: list[IndexModel]) -> None:
    """Create the indexes that are missing. Only the missing ones: FerretDB v1 drops the
    connection on a createIndexes that repeats existing indexes alongside others."""
    existing = await _index_names(collection)
    missing = [model for model in models if model.document["name"] not in existing]
    if missing:
        await collection.create_indexes(missing)


def required_indexes() -> dict[str, list[IndexModel]]:
    """The indexes the service relies on, by collection (the unique ones are what makes an
    email, a token id or a tag slug unique); a restore ensures them too, whatever the backup
    says. TTL indexes are not here: the server may lack them (see `_ttl_index`)."""
    return {
        "users": [IndexModel("email", unique=True)],
        "refresh_tokens": [
            IndexModel("jti", unique=True),
            # Sparse: a family's first token has no parent. Unique: a token rotates once.
            IndexModel("parentJti", unique=True, sparse=True),
            IndexModel([("userId", ASCENDING), ("createdAt", DESCENDING)]),
            IndexModel("familyId"),
        ],
        "refresh_families": [IndexModel("userId")],
        "tags": [IndexModel("slug", unique=True)],
        "content": [
            IndexModel([("isActive", ASCENDING), ("_id", DESCENDING)]),
            IndexModel([("tags", ASCENDING), ("_id", DESCENDING)]),
        ],
    }


class MongoStore:
    name = "mongo"

    def __init__(self, uri: str, database: str, *, timeout_ms: int,
                 listeners: Sequence[monitoring.CommandListener] = ()) -> None:
        # Built inside the running loop (from the app's cleanup context): the async client
        # belongs to the loop that creates it.
        self._client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            uri, appname=NAME, w="majority", tz_aware=True,
            serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms, timeoutMS=timeout_ms,
            event_listeners=list(listeners),
        )
        self._db = self._client[database]
        self._timeout = timeout_ms / 1000
        self._prepared = False
        self._prepare_lock = asyncio.Lock()
        self._preparer: asyncio.Task[None] | None = None
        self._first_attempt = asyncio.Event()
        self._calls = DriverCalls(self._client, self._timeout)
        self._run = self._calls.run  # the boundary: every driver call goes through it
        self.supports_ttl = True
        self.supports_transactions = False
        self._users = self._db["users"]
        self._tokens = self._db["refresh_tokens"]
        self._families = self._db["refresh_families"]
        self._tags = self._db["tags"]
        self._content = self._db["content"]
        self._meta = self._db["meta"]
        # Stamp bumps that failed after their write, and how many of them a later bump (sent
        # after they failed) has made up for: while fewer, a bump is owed (see `catalog_stamp`).
        self._bumps_failed = 0
        self._bumps_paid = 0

    def on_failure(self, listener: Callable[[str], None]) -> Callable[[], None]:
        return self._calls.on_failure(listener)

    # lifecycle

    async def connect(self) -> None:
        """Start preparing in the background and give the first attempt a moment: a healthy
        start serves with its indexes in place, while a database that is down, refuses the
        credentials or builds indexes slowly never holds the start up."""
        if self._preparer is None or self._preparer.done():  # a shared store connects again
            self._preparer = asyncio.create_task(self._prepare_until_done(), name="mongo-prepare")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_attempt.wait(), PREPARE_START_WAIT)
        if not self._prepared:
            log.info("store.prepare_pending: indexes are prepared in the background once the "
                     "database answers")

    async def ping(self, timeout: float) -> None:
        await self._run("ping", lambda: self._db.command("ping"), timeout=timeout, report=False)

    async def close(self) -> None:
        if self._preparer is not None:
            self._preparer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._preparer
        await self._calls.drain()  # operations whose callers stopped waiting
        await self._client.close()

    def shared_rate_limiter(self) -> MongoRateLimiter:
        """Limits counted in the database, so they hold across instances."""
        return MongoRateLimiter(self._db["rate_limits"], self._calls)

    async def prepare(self) -> None:
        """Indexes and capabilities, once: concurrent callers wait for the one running."""
        async with self._prepare_lock:
            if self._prepared:
                return
            # A quick round trip first, so an unavailable database fails within the timeout.
            await self._run("prepare.ping", lambda: self._db.command("ping"))
            await self._run("prepare", self._prepare, timeout=max(PREPARE_TIMEOUT, self._timeout))
            self._prepared = True

    async def _prepare_until_done(self) -> None:
        """Retry with backoff until prepared. Unavailability is the dependency state's to report;
        any other failure is logged once per kind, and never ends the loop."""
        delay, longest = PREPARE_RETRY
        last_error: str | None = None
        while True:
            try:
                await self.prepare()
                log.info("store.prepared", extra=fields(
                    transactions=self.supports_transactions, ttl=self.supports_ttl))
                return
            except StoreUnavailable:
                pass
            except Exception as exc:
                if type(exc).__name__ != last_error:
                    log.exception("store.prepare_failed", extra=fields(error=type(exc).__name__))
                last_error = type(exc).__name__
            finally:
                self._first_attempt.set()
            await asyncio.sleep(delay)
            delay = min(delay * 2, longest)

    async def _prepare(self) -> None:
        hello = await self._client.admin.command("hello")
        self.supports_transactions = "setName" in hello or hello.get("msg") == "isdbgrid"
        for name, models in required_indexes().items():
            await _ensure_indexes(self._db[name], models)
        for collection in (self._tokens, self._families):
            await self._ttl_index(collection)
        if not self.supports_transactions:
            log.warning("store.no_transactions: the server is not a replica set; operations "
                        "that need a transaction will answer 503")

    async def _ttl_index(self, collection: Any) -> None:
        if not self.supports_ttl or "expiresAt_1" in await _index_names(collection):
            return
        try:
            await collection.create_index("expiresAt", expireAfterSeconds=0)
        except OperationFailure as exc:
            if exc.code != _NOT_IMPLEMENTED:
                raise
            self.supports_ttl = False
            log.warning("store.no_ttl_indexes: the server has no TTL indexes; expired refresh "
                        "tokens stay until deleted by hand", extra=fields(reason=str(exc)[:200]))

    # users

    async def create_user(self, user: User) -> None:
        try:
            await self._run("users.insert", lambda: self._users.insert_one(user_document(user)))
        except Conflict:
            raise Conflict("A user with this email already exists") from None

    async def get_user(self, user_id: str) -> User | None:
        doc = await self._run("users.find", lambda: self._users.find_one({"_id": user_id}))
        return user_from_document(doc)

    async def get_user_by_email(self, email: str) -> User | None:
        doc = await self._run("users.find", lambda: self._users.find_one({"email": email}))
        return user_from_document(doc)

    async def set_password_hash(self, user_id: str, password_hash: str, at: datetime) -> None:
        await self._run("users.update", lambda: self._users.update_one(
            {"_id": user_id}, {"$set": {"passwordHash": password_hash, "updatedAt": at}}
        ))

    # refresh tokens

    async def create_refresh_family(
        self, family_id: str, user_id: str, created_at: datetime, expires_at: datetime
    ) -> None:
        await self._run("refresh_families.insert", lambda: self._families.insert_one({
            "_id": family_id, "userId": user_id, "createdAt": created_at,
            "expiresAt": expires_at, "revokedAt": None,
        }))

    async def extend_refresh_family(self, family_id: str, expires_at: datetime) -> bool:
        result = await self._run("refresh_families.update", lambda: self._families.update_one(
            {"_id": family_id, "revokedAt": None}, {"$set": {"expiresAt": expires_at}}
        ))
        return result.matched_count == 1

    async def revoke_refresh_family(self, family_id: str, at: datetime) -> int:
        async def revoke() -> int:
            await self._families.update_one(
                {"_id": family_id, "revokedAt": None}, {"$set": {"revokedAt": at}}
            )
            result = await self._tokens.update_many(
                {"familyId": family_id, "revokedAt": None}, {"$set": {"revokedAt": at}}
            )
            return result.modified_count

        return await self._run("refresh_families.revoke", revoke)

    async def insert_refresh_token(self, token: RefreshToken) -> None:
        await self._run("refresh_tokens.insert",
                        lambda: self._tokens.insert_one(token_document(token)))

    async def get_refresh_token(self, jti: str) -> RefreshToken | None:
        doc = await self._run("refresh_tokens.find", lambda: self._tokens.find_one({"jti": jti}))
        return token_from_document(doc)

    async def mark_refresh_token_used(self, jti: str, at: datetime, replaced_by: str) -> None:
        await self._run("refresh_tokens.mark_used", lambda: self._tokens.update_one(
            {"jti": jti, "usedAt": None}, {"$set": {"usedAt": at, "replacedBy": replaced_by}}
        ))

    async def revoke_user_refresh_tokens(self, user_id: str, at: datetime) -> int:
        async def revoke() -> int:
            await self._families.update_many(
                {"userId": user_id, "revokedAt": None}, {"$set": {"revokedAt": at}}
            )
            result = await self._tokens.update_many(
                {"userId": user_id, "revokedAt": None}, {"$set": {"revokedAt": at}}
            )
            return result.modified_count

        return await self._run("refresh_tokens.revoke_user", revoke)

    async def list_user_refresh_tokens(self, user_id: str) -> list[RefreshToken]:
        docs = await self._run("refresh_tokens.list", lambda: self._tokens.find(
            {"userId": user_id}).sort([("createdAt", DESCENDING), ("jti", DESCENDING)]).to_list())
        return [token for doc in docs if (token := token_from_document(doc))]

    # tags and content

    async def create_tag(self, tag: Tag) -> None:
        try:
            await self._catalog_write("tags.insert", lambda: self._tags.insert_one({
                "_id": tag.id, "slug": tag.slug, "name": tag.name,
                "createdAt": tag.created_at, "updatedAt": tag.updated_at,
            }))
        except Conflict:
            raise Conflict(f"Tag {tag.slug!r} already exists") from None

    async def list_tags(self) -> list[Tag]:
        docs = await self._run("tags.list", lambda: self._tags.find().sort("slug").to_list())
        return [tag_from_document(doc) for doc in docs]

    async def existing_tag_slugs(self, slugs: list[str]) -> set[str]:
        docs = await self._run("tags.find", lambda: self._tags.find(
            {"slug": {"$in": slugs}}, {"slug": 1}).to_list())
        return {doc["slug"] for doc in docs}

    async def rename_tag(
        self, slug: str, new_slug: str, new_name: str | None, at: datetime
    ) -> Tag | None:
        await self.prepare()  # the capabilities decide how; a no-op once prepared
        if not self.supports_transactions:
            raise DependencyUnavailable(
                "Tag rename needs a MongoDB replica set (transactions); this server is standalone"
            )

        async def rename(session: Any) -> Tag | None:
            changes: dict[str, Any] = {"slug": new_slug, "updatedAt": at}
            if new_name is not None:
                changes["name"] = new_name
            doc = await self._tags.find_one_and_update(
                {"slug": slug}, {"$set": changes}, session=session,
                return_document=pymongo.ReturnDocument.AFTER,
            )
            if doc is None:
                return None
            if new_slug != slug:
                # Positional update: tags hold each slug at most once.
                await self._content.update_many(
                    {"tags": slug}, {"$set": {"tags.$": new_slug, "updatedAt": at}},
                    session=session,
                )
            return tag_from_document(doc)

        async def in_transaction() -> Tag | None:
            async with self._client.start_session() as session:
                return await session.with_transaction(rename)

        try:
            return await self._catalog_write("tags.rename", in_transaction)
        except Conflict:
            raise Conflict(f"Tag {new_slug!r} already exists") from None

    async def insert_content(self, item: ContentItem) -> None:
        await self._catalog_write("content.insert",
                                  lambda: self._content.insert_one(content_document(item)))

    async def get_content(self, item_id: str) -> ContentItem | None:
        doc = await self._run("content.find", lambda: self._content.find_one({"_id": item_id}))
        return content_from_document(doc)

    async def update_content(
        self, item_id: str, changes: dict[str, Any], at: datetime
    ) -> ContentItem | None:
        update = {CONTENT_FIELDS[field]: value for field, value in changes.items()}
        if "tags" in update:
            update["tags"] = list(update["tags"])
        update["updatedAt"] = at
        doc = await self._catalog_write("content.update",
                                        lambda: self._content.find_one_and_update(
            {"_id": item_id}, {"$set": update}, return_document=pymongo.ReturnDocument.AFTER,
        ))
        return content_from_document(doc)

    async def delete_content(self, item_id: str) -> bool:
        result = await self._catalog_write("content.delete",
                                           lambda: self._content.delete_one({"_id": item_id}))
        return result.deleted_count == 1

    async def list_content(self, query: ContentQuery) -> list[ContentItem]:
        selector: dict[str, Any] = {"isActive": True}
        if query.after_id is not None:
            selector["_id"] = {"$lt": query.after_id}
        if query.tag is not None:
            selector["tags"] = query.tag
        if query.text is not None:
            # Literal text, never a pattern: the user's input is escaped.
            selector["title"] = {"$regex": re.escape(query.text), "$options": "i"}
        docs = await self._run("content.list", lambda: self._content.find(selector).sort(
            "_id", DESCENDING).limit(query.limit).to_list())
        return [item for doc in docs if (item := content_from_document(doc))]

    async def active_counts_by_tag(self) -> dict[str, int]:
        pipeline = [
            {"$match": {"isActive": True}},
            {"$unwind": "$tags"},
            {"$group": {"_id": "$tags", "count": {"$sum": 1}}},
        ]
        async def counts() -> list[dict[str, Any]]:
            return await (await self._content.aggregate(pipeline)).to_list()

        docs = await self._run("content.counts", counts)
        return {doc["_id"]: doc["count"] for doc in docs}

    async def catalog_stamp(self) -> int:
        if self._bumps_paid < self._bumps_failed:
            # A write landed but its bump did not: without this the stamp would stay put and
            # no instance would rebuild. Every refresher calls here, so the debt is paid soon.
            await self._bump_catalog()
        doc = await self._run("meta.catalog", lambda: self._meta.find_one({"_id": "catalog"}))
        return int(doc["stamp"]) if doc else 0

    async def _catalog_write(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        """A write the catalog and content snapshots depend on, then the stamp bump. A write
        that fails as unavailable may still have landed (a timeout after the server applied
        it): a bump is owed then too."""
        try:
            result = await self._run(operation, call)
        except StoreUnavailable:
            self._bumps_failed += 1
            raise
        await self._bump_catalog()
        return result

    async def _bump_catalog(self) -> None:
        # Every instance compares this with what it built its cache from.
        covers = self._bumps_failed  # failed before this one is sent: it lands after them
        try:
            await self._run("meta.catalog", lambda: self._meta.update_one(
                {"_id": "catalog"}, {"$inc": {"stamp": 1}}, upsert=True))
        except BaseException:
            # Timed out, unreachable or the caller cancelled: it may not have landed, so owe one
            # (a bump too many costs each instance one rebuild; one too few, staleness).
            self._bumps_failed += 1
            raise
        self._bumps_paid = max(self._bumps_paid, covers)
