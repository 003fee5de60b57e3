"""Every metric DESIGN.md names, after the example domain's traffic that makes it; the example's
SLO series present from the start."""

import pytest

from app.web.app import create_app
from tests.auth.conftest import PASSWORD
from tests.conftest import make_settings
from tests.telemetry.test_metrics import samples, scrape

DESIGN_METRICS = {
    "http_requests_total", "http_request_duration_seconds", "http_requests_in_flight",
    "mongo_command_duration_seconds", "catalog_cache_requests_total", "auth_events_total",
    "ratelimit_rejections_total", "app_dependency_up", "app_build_info",
}


@pytest.fixture
async def client(aiohttp_client, mongo_settings):
    settings = make_settings(
        MONGO_URI=mongo_settings.mongo_uri.reveal(), MONGO_DB=mongo_settings.mongo_db,
        AUTH_ALLOW_SELF_REGISTRATION="true", RATE_LIMIT_AUTH_PER_MINUTE="3",
        DEPENDENCY_PING_SECONDS="0.1",
    )
    return await aiohttp_client(create_app(settings))


async def test_every_design_metric_after_the_traffic_that_makes_it(client):
    await client.get("/catalog")
    await client.get("/content")
    await client.post("/auth/register", json={"email": "m@example.org", "password": PASSWORD})
    for _ in range(3):
        await client.post("/auth/login", json={"email": "m@example.org", "password": "wrong!!"})
    text = await scrape(client)
    found = samples(text)
    for name in DESIGN_METRICS:
        assert any(key == name or key.startswith(name + "_") for key in found), name
    assert "process_resident_memory_bytes" in found  # process metrics stay on

    labels = {tuple(sorted(s.labels.items())) for s in found["http_requests_total"]}
    assert (("method", "GET"), ("route", "/content"), ("status", "200")) in labels
    assert all(dict(label)["route"] != "/metrics" for label in labels)
    assert {s.labels["event"] for s in found["auth_events_total"]} >= {
        "registered", "login_failure"}
    rejections = {s.labels["scope"]: s.value for s in found["ratelimit_rejections_total"]
                  if s.name.endswith("_total")}
    assert rejections.keys() == {"ip", "user", "account"} and rejections["ip"] >= 1
    assert {s.labels["result"]: s.value for s in found["catalog_cache_requests_total"]}["hit"] >= 1
    assert {s.labels["outcome"] for s in found["mongo_command_duration_seconds_count"]} >= {"ok"}
    assert found["app_dependency_up"][0].value == 1
    build = found["app_build_info"][0]
    assert build.value == 1 and set(build.labels) == {"version", "commit"}


async def test_the_slo_series_exist_at_zero_before_any_request(aiohttp_client, settings):
    client = await aiohttp_client(create_app(settings))
    found = samples(await scrape(client))
    counts = {(s.labels["route"], s.labels["status"]): s.value
              for s in found["http_requests_total"]}
    assert counts[("/catalog", "500")] == 0 and counts[("/catalog", "200")] == 0
    assert counts[("/content/{id}", "503")] == 0
    buckets = [s for s in found["http_request_duration_seconds_bucket"]
               if s.labels["route"] == "/content" and s.labels["le"] == "0.3"]
    assert buckets and buckets[0].value == 0


async def test_each_store_operation_is_labelled_with_the_command_it_sends_first(mongo_settings):
    # What the boundary records when an operation reaches no server must be a label the
    # commands of that operation use when it does: every store contract test runs here on the
    # real server, and each operation's label is compared with its first command.
    import inspect
    import re
    import uuid

    from pymongo import monitoring

    from app.composition import service_features
    from app.domain.ratelimit import Limit
    from app.store.mongo_calls import current_operation
    from tests.conftest import make_settings
    from tests.service import REPO
    from tests.store import test_auth_contract, test_content_contract

    class FirstCommands(monitoring.CommandListener):
        def __init__(self) -> None:
            self.first: dict[int, tuple[object, str]] = {}  # holds each operation: ids stay unique

        def started(self, event: monitoring.CommandStartedEvent) -> None:
            operation = current_operation()
            if operation is not None and id(operation) not in self.first:
                self.first[id(operation)] = (operation, event.command_name)

        def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
            pass

        def failed(self, event: monitoring.CommandFailedEvent) -> None:
            pass

    recorder = FirstCommands()
    contract = [test for module in (test_auth_contract, test_content_contract)
                for name, test in vars(module).items()
                if name.startswith("test_") and inspect.iscoroutinefunction(test)]
    assert len(contract) >= 10

    async def core(store) -> None:  # what the core asks of the database besides
        await store.ping(1.0)
        limiter = store.shared_rate_limiter()
        await limiter.prepare()
        await limiter.hit("ip:203.0.113.9", Limit(5))

    for test in [*contract, core]:
        settings = make_settings(MONGO_URI=mongo_settings.mongo_uri.reveal(),
                                 MONGO_DB=f"labels_{uuid.uuid4().hex[:10]}")
        store = service_features().open_database(settings, [recorder])
        await store.connect()
        try:
            await test(store)
        except pytest.skip.Exception:  # rename on a server without transactions
            pass
        finally:
            await store._client.drop_database(settings.mongo_db)
            await store.close()

    seen: dict[str, set[tuple[str, str]]] = {}
    for operation, first in recorder.first.values():
        seen.setdefault(operation.name, set()).add((operation.command, first))
    wrong = {name: pairs for name, pairs in seen.items()
             if any(label != first for label, first in pairs)}
    assert not wrong, wrong  # {operation: {(its label, the command it sent first)}}
    # Every operation the adapters name ran here (the transaction of a tag rename excepted:
    # FerretDB has none, see DESIGN.md).
    source = "\n".join(path.read_text() for path in (REPO / "app" / "store").glob("*.py"))
    named = set(re.findall(r'(?:_run|\.run|_catalog_write)\(\s*"([a-z_.]+)"', source))
    assert named - set(seen) == {"tags.rename"}
