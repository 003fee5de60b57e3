"""What this service serves beyond the observed core: one example route, `GET /hello`
(app.web.hello), on the database the settings ask for. No accounts, no operator sub-commands.

This is the core-only variant of `app.features` (the interface is `app.composition.Features`):
a project generated without the example domain gets this text as `app/features.py`, so it
imports nothing but the core. Add a service's own routes, cleanup contexts and readiness checks
in `mount`; its settings needs in `settings_needs`; its operator commands as `cli`.
"""

from __future__ import annotations

from aiohttp import web

from app.composition import Identify
from app.config import CORE, Needs
from app.store import open_database
from app.web import hello

__all__ = ["cli", "identify", "mount", "open_database", "settings_needs"]

settings_needs: Needs = CORE  # nothing beyond the core's own settings
identify: Identify | None = None  # no one is authenticated: every caller is limited by address
cli = None  # `python -m app` serves; no operator sub-commands


def mount(app: web.Application) -> None:
    hello.setup_routes(app)
