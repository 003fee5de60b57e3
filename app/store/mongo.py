"""MongoDB adapter on pymongo's native async client (no thread pool).

Every operation is bounded by the client-side timeout (`timeoutMS`), and every driver error that
means "the database is not answering" becomes `DependencyUnavailable`, so a request never hangs
past the configured timeout and never turns a database outage into a 500.

Indexes are created idempotently when the database first answers. Servers that lack a feature
(FerretDB v1 has no TTL indexes and no transactions) are detected from their answers, and the
adapter degrades with one warning.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pymongo
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel, monitoring
from pymongo.errors import ConnectionFailure, DuplicateKeyError, OperationFailure, PyMongoError

from app.domain.auth.models import RefreshToken, User
from app.domain.content.models import ContentItem, ContentQuery, Tag
from app.domain.errors import Conflict, DependencyUnavailable
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
from app.store.ratelimit_mongo import MongoRateLimiter
from app.telemetry import fields, get_logger

log = get_logger(__name__)

_NOT_IMPLEMENTED = 238  # the server's error code for an unsupported option


@contextmanager
def unavailable_on_failure(operation: str) -> Iterator[None]:
    """Translate connection failures and timeouts into the domain's DependencyUnavailable."""
    try:
        yield
    except DuplicateKeyError as exc:
        raise Conflict("The value is already taken") from exc
    except PyMongoError as exc:
        if isinstance(exc, ConnectionFailure) or exc.timeout:
            raise DependencyUnavailable(f"The database did not answer ({operation})") from exc
        raise


async def _index_names(collection: Any) -> set[str]:
    return {index["name"] async for index in await collection.list_indexes()}


async def _ensure_indexes(collection: Any, models: list[IndexModel]) -> None:
    """Create the indexes that are missing. Only the missing ones: FerretDB v1 drops the
    connection on a createIndexes that repeats existing indexes alongside others."""
    existing = await _index_names(collection)
    missing = [model for model in models if model.document["name"] not in existing]
    if missing:
        await collection.create_indexes(missing)


class MongoStore:
    name = "mongo"

    def __init__(
        self,
        uri: str,
        database: str,
        *,
        timeout_ms: int,
        listeners: Sequence[monitoring.CommandListener] = (),
    ) -> None:
        # Built inside the running loop (from the app's cleanup context): the async client
        # belongs to the loop that creates it.
        self._client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            uri,
            appname="catalog-api",
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            timeoutMS=timeout_ms,
            w="majority",
            tz_aware=True,
            event_listeners=list(listeners),
        )
        self._db = self._client[database]
        self._timeout = timeout_ms / 1000
        self._prepared = False
        self.supports_ttl = True
        self.supports_transactions = False
        self._users = self._db["users"]
        self._tokens = self._db["refresh_tokens"]
        self._families = self._db["refresh_families"]
        self._tags = self._db["tags"]
        self._content = self._db["content"]
        self._meta = self._db["meta"]

    # lifecycle

    async def connect(self) -> None:
        try:
            await self.ping(timeout=self._timeout)
        except DependencyUnavailable:
            log.warning("store.unreachable_at_start", extra=fields(store=self.name))

    async def ping(self, timeout: float) -> None:
        with unavailable_on_failure("ping"), pymongo.timeout(timeout):
            await self._db.command("ping")
        if not self._prepared:
            await self._prepare_once()

    async def close(self) -> None:
        await self._client.close()

    def shared_rate_limiter(self) -> MongoRateLimiter:
        """Limits counted in the database, so they hold across instances."""
        return MongoRateLimiter(self._db["rate_limits"])

    async def _prepare_once(self) -> None:
        """Indexes and capabilities, once the server answers (it may be down at start). A
        failure here is logged, not raised: the database answered, so it is up."""
        try:
            with unavailable_on_failure("prepare"):
                await self._prepare()
        except (DependencyUnavailable, PyMongoError) as exc:
            log.error("store.prepare_failed", extra=fields(reason=str(exc)[:300]))
            return
        self._prepared = True

    async def _prepare(self) -> None:
        hello = await self._client.admin.command("hello")
        self.supports_transactions = "setName" in hello or hello.get("msg") == "isdbgrid"
        await _ensure_indexes(self._users, [IndexModel("email", unique=True)])
        await _ensure_indexes(self._tokens, [
            IndexModel("jti", unique=True),
            # Sparse: a family's first token has no parent. Unique: a token rotates once.
            IndexModel("parentJti", unique=True, sparse=True),
            IndexModel([("userId", ASCENDING), ("createdAt", DESCENDING)]),
            IndexModel("familyId"),
        ])
        await _ensure_indexes(self._families, [IndexModel("userId")])
        await _ensure_indexes(self._tags, [IndexModel("slug", unique=True)])
        await _ensure_indexes(self._content, [
            IndexModel([("isActive", ASCENDING), ("_id", DESCENDING)]),
            IndexModel([("tags", ASCENDING), ("_id", DESCENDING)]),
        ])
        for collection in (self._tokens, self._families):
            await self._ttl_index(collection)
        if not self.supports_transactions:
            log.warning("store.no_transactions: the server is not a replica set; operations "
                        "that need a transaction will answer 503")

    async def _ttl_index(self, collection: Any) -> None:
        if not self.supports_ttl:
            return
        if "expiresAt_1" in await _index_names(collection):
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
            with unavailable_on_failure("users.insert"):
                await self._users.insert_one(user_document(user))
        except Conflict:
            raise Conflict("A user with this email already exists") from None

    async def get_user(self, user_id: str) -> User | None:
        with unavailable_on_failure("users.find"):
            return user_from_document(await self._users.find_one({"_id": user_id}))

    async def get_user_by_email(self, email: str) -> User | None:
        with unavailable_on_failure("users.find"):
            return user_from_document(await self._users.find_one({"email": email}))

    async def set_password_hash(self, user_id: str, password_hash: str, at: datetime) -> None:
        with unavailable_on_failure("users.update"):
            await self._users.update_one(
                {"_id": user_id}, {"$set": {"passwordHash": password_hash, "updatedAt": at}}
            )

    # refresh tokens

    async def create_refresh_family(
        self, family_id: str, user_id: str, created_at: datetime, expires_at: datetime
    ) -> None:
        with unavailable_on_failure("refresh_families.insert"):
            await self._families.insert_one({
                "_id": family_id, "userId": user_id, "createdAt": created_at,
                "expiresAt": expires_at, "revokedAt": None,
            })

    async def extend_refresh_family(self, family_id: str, expires_at: datetime) -> bool:
        with unavailable_on_failure("refresh_families.update"):
            result = await self._families.update_one(
                {"_id": family_id, "revokedAt": None}, {"$set": {"expiresAt": expires_at}}
            )
        return result.matched_count == 1

    async def revoke_refresh_family(self, family_id: str, at: datetime) -> int:
        with unavailable_on_failure("refresh_families.revoke"):
            await self._families.update_one(
                {"_id": family_id, "revokedAt": None}, {"$set": {"revokedAt": at}}
            )
            result = await self._tokens.update_many(
                {"familyId": family_id, "revokedAt": None}, {"$set": {"revokedAt": at}}
            )
        return result.modified_count

    async def insert_refresh_token(self, token: RefreshToken) -> None:
        with unavailable_on_failure("refresh_tokens.insert"):
            await self._tokens.insert_one(token_document(token))

    async def get_refresh_token(self, jti: str) -> RefreshToken | None:
        with unavailable_on_failure("refresh_tokens.find"):
            return token_from_document(await self._tokens.find_one({"jti": jti}))

    async def mark_refresh_token_used(self, jti: str, at: datetime, replaced_by: str) -> None:
        with unavailable_on_failure("refresh_tokens.mark_used"):
            await self._tokens.update_one(
                {"jti": jti, "usedAt": None}, {"$set": {"usedAt": at, "replacedBy": replaced_by}}
            )

    async def revoke_user_refresh_tokens(self, user_id: str, at: datetime) -> int:
        with unavailable_on_failure("refresh_tokens.revoke_user"):
            await self._families.update_many(
                {"userId": user_id, "revokedAt": None}, {"$set": {"revokedAt": at}}
            )
            result = await self._tokens.update_many(
                {"userId": user_id, "revokedAt": None}, {"$set": {"revokedAt": at}}
            )
        return result.modified_count

    async def list_user_refresh_tokens(self, user_id: str) -> list[RefreshToken]:
        with unavailable_on_failure("refresh_tokens.list"):
            cursor = self._tokens.find({"userId": user_id}).sort(
                [("createdAt", DESCENDING), ("jti", DESCENDING)]
            )
            return [token for doc in await cursor.to_list() if (token := token_from_document(doc))]

    # tags and content

    async def create_tag(self, tag: Tag) -> None:
        try:
            with unavailable_on_failure("tags.insert"):
                await self._tags.insert_one({
                    "_id": tag.id, "slug": tag.slug, "name": tag.name,
                    "createdAt": tag.created_at, "updatedAt": tag.updated_at,
                })
        except Conflict:
            raise Conflict(f"Tag {tag.slug!r} already exists") from None
        await self._bump_catalog()

    async def list_tags(self) -> list[Tag]:
        with unavailable_on_failure("tags.list"):
            docs = await self._tags.find().sort("slug").to_list()
        return [tag_from_document(doc) for doc in docs]

    async def existing_tag_slugs(self, slugs: list[str]) -> set[str]:
        with unavailable_on_failure("tags.find"):
            docs = await self._tags.find({"slug": {"$in": slugs}}, {"slug": 1}).to_list()
        return {doc["slug"] for doc in docs}

    async def rename_tag(
        self, slug: str, new_slug: str, new_name: str | None, at: datetime
    ) -> Tag | None:
        if not self._prepared:
            await self.ping(self._timeout)
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

        try:
            with unavailable_on_failure("tags.rename"):
                async with self._client.start_session() as session:
                    renamed = await session.with_transaction(rename)
            await self._bump_catalog()
            return renamed
        except Conflict:
            raise Conflict(f"Tag {new_slug!r} already exists") from None

    async def insert_content(self, item: ContentItem) -> None:
        with unavailable_on_failure("content.insert"):
            await self._content.insert_one(content_document(item))
        await self._bump_catalog()

    async def get_content(self, item_id: str) -> ContentItem | None:
        with unavailable_on_failure("content.find"):
            return content_from_document(await self._content.find_one({"_id": item_id}))

    async def update_content(
        self, item_id: str, changes: dict[str, Any], at: datetime
    ) -> ContentItem | None:
        update = {CONTENT_FIELDS[field]: value for field, value in changes.items()}
        if "tags" in update:
            update["tags"] = list(update["tags"])
        update["updatedAt"] = at
        with unavailable_on_failure("content.update"):
            doc = await self._content.find_one_and_update(
                {"_id": item_id}, {"$set": update},
                return_document=pymongo.ReturnDocument.AFTER,
            )
        await self._bump_catalog()
        return content_from_document(doc)

    async def delete_content(self, item_id: str) -> bool:
        with unavailable_on_failure("content.delete"):
            result = await self._content.delete_one({"_id": item_id})
        await self._bump_catalog()
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
        with unavailable_on_failure("content.list"):
            cursor = self._content.find(selector).sort("_id", DESCENDING).limit(query.limit)
            return [item for doc in await cursor.to_list() if (item := content_from_document(doc))]

    async def active_counts_by_tag(self) -> dict[str, int]:
        pipeline = [
            {"$match": {"isActive": True}},
            {"$unwind": "$tags"},
            {"$group": {"_id": "$tags", "count": {"$sum": 1}}},
        ]
        with unavailable_on_failure("content.counts"):
            docs = await (await self._content.aggregate(pipeline)).to_list()
        return {doc["_id"]: doc["count"] for doc in docs}

    async def catalog_stamp(self) -> int:
        with unavailable_on_failure("meta.catalog"):
            doc = await self._meta.find_one({"_id": "catalog"})
        return int(doc["stamp"]) if doc else 0

    async def _bump_catalog(self) -> None:
        # Every instance compares this with what it built its cache from.
        with unavailable_on_failure("meta.catalog"):
            await self._meta.update_one({"_id": "catalog"}, {"$inc": {"stamp": 1}}, upsert=True)
