"""The service's name and description, as service.yml declares them.

`make generate` writes app/identity.json from service.yml (a project made with copier gets it
from its answers), so the installed package knows its own name without the repository beside it.
The name is the default OTEL_SERVICE_NAME and JWT issuer, the OpenAPI title, the MongoDB appname
and the distribution whose version the service reports.
"""

from __future__ import annotations

import json
from pathlib import Path

_IDENTITY = json.loads(Path(__file__).with_name("identity.json").read_text(encoding="utf-8"))
NAME: str = _IDENTITY["name"]
DESCRIPTION: str = _IDENTITY["description"]
