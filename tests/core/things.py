"""A service's own collection on the core's MongoDB adapter, as the core's tests need one (the
example domain's `MongoStore` is a bigger one): every call goes through the call boundary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import IndexModel

from app.store.mongo_database import MongoDatabase


class Things(MongoDatabase):
    ttl_collections = ("things",)

    def __init__(self, uri: str, database: str, *, timeout_ms: int) -> None:
        super().__init__(uri, database, timeout_ms=timeout_ms)
        self._things = self._db["things"]

    def required_indexes(self) -> Mapping[str, Sequence[IndexModel]]:
        return {"things": [IndexModel("name", unique=True)]}

    async def get_thing(self, thing_id: str) -> Any:
        return await self._run("things.find", lambda: self._things.find_one({"_id": thing_id}))

    async def add_thing(self, thing_id: str, name: str) -> None:
        await self._run("things.insert",
                        lambda: self._things.insert_one({"_id": thing_id, "name": name}))
