"""Property-based run over the public routes: generated requests against the real server find no
500 and no response that breaks the OpenAPI document. Bounded: a fixed number of examples."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from app.web.app import create_app
from app.web.keys import OPERATIONS
from app.web.openapi import build_document
from tests.conftest import make_settings
from tests.service import ServiceProcess

document = build_document(create_app(make_settings())[OPERATIONS])
# Public routes: those that need no bearer token.
schema = schemathesis.openapi.from_dict(document).include(
    lambda ctx: "security" not in ctx.operation.definition.raw
)


@pytest.fixture(scope="module")
def service():
    # The memory store with the demo catalog, so lookups sometimes hit real data.
    with ServiceProcess(APP_ENV="test", SEED_DEMO_DATA="true") as running:
        yield running


@schema.parametrize()
@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_public_routes_conform(case, service):
    case.call_and_validate(base_url=service.url)
