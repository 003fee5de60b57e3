"""Storage port and adapters; `open_store` picks the adapter the settings ask for."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from app.config import Settings
from app.store.base import Store
from app.store.memory import MemoryStore
from app.telemetry import get_logger

if TYPE_CHECKING:
    from pymongo.monitoring import CommandListener

log = get_logger(__name__)


def open_store(settings: Settings, listeners: Sequence[CommandListener] = ()) -> Store:
    """The adapter the settings ask for; `listeners` observe every MongoDB command."""
    if settings.mongo_uri is None:
        log.warning("store.memory: MONGO_URI is not set; using the embedded memory store "
                    "(data is lost on restart)")
        return MemoryStore()
    from app.store.mongo import MongoStore  # pymongo is only imported when it is used

    return MongoStore(settings.mongo_uri.reveal(), settings.mongo_db,
                      timeout_ms=settings.mongo_timeout_ms, listeners=listeners)


__all__ = ["MemoryStore", "Store", "open_store"]
