"""Steady load for the outage drill, from its own process: python load.py BASE_URL TOKEN SECONDS
OUT.jsonl. Each request becomes one JSON line: when it started (`at`, wall-clock seconds, so the
drill can line it up with the moment it killed the database), what it asked, the status, the
error code, how long it took, and the id of an acknowledged write. Four times a second a line
samples app_dependency_up from /metrics."""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time

import aiohttp

PATHS = ["/content?limit=5", "/catalog", "/meta"]


async def main(base: str, token: str, seconds: float, out_path: str) -> None:
    started = time.monotonic()
    counter = itertools.count()
    with open(out_path, "w") as out:

        def record(**event: object) -> None:
            out.write(json.dumps(event) + "\n")

        async def reads(session: aiohttp.ClientSession, offset: int) -> None:
            for n in itertools.count(offset):
                path = PATHS[n % len(PATHS)]
                await call(session, "GET", path, None)
                if time.monotonic() - started > seconds:
                    return

        async def writes(session: aiohttp.ClientSession) -> None:
            while time.monotonic() - started < seconds:
                body = {"title": f"drill {next(counter)}", "url": "https://example.org/d",
                        "tags": ["drill"]}
                await call(session, "POST", "/admin/content", body)
                await asyncio.sleep(0.05)

        async def probes(session: aiohttp.ClientSession) -> None:
            # As an orchestrator would: every 100 ms, independently of the other load.
            while time.monotonic() - started < seconds:
                await asyncio.gather(call(session, "GET", "/health", None),
                                     call(session, "GET", "/ready", None), asyncio.sleep(0.1))

        async def gauge(session: aiohttp.ClientSession) -> None:
            while time.monotonic() - started < seconds:
                at = time.time()
                async with session.get(base + "/metrics") as response:
                    text = await response.text()
                value = next((line.rsplit(" ", 1)[1] for line in text.splitlines()
                              if line.startswith('app_dependency_up{dependency="mongo"}')), None)
                record(kind="gauge", at=at, value=float(value) if value else None)
                await asyncio.sleep(0.25)

        async def call(session: aiohttp.ClientSession, method: str, path: str,
                       body: dict | None) -> None:
            at = time.time()
            event: dict[str, object] = {"kind": "request", "at": at, "method": method,
                                        "path": path}
            try:
                async with session.request(
                    method, base + path, json=body,
                    headers={"Authorization": f"Bearer {token}"} if body else None,
                ) as response:
                    payload = await response.json(content_type=None)
                    event["status"] = response.status
                    if response.status >= 400 and "error" in payload:  # probes answer data
                        event["code"] = payload["error"]["code"]
                    elif method == "POST":
                        event["id"] = payload["data"]["id"]
            except (TimeoutError, aiohttp.ClientError) as exc:
                event["status"] = 0
                event["code"] = type(exc).__name__
            event["duration"] = time.time() - at
            record(**event)

        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await asyncio.gather(*(reads(session, n) for n in range(4)), writes(session),
                                 probes(session), gauge(session))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]))
