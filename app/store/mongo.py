"""The example domain's MongoDB adapter: `MongoStore` is the core `MongoDatabase` (client, call
boundary, ping, preparation, shared rate limiter: see `app.store.mongo_database`) plus the
collections of accounts, refresh tokens, tags and content, and their indexes.

Every operation goes through the database's call boundary (`self._run`), so it is bounded by
MONGO_TIMEOUT_MS plus a margin and every failure that means the database cannot serve arrives as
`StoreUnavailable`. Tag rename needs a transaction: on a standalone server (FerretDB v1, a single
mongod) it answers 503 with a clear message.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import pymongo
from pymongo import ASCENDING, DESCENDING, IndexModel, monitoring

from app.domain.auth.models import RefreshToken, User
from app.domain.content.models import ContentItem, ContentQuery, Tag
from app.domain.database import StoreUnavailable
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
from app.store.mongo_database import DEADLINE_MARGIN as DEADLINE_MARGIN  # re-exported
from app.store.mongo_database import MongoDatabase

T = TypeVar("T")


def required_indexes() -> dict[str, list[IndexModel]]:
    """The indexes the service relies on, by collection (the unique ones are what makes an
    email, a token id or a tag slug unique); a restore ensures them too, whatever the backup
    says. TTL indexes are not here: the server may lack them (see `ttl_collections`)."""
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


def _revoked(at: datetime, by: str | None) -> dict[str, Any]:
    # Without a `by` the document keeps the shape it always had (a logout, a reuse).
    return {"revokedAt": at} if by is None else {"revokedAt": at, "revokedBy": by}


class MongoStore(MongoDatabase):
    ttl_collections = ("refresh_tokens", "refresh_families")
    needs_transactions = True  # tag rename

    def __init__(self, uri: str, database: str, *, timeout_ms: int,
                 listeners: Sequence[monitoring.CommandListener] = ()) -> None:
        super().__init__(uri, database, timeout_ms=timeout_ms, listeners=listeners)
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

    def required_indexes(self) -> Mapping[str, Sequence[IndexModel]]:
        return required_indexes()

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

    async def set_password_hash(
        self, user_id: str, password_hash: str, at: datetime, *, replaces: str | None = None
    ) -> bool:
        selector = {"_id": user_id} if replaces is None else {"_id": user_id,
                                                              "passwordHash": replaces}
        result = await self._run("users.update", lambda: self._users.update_one(
            selector, {"$set": {"passwordHash": password_hash, "updatedAt": at}}
        ))
        return result.matched_count == 1

    async def set_user_disabled(self, user_id: str, disabled: bool, at: datetime) -> User | None:
        return await self._update_user(user_id, {"disabled": disabled, "updatedAt": at})

    async def set_user_roles(
        self, user_id: str, roles: tuple[str, ...], at: datetime
    ) -> User | None:
        return await self._update_user(user_id, {"roles": list(roles), "updatedAt": at})

    async def _update_user(self, user_id: str, changes: dict[str, Any]) -> User | None:
        doc = await self._run("users.update", lambda: self._users.find_one_and_update(
            {"_id": user_id}, {"$set": changes}, return_document=pymongo.ReturnDocument.AFTER,
        ), command="findAndModify")
        return user_from_document(doc)

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

    async def revoke_refresh_family(
        self, family_id: str, at: datetime, *, by: str | None = None
    ) -> int:
        async def revoke() -> int:
            await self._families.update_one(
                {"_id": family_id, "revokedAt": None}, {"$set": {"revokedAt": at}}
            )
            result = await self._tokens.update_many(
                {"familyId": family_id, "revokedAt": None}, {"$set": _revoked(at, by)}
            )
            return result.modified_count

        return await self._run("refresh_families.revoke", revoke, command="update")

    async def insert_refresh_token(self, token: RefreshToken) -> None:
        await self._run("refresh_tokens.insert",
                        lambda: self._tokens.insert_one(token_document(token)))

    async def get_refresh_token(self, jti: str) -> RefreshToken | None:
        doc = await self._run("refresh_tokens.find", lambda: self._tokens.find_one({"jti": jti}))
        return token_from_document(doc)

    async def mark_refresh_token_used(self, jti: str, at: datetime, replaced_by: str) -> None:
        await self._run("refresh_tokens.mark_used", lambda: self._tokens.update_one(
            {"jti": jti, "usedAt": None}, {"$set": {"usedAt": at, "replacedBy": replaced_by}}
        ), command="update")

    async def revoke_user_refresh_tokens(
        self, user_id: str, at: datetime, *, by: str | None = None
    ) -> int:
        async def revoke() -> int:
            await self._families.update_many(
                {"userId": user_id, "revokedAt": None}, {"$set": {"revokedAt": at}}
            )
            result = await self._tokens.update_many(
                {"userId": user_id, "revokedAt": None}, {"$set": _revoked(at, by)}
            )
            return result.modified_count

        return await self._run("refresh_tokens.revoke_user", revoke, command="update")

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
            return await self._catalog_write("tags.rename", in_transaction,
                                             command="findAndModify")
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
        ), command="findAndModify")
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
        pipeline: list[dict[str, Any]] = [
            {"$match": {"isActive": True}},
            {"$unwind": "$tags"},
            {"$group": {"_id": "$tags", "count": {"$sum": 1}}},
        ]
        async def counts() -> list[dict[str, Any]]:
            return await (await self._content.aggregate(pipeline)).to_list()

        docs = await self._run("content.counts", counts, command="aggregate")
        return {doc["_id"]: doc["count"] for doc in docs}

    async def catalog_stamp(self) -> int:
        if self._bumps_paid < self._bumps_failed:
            # A write landed but its bump did not: without this the stamp would stay put and
            # no instance would rebuild. Every refresher calls here, so the debt is paid soon.
            await self._bump_catalog()
        doc = await self._run("meta.catalog", lambda: self._meta.find_one({"_id": "catalog"}),
                              command="find")
        return int(doc["stamp"]) if doc else 0

    async def _catalog_write(self, operation: str, call: Callable[[], Awaitable[T]],
                             command: str | None = None) -> T:
        """A write the catalog and content snapshots depend on, then the stamp bump. A write
        that fails as unavailable may still have landed (a timeout after the server applied
        it): a bump is owed then too. `command`: as for `_run`."""
        try:
            result = await self._run(operation, call, command=command)
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
                {"_id": "catalog"}, {"$inc": {"stamp": 1}}, upsert=True), command="update")
        except BaseException:
            # Timed out, unreachable or the caller cancelled: it may not have landed, so owe one
            # (a bump too many costs each instance one rebuild; one too few, staleness).
            self._bumps_failed += 1
            raise
        self._bumps_paid = max(self._bumps_paid, covers)
