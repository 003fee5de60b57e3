"""What this service serves beyond the observed core (the interface is `app.composition.Features`):
the example domain, a curated content catalog with accounts (catalog, content and admin routes,
`/auth/*` and `/me`, the catalog cache, the bootstrap admin, the demo seed), its store on the
database the settings ask for, bearer-token authentication, and the operator sub-commands.

`create_app` and `python -m app` import this module; nothing in the core imports the example
domain otherwise. A project generated without the example gets `app/features_core.py`'s text
here instead.
"""

from __future__ import annotations

from app import cli
from app.bootstrap import open_store as open_database
from app.bootstrap import settings_needs
from app.web.authn import identify
from app.web.example_domain import mount

__all__ = ["cli", "identify", "mount", "open_database", "settings_needs"]
