"""The framework's limit: bare aiohttp answering GET /catalog with the same bytes the service
serves (the envelope included), nothing else. Usage: bare_app.py PORT BODY_FILE"""

import sys

from aiohttp import web

BODY = open(sys.argv[2], "rb").read()  # noqa: SIM115 - read once at start


async def catalog(request: web.Request) -> web.Response:
    return web.Response(body=BODY, content_type="application/json")


app = web.Application()
app.router.add_get("/catalog", catalog)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
