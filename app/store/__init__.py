"""Database adapters: `memory_database` (embedded, the default without MONGO_URI) and
`mongo_database` (pymongo async); `open_database` picks the one the settings ask for. The example
domain's stores extend them (`memory`, `mongo`; `app.bootstrap.open_store` opens one)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from app.config import Settings
from app.domain.database import Database
from app.store.memory_database import MemoryDatabase
from app.telemetry import get_logger

if TYPE_CHECKING:
    from pymongo.monitoring import CommandListener

log = get_logger(__name__)


def warn_memory_store() -> None:
    log.warning("store.memory: MONGO_URI is not set; using the embedded memory store "
                "(data is lost on restart)")


def open_database(settings: Settings, listeners: Sequence[CommandListener] = ()) -> Database:
    """The adapter the settings ask for; `listeners` observe every MongoDB command."""
    if settings.mongo_uri is None:
        warn_memory_store()
        return MemoryDatabase()
    from app.store.mongo_database import MongoDatabase  # pymongo is only imported when used

    return MongoDatabase(settings.mongo_uri.reveal(), settings.mongo_db,
                         timeout_ms=settings.mongo_timeout_ms, listeners=listeners)
