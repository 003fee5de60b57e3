"""Traffic shaped like the browser extension's, from its own process:

    python -m demo.traffic BASE_URL OUT.jsonl --seconds N   (accounts in DEMO_ACCOUNTS, JSON)

Installs of the extension, each from its own address (X-Forwarded-For, as a load balancer
forwards it) with the extension's Origin, revalidate the catalog with If-None-Match, browse
/content a page at a time (cursors, a tag, a text search), open items, and, signed in, read
/me and rotate their refresh token; now and then one signs in again, mistypes a password, or two
of its tabs race to refresh the same token (the second is a reuse, which revokes the family).
A curator adds and edits items. Bots probe paths that do not exist.

Open loop: each activity starts requests at its own Poisson rate whatever the answers, as real
clients do, so a slow database shows as time spent, not as less traffic. One JSON line per
answer: when it started, the activity, method, path, status (0: no answer), milliseconds, the
X-Request-Id the service returned and the error code. Stops on SIGTERM or after --seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import signal
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

ORIGIN = "chrome-extension://demoextensionid"
EXTENSION_UA = "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 catalog-extension/2.3.1"
BOT_UAS = ("curl/8.5.0", "Mozilla/5.0 (compatible; MJ12bot/v1.4.8)", "python-requests/2.31")
# Requests started per second, by activity.
RATES = {
    "catalog": 5.0, "meta": 0.5, "browse": 4.0, "search": 1.5, "item": 3.0, "me": 1.0,
    "refresh": 0.3, "login": 0.1, "typo": 0.05, "race": 1 / 60, "edit": 0.1, "bot": 1.0,
}
SEARCHES = ("python", "index", "token", "cache", "p99", "async", "backup", "cors", "json",
            "rate", "trace", "runbook")
PROBES = ("/wp-login.php", "/.env", "/.git/config", "/phpmyadmin/index.php", "/xmlrpc.php",
          "/admin/config.php", "/api/v1/users", "/server-status", "/actuator/health",
          "/vendor/phpunit/src/Util/PHP/eval-stdin.php", "/cgi-bin/luci", "/backup.zip")
GONE = "01HZZZZZZZZZZZZZZZZZZZZZZZ"  # an id of the right shape that names nothing
MAX_IN_FLIGHT = 200


@dataclass
class Install:
    address: str
    account: tuple[str, str] | None = None
    etag: str | None = None
    meta_etag: str | None = None
    cursor: str | None = None
    tag: str | None = None
    access: str | None = None
    refresh: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {"X-Forwarded-For": self.address, "Origin": ORIGIN, "User-Agent": EXTENSION_UA}
        if self.access:
            headers["Authorization"] = f"Bearer {self.access}"
        return headers


@dataclass
class Traffic:
    base: str
    out: Any
    accounts: dict[str, Any]
    rng: random.Random = field(default_factory=lambda: random.Random(17))
    ids: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    edited: list[str] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    counter: itertools.count[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.anonymous = [Install(f"198.51.100.{n}") for n in range(10, 22)]
        self.signed_in = [Install(f"198.51.100.{30 + n}", tuple(account))
                          for n, account in enumerate(self.accounts["users"])]
        self.curator = Install("198.51.100.40", tuple(self.accounts["curator"]))
        self.installs = self.anonymous + self.signed_in

    async def call(self, session: aiohttp.ClientSession, activity: str, method: str, path: str,
                   headers: dict[str, str], body: Any = None) -> tuple[int, Any, Any]:
        started, payload, status, answer_headers = time.time(), None, 0, {}
        code = None
        try:
            async with session.request(method, self.base + path, json=body,
                                       headers=headers) as response:
                status, answer_headers = response.status, response.headers
                if response.content_type == "application/json":
                    payload = await response.json()
                else:
                    await response.read()
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            code = type(exc).__name__
        if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
            code = payload["error"].get("code")
        self.out.write(json.dumps({
            "t": round(started, 3), "a": activity, "m": method, "p": path[:120], "s": status,
            "ms": round((time.time() - started) * 1000, 1),
            "rid": answer_headers.get("X-Request-Id"), "code": code,
        }) + "\n")
        return status, payload, answer_headers

    # The activities: each one request (or a short exchange) of one client.

    async def catalog(self, session: aiohttp.ClientSession) -> None:
        install = self.rng.choice(self.installs)
        headers = install.headers()
        if install.etag:
            headers["If-None-Match"] = install.etag
        status, payload, answer = await self.call(session, "catalog", "GET", "/catalog", headers)
        if status == 200:
            install.etag = answer.get("ETag")
            self.tags = [tag["slug"] for tag in payload["data"]["tags"]]

    async def meta(self, session: aiohttp.ClientSession) -> None:
        install = self.rng.choice(self.installs)
        headers = install.headers()
        if install.meta_etag:
            headers["If-None-Match"] = install.meta_etag
        status, _, answer = await self.call(session, "meta", "GET", "/meta", headers)
        if status == 200:
            install.meta_etag = answer.get("ETag")

    async def browse(self, session: aiohttp.ClientSession) -> None:
        install = self.rng.choice(self.installs)
        if install.cursor and self.rng.random() < 0.6:
            query = f"?limit=10&cursor={install.cursor}"
            if install.tag:
                query += f"&tag={install.tag}"
        else:
            install.tag = self.rng.choice(self.tags) if self.tags and \
                self.rng.random() < 0.3 else None
            query = "?limit=10" + (f"&tag={install.tag}" if install.tag else "")
        await self._page(session, install, "browse", "/content" + query)

    async def search(self, session: aiohttp.ClientSession) -> None:
        install = self.rng.choice(self.installs)
        await self._page(session, install, "search",
                         f"/content?q={self.rng.choice(SEARCHES)}&limit=10")

    async def _page(self, session: aiohttp.ClientSession, install: Install, activity: str,
                    path: str) -> None:
        status, payload, _ = await self.call(session, activity, "GET", path, install.headers())
        if status == 200:
            items = payload["data"]
            if activity == "browse":
                install.cursor = payload["meta"].get("nextCursor")
            for item in items:
                if item["id"] not in self.ids:
                    self.ids.append(item["id"])

    async def item(self, session: aiohttp.ClientSession) -> None:
        if not self.ids:
            return
        install = self.rng.choice(self.installs)
        # Now and then a link to an item that is gone (an old share): 404.
        item = self.rng.choice(self.ids) if self.rng.random() > 0.03 else GONE
        await self.call(session, "item", "GET", f"/content/{item}", install.headers())

    async def me(self, session: aiohttp.ClientSession) -> None:
        install = self.rng.choice(self.signed_in)
        if install.access is None:
            await self._login(session, install)
            return
        status, _, _ = await self.call(session, "me", "GET", "/me", install.headers())
        if status == 401:
            await self._login(session, install)

    async def refresh(self, session: aiohttp.ClientSession) -> None:
        install = self.rng.choice(self.signed_in)
        if install.refresh is None:
            await self._login(session, install)
            return
        status, payload, _ = await self.call(session, "refresh", "POST", "/auth/refresh",
                                             self._plain(install),
                                             {"refreshToken": install.refresh})
        if status == 200:
            install.access = payload["data"]["accessToken"]
            install.refresh = payload["data"]["refreshToken"]
        elif status == 401:
            install.access = install.refresh = None

    async def race(self, session: aiohttp.ClientSession) -> None:
        """Two tabs refresh the same token at once: one rotation, one reuse."""
        install = self.rng.choice(self.signed_in)
        if install.refresh is None:
            return
        body = {"refreshToken": install.refresh}
        await asyncio.gather(*(self.call(session, "race", "POST", "/auth/refresh",
                                         self._plain(install), body) for _ in range(2)))
        install.access = install.refresh = None  # the family is revoked: sign in again

    async def login(self, session: aiohttp.ClientSession) -> None:
        await self._login(session, self.rng.choice(self.signed_in))

    async def typo(self, session: aiohttp.ClientSession) -> None:
        install = self.rng.choice(self.signed_in)
        assert install.account is not None
        await self.call(session, "typo", "POST", "/auth/login", self._plain(install),
                        {"email": install.account[0], "password": "not-my-password-123"})

    async def _login(self, session: aiohttp.ClientSession, install: Install) -> None:
        assert install.account is not None
        email, password = install.account
        status, payload, _ = await self.call(session, "login", "POST", "/auth/login",
                                             self._plain(install),
                                             {"email": email, "password": password})
        if status == 200:
            install.access = payload["data"]["accessToken"]
            install.refresh = payload["data"]["refreshToken"]

    def _plain(self, install: Install) -> dict[str, str]:
        return {k: v for k, v in install.headers().items() if k != "Authorization"}

    async def edit(self, session: aiohttp.ClientSession) -> None:
        curator = self.curator
        if curator.access is None:
            await self._login(session, curator)
            return
        n = next(self.counter)
        if self.edited and n % 2:
            item = self.rng.choice(self.edited)
            await self.call(session, "edit", "PATCH", f"/admin/content/{item}",
                            curator.headers(), {"title": f"Reading list, revised ({n})"})
            return
        tags = [self.rng.choice(self.tags)] if self.tags else []
        status, payload, _ = await self.call(
            session, "edit", "POST", "/admin/content", curator.headers(),
            {"title": f"Reading list #{n}", "url": f"https://example.org/reading/{n}",
             "tags": tags})
        if status == 201:
            self.edited.append(payload["data"]["id"])
        elif status == 401:
            curator.access = None

    async def bot(self, session: aiohttp.ClientSession) -> None:
        path = self.rng.choice(PROBES)
        if self.rng.random() < 0.3:
            path = f"/{self.rng.getrandbits(32):08x}{path}"
        headers = {"X-Forwarded-For": self.rng.choice(("203.0.113.7", "203.0.113.66")),
                   "User-Agent": self.rng.choice(BOT_UAS)}
        await self.call(session, "bot", "GET", path, headers)

    async def run(self, seconds: float) -> None:
        timeout = aiohttp.ClientTimeout(total=5)
        connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            # The signed-in installs start signed in (two at a time: the service hashes two
            # passwords at once and refuses a login that waits long), then traffic flows.
            gate = asyncio.Semaphore(2)

            async def sign_in(install: Install) -> None:
                async with gate:
                    await self._login(session, install)

            await asyncio.gather(*(sign_in(install)
                                   for install in [*self.signed_in, self.curator]))
            await self.catalog(session)
            self.out.write(json.dumps({"t": round(time.time(), 3), "a": "ready", "s": -1}) + "\n")
            self.out.flush()
            loops = [asyncio.create_task(self._loop(session, name, rate))
                     for name, rate in RATES.items()]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), seconds)
            for loop in loops:
                loop.cancel()
            if self.tasks:
                await asyncio.wait(self.tasks, timeout=6)

    async def _loop(self, session: aiohttp.ClientSession, name: str, rate: float) -> None:
        activity = getattr(self, name)
        rng = random.Random(f"{name}-17")
        while True:
            await asyncio.sleep(rng.expovariate(rate))
            if len(self.tasks) >= MAX_IN_FLIGHT:
                continue  # a client gives up rather than pile on without bound
            task = asyncio.create_task(self._guarded(name, activity, session))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)


    async def _guarded(self, name: str, activity: Any, session: aiohttp.ClientSession) -> None:
        """An answer this client did not expect is written down, and the traffic goes on."""
        try:
            await activity(session)
        except (KeyError, TypeError, IndexError) as exc:
            self.out.write(json.dumps({"t": round(time.time(), 3), "a": name, "s": -1,
                                       "code": f"client: {exc!r}"}) + "\n")


async def main(base: str, out_path: str, seconds: float) -> None:
    accounts = json.loads(os.environ["DEMO_ACCOUNTS"])
    with open(out_path, "w", buffering=1 << 16) as out:
        traffic = Traffic(base, out, accounts)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, traffic.stop.set)

        async def flush() -> None:  # the demo reads the file as it grows
            while True:
                await asyncio.sleep(0.5)
                out.flush()

        flusher = asyncio.create_task(flush())
        try:
            await traffic.run(seconds)
        finally:
            flusher.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base")
    parser.add_argument("out")
    parser.add_argument("--seconds", type=float, default=600)
    args = parser.parse_args()
    asyncio.run(main(args.base, args.out, args.seconds))
