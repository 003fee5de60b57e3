"""An in-process event bus: the domain publishes what changed, subscribers (the catalog cache)
react. Handlers run before `publish` returns, so the instance that made a change serves it at
once; a failing handler is logged and never fails the change that already happened."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable

from app.domain.errors import DependencyUnavailable

CONTENT_CHANGED = "content.changed"
TAG_RENAMED = "tag.renamed"

Handler = Callable[[str], Awaitable[object]]
log = logging.getLogger("app.events")


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)

    def subscribe(self, event: str, handler: Handler) -> None:
        self._handlers[event].append(handler)

    async def publish(self, event: str) -> None:
        for handler in self._handlers[event]:
            try:
                await handler(event)
            except DependencyUnavailable:
                log.warning("event.handler_deferred: the store is unavailable; the periodic "
                            "refresh will catch up", extra={"fields": {"event": event}})
            except Exception:
                log.exception("event.handler_failed", extra={"fields": {"event": event}})
