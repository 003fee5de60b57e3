"""Accepts OTLP trace exports and Sentry envelopes and throws them away, so the benchmark pays
for producing telemetry without measuring a collector. Usage: sink.py PORT"""

import sys

from aiohttp import web


async def accept(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=200, text="{}", content_type="application/json")


app = web.Application()
app.router.add_post("/v1/traces", accept)
app.router.add_post("/api/{project}/envelope/", accept)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
