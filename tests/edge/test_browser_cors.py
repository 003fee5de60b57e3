"""A real browser (Debian's headless Chromium, driven by Playwright) calls the API from a page on
an allowed origin and from one that is not: the first reads the body and X-Request-Id, the second
is stopped by the browser."""

from __future__ import annotations

import shutil

import pytest
from aiohttp import web

from app.web.app import create_app
from tests.auth.conftest import PASSWORD
from tests.conftest import make_settings, require_or_skip

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
PAGE = "<!doctype html><title>extension stand-in</title><p>calls the API</p>"
PROBE = """async ([api, token]) => {
  try {
    const response = await fetch(api + "/me", {headers: {Authorization: "Bearer " + token}});
    return {ok: true, status: response.status,
            requestId: response.headers.get("X-Request-Id"), body: await response.json()};
  } catch (error) {
    return {ok: false, error: String(error)};
  }
}"""


async def serve_page(aiohttp_server):
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    return await aiohttp_server(app)


async def test_cors_in_a_real_browser(aiohttp_server, aiohttp_client):
    if not shutil.which(CHROMIUM):
        require_or_skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.async_api import async_playwright

    allowed_page = await serve_page(aiohttp_server)
    foreign_page = await serve_page(aiohttp_server)
    allowed_origin = f"http://127.0.0.1:{allowed_page.port}"
    api = await aiohttp_client(create_app(make_settings(
        CORS_ALLOWED_ORIGINS=allowed_origin, AUTH_ALLOW_SELF_REGISTRATION="true")))
    registered = await api.post("/auth/register", json={"email": "browser@example.org",
                                                        "password": PASSWORD})
    token = (await registered.json())["data"]["accessToken"]
    api_url = f"http://127.0.0.1:{api.server.port}"

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = await browser.new_page()
            await page.goto(allowed_origin + "/")
            allowed = await page.evaluate(PROBE, [api_url, token])
            await page.goto(f"http://127.0.0.1:{foreign_page.port}/")
            foreign = await page.evaluate(PROBE, [api_url, token])
        finally:
            await browser.close()

    assert allowed["ok"], allowed
    assert allowed["status"] == 200
    assert allowed["body"]["data"]["email"] == "browser@example.org"
    assert allowed["requestId"] == allowed["body"]["meta"]["requestId"]
    assert not foreign["ok"], foreign
    assert "Failed to fetch" in foreign["error"]


pytestmark = pytest.mark.timeout(120)
