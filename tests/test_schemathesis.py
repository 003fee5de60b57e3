"""Property-based run over every route, with an admin's token: generated requests
against the real server find no 500, no response that breaks the OpenAPI document, no schema-valid
request refused (positive data acceptance) and no invalid one accepted (negative data rejection).
Reproducible (fixed seed, derandomized) and bounded: a budget of examples per operation."""

from __future__ import annotations

import re
from collections import Counter

import orjson
import pytest
import requests
import schemathesis
from schemathesis.config import SchemathesisConfig

from app.domain.content.demo import TAGS
from app.domain.content.schemas import SLUG_PATTERN
from app.web.app import create_app
from app.web.keys import OPERATIONS
from app.web.openapi import build_document
from tests.auth.conftest import PASSWORD
from tests.conftest import make_settings
from tests.service import ServiceProcess

ADMIN = "fuzz-admin@example.org"
# Examples per operation in the fuzzing phase (the coverage phase adds its own, a fixed set).
EXAMPLES = 175
# Operations whose only input is a header or two: a few examples say all there is to say.
FEW_EXAMPLES = 20
# The floor of valid requests per full run, so the budget cannot shrink unnoticed.
MIN_VALID_CASES = 2000
# A schema-valid request may only be refused for who asks (401, 403) or for what exists (404,
# 409); 304 answers a conditional GET. A 400, 413, 415 or 429 would be a disagreement (the
# request rate limits are lifted for the suite).
ACCEPTED = ["2xx", "304", "401", "403", "404", "409"]

document = build_document(create_app(make_settings())[OPERATIONS])
config = SchemathesisConfig.from_dict({
    "seed": 20240613,
    "generation": {"deterministic": True, "database": "none", "max-examples": EXAMPLES},
    # Fuzzing draws valid requests only; the coverage phase still sends invalid ones, one per
    # constraint, which is how negative data rejection is checked here.
    "phases": {"fuzzing": {"generation": {"mode": "positive"}}},
    "operations": [
        {"include-path-regex": r"^/(health|ready|metrics|openapi\.json|meta|catalog)$",
         "generation": {"max-examples": FEW_EXAMPLES}},
        # An account's failed logins are budgeted: a valid login can be refused for its history.
        {"include-path": "/auth/login",
         "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "429"]}}},
    ],
    "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}},
})
schema = schemathesis.openapi.from_dict(document, config=config)
_DEMO_TAGS = sorted(TAGS)
ran: Counter[tuple[str, str]] = Counter()  # (operation, generation mode) -> requests
answered: Counter[tuple[str, int]] = Counter()  # (operation, status) of the valid requests


def with_known_tags(body):
    """Tags must also name existing tags, which a JSON Schema cannot say: each valid slug drawn
    becomes one of the demo catalog's, so a valid item is not refused for naming an unknown tag.
    Invalid elements stay as drawn, so an invalid body stays invalid."""
    if isinstance(body, dict) and isinstance(body.get("tags"), list):
        return body | {"tags": [
            _DEMO_TAGS[len(tag) % len(_DEMO_TAGS)]
            if isinstance(tag, str) and re.fullmatch(SLUG_PATTERN, tag) else tag
            for tag in body["tags"]
        ]}
    return body


@pytest.fixture(scope="module")
def service():
    # The memory store with the demo catalog, so lookups sometimes hit real data; registration
    # open, so a valid one gets as far as the store.
    with ServiceProcess(APP_ENV="test", SEED_DEMO_DATA="true", AUTH_ALLOW_SELF_REGISTRATION="true",
                        BOOTSTRAP_ADMIN_EMAIL=ADMIN, BOOTSTRAP_ADMIN_PASSWORD=PASSWORD,
                        ACCESS_TOKEN_TTL_SECONDS="3600") as running:
        yield running


@pytest.fixture(scope="module")
def admin_headers(service) -> dict[str, str]:
    login = requests.post(f"{service.url}/auth/login", json={"email": ADMIN, "password": PASSWORD},
                          timeout=5)
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {orjson.loads(login.content)['data']['accessToken']}"}


@schema.parametrize()
def test_every_route_conforms(case, service, admin_headers):
    # (A map_body hook would be neater, but the coverage phase does not apply it.)
    case.body = with_known_tags(case.body)
    mode = case.meta.generation.mode.value if case.meta else "explicit"
    ran[(case.operation.label, mode)] += 1
    response = case.call_and_validate(base_url=service.url, headers=admin_headers)
    if mode == "positive":
        answered[(case.operation.label, response.status_code)] += 1


def test_the_run_is_as_large_as_budgeted(capsys):
    operations = {f"{method.upper()} {path}" for path, item in document["paths"].items()
                  for method in item}
    if {label for label, _ in ran} != operations:
        pytest.skip("only part of the schemathesis run was selected")
    valid = sum(count for (_, mode), count in ran.items() if mode == "positive")
    accepted = sum(count for (_, status), count in answered.items() if status < 300)
    with capsys.disabled():
        print(f"\nschemathesis: {sum(ran.values())} requests to {len(operations)} operations, "
              f"{valid} of them schema-valid, {accepted} of those answered 2xx")
    assert valid >= MIN_VALID_CASES
    # 401 and 403 pass the acceptance check, so a token the server refused would hide every
    # admin route behind them: the token must have held for the whole run.
    secured = {f"{method.upper()} {path}" for path, item in document["paths"].items()
               for method, operation in item.items() if "security" in operation}
    assert not {key for key in answered if key[0] in secured and key[1] in (401, 403)}
    assert answered[("POST /admin/content", 201)] and answered[("POST /admin/tags", 201)]
