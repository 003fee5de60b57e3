import asyncio
import re

import pytest

from app.web.app import create_app

GENERATED = re.compile(r"req_[0-9A-HJKMNP-TV-Z]{26}")


@pytest.fixture
async def client(aiohttp_client, settings):
    return await aiohttp_client(create_app(settings))


async def test_generated_when_absent(client):
    response = await client.get("/health")
    request_id = response.headers["X-Request-Id"]
    assert GENERATED.fullmatch(request_id)
    assert (await response.json())["meta"]["requestId"] == request_id


async def test_generated_ids_are_unique(client):
    ids = {(await client.get("/health")).headers["X-Request-Id"] for _ in range(20)}
    assert len(ids) == 20


async def test_valid_client_id_is_echoed(client):
    response = await client.get("/health", headers={"X-Request-Id": "ext-1234.abc:XYZ_9"})
    assert response.headers["X-Request-Id"] == "ext-1234.abc:XYZ_9"
    assert (await response.json())["meta"]["requestId"] == "ext-1234.abc:XYZ_9"


@pytest.mark.parametrize(
    "hostile",
    [
        "a" * 129,
        "has space",
        'quote"injection',
        "semi;colon",
        "{json}",
        "ünïcode",
    ],
)
async def test_malformed_client_id_is_replaced(client, hostile):
    response = await client.get("/health", headers={"X-Request-Id": hostile})
    assert GENERATED.fullmatch(response.headers["X-Request-Id"])


async def raw_request(client, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(request)
    await writer.drain()
    raw = await reader.read()
    writer.close()
    return raw


async def test_escaped_newline_in_id_is_replaced(client, logs):
    raw = await raw_request(
        client,
        b"GET /health HTTP/1.1\r\nHost: x\r\n"
        b'X-Request-Id: abc\\n{"level":"error","msg":"forged"}\r\n'
        b"Connection: close\r\n\r\n",
    )
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    assert head.startswith("HTTP/1.1 200")
    request_id = re.search(r"X-Request-Id: (\S+)", head).group(1)
    assert GENERATED.fullmatch(request_id)
    assert "forged" not in logs.text


async def test_raw_newline_in_header_cannot_forge_a_log_line(client, logs):
    raw = await raw_request(
        client,
        b"GET /health HTTP/1.1\r\nHost: x\r\n"
        b'X-Request-Id: abc\n{"level":"error","msg":"forged"}\r\n'
        b"Connection: close\r\n\r\n",
    )
    assert raw.startswith(b"HTTP/1.0 400")  # aiohttp's parser refuses it before routing
    lines = logs.lines()  # every line still parses as one JSON object
    assert all(line["msg"] != "forged" for line in lines)
    malformed = [line for line in lines if line["msg"] == "request.malformed_http"]
    assert len(malformed) == 1 and malformed[0]["level"] == "warn"
    assert not [line for line in lines if line["level"] == "error"]


async def test_header_on_every_kind_of_response(client):
    for method, path in [("GET", "/health"), ("GET", "/nope"), ("POST", "/health"),
                         ("GET", "/__test__/boom")]:
        response = await client.request(method, path)
        assert GENERATED.fullmatch(response.headers["X-Request-Id"]), (method, path)


def test_generated_ids_are_unique_ulids_in_order_within_a_millisecond():
    # Monotonic ULIDs: the low bits count up within a millisecond, so a burst stays unique.
    import time

    import ulid

    from app.web.middlewares import new_request_id

    before = int(time.time() * 1000)
    ids = [new_request_id() for _ in range(50_000)]
    after = int(time.time() * 1000)
    assert len(set(ids)) == len(ids) and ids == sorted(ids)
    assert all(GENERATED.fullmatch(request_id) for request_id in ids)
    stamps = [ulid.ULID.from_str(request_id[4:]).milliseconds for request_id in (ids[0], ids[-1])]
    assert before <= stamps[0] <= stamps[1] <= after
