"""The seam between the observed core and what a service serves beyond it.

The core (configuration, the app factory, the request middleware, telemetry, `/health`,
`/ready`, `/metrics`, `/openapi.json`, the lifecycle) is the same in every service made from this
template. What else a service serves is declared by one module, `app.features`, the composition
root of its features: it provides what `Features` names. This repository's `app/features.py`
mounts the example domain (catalog, content, accounts); `app/features_core.py` is the core-only
variant (one example route), and a project generated without the example gets its text as
`app/features.py`.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from app.config import Needs, Settings
from app.domain.database import Database

if TYPE_CHECKING:
    from pymongo.monitoring import CommandListener

# The user id of the authenticated caller, or None (anonymous); it may keep more about the caller
# on the request for the handlers (the example keeps its principal).
Identify = Callable[[web.Request], str | None]
# Opens the database `serve` uses instead of the configured one, on the running loop.
DatabaseLoader = Callable[[], Awaitable[Database]]


class Commands(Protocol):
    """The sub-command registry of `python -m app`: what argparse's `add_subparsers()` returns
    (its class is private), as far as the features use it."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        """A new sub-command `name`; `kwargs` as `argparse.ArgumentParser` takes them, and
        `help` and `aliases`."""


class OperatorCli(Protocol):
    """Operator sub-commands beside `serve` (`python -m app --help`)."""

    def add_commands(self, commands: Commands, serve: argparse.ArgumentParser) -> None:
        """Add sub-commands, and options of `serve` if any."""

    async def run(self, args: argparse.Namespace, settings: Settings) -> int:
        """Run one of the added sub-commands; the exit status."""

    def serve_database(
        self, args: argparse.Namespace, settings: Settings
    ) -> DatabaseLoader | None:
        """The database `serve` should use, when its options ask for one (else None: the
        configured one). May raise ConfigError for options that contradict the settings; the
        loader raises StartupError when it cannot."""


class Features(Protocol):
    """What a features module (`app.features`) provides."""

    @property
    def settings_needs(self) -> Needs:
        """What the features need of the configuration beyond the core (e.g. JWT secrets)."""

    def open_database(
        self, settings: Settings, listeners: Sequence[CommandListener] = ()
    ) -> Database:
        """The database adapter the settings ask for; `listeners` observe MongoDB commands."""

    def mount(self, app: web.Application) -> None:
        """Routes, cleanup contexts (run after the database's, before the dependency ping) and
        readiness checks of the features."""

    @property
    def identify(self) -> Identify | None:
        """Who is calling (a user id), for per-user rate limits and the log context; None when
        the features authenticate no one."""

    @property
    def cli(self) -> OperatorCli | None:
        """Operator sub-commands, or None."""


def service_features() -> Features:
    """This service's features: the module `app.features`, imported when asked for."""
    from app import features

    return features
