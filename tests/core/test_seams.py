"""What the core takes from the routes and features it serves, not from the example domain: the
stricter rate-limit bucket is the one a route declares (`Operation(limit="auth")`); `create_app`
refuses production settings that were not read for the features' needs; and `python -m app
--help` shows a description with a literal `%`."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from aiohttp import web

from app import __main__ as main_module
from app.config import CORE, ConfigError, Needs, load_settings
from app.web.app import create_app
from app.web.openapi import Operation, route
from tests.conftest import make_settings
from tests.helpers import core_features
from tests.test_config import PROD


async def _signed_in(request: web.Request) -> web.Response:
    return web.Response(status=204)


def _features_with_a_credentials_route():
    core = core_features()

    def mount(app: web.Application) -> None:
        core.mount(app)
        route(app, Operation("POST", "/sign-in", "Check credentials", "example", status=204,
                             limit="auth"), _signed_in)
        route(app, Operation("POST", "/{kind}/sign-in", "Check credentials", "example",
                             status=204, limit="auth"), _signed_in)
        route(app, Operation("POST", "/note", "Not credentials", "example", status=204),
              _signed_in)

    return SimpleNamespace(settings_needs=core.settings_needs, open_database=core.open_database,
                           mount=mount, identify=None, cli=None)


async def test_routes_declaring_the_auth_limit_share_the_stricter_bucket(aiohttp_client):
    settings = make_settings(RATE_LIMIT_AUTH_PER_MINUTE="2", RATE_LIMIT_ANON_PER_MINUTE="100")
    client = await aiohttp_client(create_app(settings,
                                             features=_features_with_a_credentials_route()))
    first = await client.post("/sign-in")
    assert first.status == 204 and first.headers["RateLimit-Limit"] == "2"
    assert (await client.post("/team/sign-in")).status == 204  # a template: the same bucket
    assert (await client.post("/sign-in")).status == 429
    assert (await client.post("/user/sign-in")).status == 429
    # Routes without the declaration keep the address's usual bucket.
    note = await client.post("/note")
    assert note.status == 204 and note.headers["RateLimit-Limit"] == "100"
    assert (await client.get("/hello")).status == 200


def test_production_settings_read_without_the_features_needs_are_refused():
    core = core_features()
    needy = SimpleNamespace(settings_needs=Needs(jwt_secrets=True),
                            open_database=core.open_database, mount=core.mount,
                            identify=None, cli=None)
    settings = load_settings(PROD, needs=CORE)  # read for the core alone: no JWT secrets
    with pytest.raises(ConfigError) as info:
        create_app(settings, features=needy)
    message = "\n".join(str(error) for error in info.value.errors)
    assert "JWT_ACCESS_SECRET" in message and "JWT_REFRESH_SECRET" in message
    assert "load_settings(needs=features.settings_needs)" in message
    # Read for the features' needs, the same environment builds.
    create_app(load_settings(PROD, needs=needy.settings_needs), features=needy)


def test_a_percent_in_the_description_is_shown_as_written(monkeypatch):
    monkeypatch.setattr(main_module, "DESCRIPTION", "%(prog)s 100% of the time")
    helped = main_module._parser(core_features()).format_help()
    assert "%(prog)s 100% of the time" in helped
