"""Connections are bounded in time and number, and a bad HOST or busy PORT stops the start.

Hostile clients are raw sockets against the real service (a subprocess) on 127.0.0.1, with
deadlines of about a second; every loop here is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from app.web import connections
from app.web.connections import (
    Throttled,
    accept_error_handler,
    bind,
    fd_budget,
    parsed_requests,
)
from tests.conftest import TEST_ENV, free_port
from tests.helpers import call, wait_until
from tests.service import REPO, ServiceProcess

HEADER_S, BODY_S, KEEPALIVE_S = 1.0, 1.0, 3.0
MARGIN_S = 2.0  # timer slack and a loaded machine; far below the unbounded minutes before
HEAD = b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n"


@pytest.fixture(scope="module")
def service() -> Iterator[ServiceProcess]:
    with ServiceProcess(
        HTTP_HEADER_TIMEOUT_SECONDS=str(HEADER_S),
        HTTP_BODY_TIMEOUT_SECONDS=str(BODY_S),
        HTTP_KEEPALIVE_TIMEOUT_SECONDS=str(KEEPALIVE_S),
    ) as running:
        yield running


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body, and not a byte more (pipelining)."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        assert byte, f"closed before a full response head: {head!r}"
        head += byte
    status_line, *lines = head.decode("latin-1").strip().split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in
               (line.partition(":") for line in lines)}
    body = b""
    while len(body) < int(headers.get("content-length", "0")):
        chunk = sock.recv(int(headers["content-length"]) - len(body))
        assert chunk, "closed mid-body"
        body += chunk
    return int(status_line.split()[1]), headers, body


def closed_after(sock: socket.socket, limit: float) -> float:
    """Seconds until the server closes `sock` (reading and discarding), failing past `limit`."""
    start = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - start < limit:
        try:
            if not sock.recv(65536):
                return time.monotonic() - start
        except TimeoutError:
            continue
        except ConnectionResetError:
            return time.monotonic() - start
    raise AssertionError(f"still open after {limit} s")


def trickle(sock: socket.socket, data: bytes, interval: float, limit: float) -> tuple[float, bytes]:
    """Send `data` a byte every `interval` seconds (never idle for as long as any deadline)
    until the server closes the connection; (seconds until then, what the server sent)."""
    start, received = time.monotonic(), b""
    sock.settimeout(interval)
    for i in range(len(data)):
        if time.monotonic() - start > limit:
            raise AssertionError(f"still open after {limit} s, {i} bytes sent")
        if not received:  # once answered, only listen for the close
            try:
                sock.sendall(data[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - start, received
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return time.monotonic() - start, received
        if not chunk:
            return time.monotonic() - start, received
        received += chunk
    raise AssertionError("ran out of bytes before the server closed the connection")


# Time ---------------------------------------------------------------------------------------

async def test_slowloris_heads_are_cut_at_the_header_deadline(service):
    """50 connections each sending a header byte every 0.3 s: bytes keep arriving, so an idle
    timer never fires; the deadline for the whole head does."""
    partial = b"GET /health HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"a" * 400

    async def slowloris() -> float:
        # Timed from before the connect: the server's deadline starts at its accept, which is
        # never earlier, while this loop may get back to the connected socket late (50 at once).
        start = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", service.port)
        try:
            for byte in partial:
                writer.write(bytes([byte]))
                try:
                    if await asyncio.wait_for(reader.read(65536), timeout=0.3) == b"":
                        return time.monotonic() - start
                except TimeoutError:
                    continue
            raise AssertionError("the head was never cut")
        except ConnectionError:
            return time.monotonic() - start
        finally:
            writer.close()

    held = await asyncio.wait_for(
        asyncio.gather(*(slowloris() for _ in range(50))), timeout=HEADER_S + 3 * MARGIN_S)
    assert max(held) < HEADER_S + MARGIN_S, held
    assert min(held) > HEADER_S - 0.2, held  # several bytes went through first
    assert call(service.url + "/health")[0] == 200


def test_a_silent_connection_is_cut_at_the_header_deadline(service):
    with connect(service.port) as sock:
        assert closed_after(sock, HEADER_S + MARGIN_S) > HEADER_S - 0.2


def test_slow_body_read_by_a_handler_is_answered_408_then_closed(service):
    with connect(service.port) as sock:
        sock.sendall(b"POST /__test__/echo HTTP/1.1\r\nHost: t\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 400\r\n\r\n")
        seconds, received = trickle(sock, b'{"k": "' + b"v" * 390 + b'"}', 0.3,
                                    BODY_S + MARGIN_S)
    assert seconds < BODY_S + MARGIN_S
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), received
    envelope = orjson.loads(body)
    assert set(envelope) == {"error", "meta"} and envelope["meta"]["requestId"]


def test_slow_body_nobody_reads_is_cut_without_a_logged_error(service):
    """The handler answers without reading; aiohttp then drains the body, and the deadline
    ends that drain (quietly: it is the intended outcome, not an unhandled exception)."""
    with connect(service.port) as sock:
        sock.sendall(b"POST /health HTTP/1.1\r\nHost: t\r\nContent-Length: 400\r\n\r\n")
        seconds, received = trickle(sock, b"x" * 400, 0.3, BODY_S + MARGIN_S)
    assert seconds < BODY_S + MARGIN_S
    assert received.startswith(b"HTTP/1.1 405 "), received
    time.sleep(0.2)
    assert "Unhandled exception" not in service.output()
    assert "Traceback" not in service.output()


def test_idle_keepalive_lasts_past_the_header_deadline_and_ends_at_its_own(service):
    with connect(service.port) as sock:
        sock.sendall(HEAD)
        assert read_response(sock)[0] == 200
        time.sleep(HEADER_S + 0.5)  # idle between requests is not a late head
        sock.sendall(HEAD)
        assert read_response(sock)[0] == 200
        seconds = closed_after(sock, KEEPALIVE_S + MARGIN_S)
    assert seconds > KEEPALIVE_S - 0.5


def test_well_behaved_clients_are_unaffected(service):
    with connect(service.port) as sock:
        sock.sendall(HEAD * 3)  # pipelined
        assert [read_response(sock)[0] for _ in range(3)] == [200, 200, 200]
        body = b'{"hello": "world"}'
        sock.sendall(b"POST /__test__/echo HTTP/1.1\r\nHost: t\r\nContent-Type: "
                     b"application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:5])
        time.sleep(BODY_S / 2)
        sock.sendall(body[5:])
        status, _, answer = read_response(sock)
        assert (status, orjson.loads(answer)["data"]) == (200, {"hello": "world"})
        # A head split over reads, each within the deadline counted from its first byte.
        for part in (HEAD[:10], HEAD[10:]):
            time.sleep(HEADER_S / 3)
            sock.sendall(part)
        assert read_response(sock)[0] == 200


def test_a_pipelined_head_behind_a_slow_handler_is_not_cut(service):
    """The next head arrives complete while a slow handler runs: its deadline is met when it is
    parsed, not when aiohttp gets round to it (after the slow answer), so both answers come."""
    slow = b"GET /__test__/slow?seconds=%.1f HTTP/1.1\r\nHost: t\r\n\r\n" % (HEADER_S + 1.5)
    with connect(service.port) as sock:
        sock.sendall(slow)
        time.sleep(0.3)  # a read of its own, while the slow request is being handled
        sock.sendall(HEAD)
        assert [read_response(sock)[0] for _ in range(2)] == [200, 200]


async def test_aiohttp_still_queues_parsed_heads():
    """What `parsed_requests` reads of aiohttp's private state: a head appears there once
    parsed, with its body (complete or not) beside it. Fails first if an upgrade changes it."""
    server = web.Server(lambda _request: web.Response())
    handler = web.RequestHandler(server, loop=asyncio.get_running_loop())
    assert len(parsed_requests(handler)) == 0
    handler.data_received(HEAD[:10])
    assert len(parsed_requests(handler)) == 0
    handler.data_received(HEAD[10:] + b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nab")
    queued = parsed_requests(handler)
    assert len(queued) == 2
    assert queued[0][1].is_eof() and not queued[1][1].is_eof()
    handler.data_received(b"cd")
    assert len(parsed_requests(handler)) == 2 and queued[1][1].is_eof()
    # data_received counts before and after aiohttp parses, holding the one deque
    assert parsed_requests(handler) is queued


# Number -------------------------------------------------------------------------------------

def test_connections_past_the_cap_are_refused_at_once_and_service_recovers():
    cap, excess = 20, 30
    with ServiceProcess(HTTP_MAX_CONNECTIONS=str(cap), HTTP_HEADER_TIMEOUT_SECONDS="60") as svc:
        # /health in start() is over by now; these hold every place with half-sent heads.
        held = [connect(svc.port) for _ in range(cap)]
        for sock in held:
            sock.sendall(b"GET /health HTTP/1.1\r\n")
        slowest = 0.0
        for _ in range(excess):
            started = time.monotonic()
            with connect(svc.port) as sock:
                status, headers, body = read_response(sock)
                assert closed_after(sock, 2.0) < 2.0
            slowest = max(slowest, time.monotonic() - started)
            assert (status, headers["connection"]) == (503, "close")
            assert orjson.loads(body)["error"]["code"] == "server.busy"
        assert slowest < 1.0, slowest
        # The held connections are still served...
        held[0].sendall(b"Host: t\r\n\r\n")
        assert read_response(held[0])[0] == 200
        # ...and once they go, a fresh connection is too.
        for sock in held:
            sock.close()
        statuses: list[int] = []  # a 503 or two while the server sees the closes
        wait_until(lambda: statuses.append(call(svc.url + "/health")[0]) or statuses[-1] == 200,
                   5, "a place under the cap")
        time.sleep(1.2)  # the throttled log line with the count
        refused = [line for line in svc.log_lines() if line["msg"] == "connection.refused"]
    assert 1 <= len(refused) <= 3
    assert sum(1 + line["suppressed"] for line in refused) == excess + statuses.count(503)
    assert "accept" not in svc.output()


def test_fd_budget_raises_the_soft_limit_or_lowers_the_cap():
    assert fd_budget(1000, soft=20000, hard=20000, reserve=256) == (20000, 1000)
    assert fd_budget(1000, soft=1024, hard=4096, reserve=256) == (1256, 1000)
    assert fd_budget(1000, soft=1024, hard=resource.RLIM_INFINITY, reserve=256) == (1256, 1000)
    assert fd_budget(1000, soft=512, hard=1024, reserve=256) == (1024, 768)


def test_a_lowered_cap_is_one_warning(logs, monkeypatch):
    monkeypatch.setattr(connections.resource, "getrlimit", lambda _: (512, 1024))
    monkeypatch.setattr(connections.resource, "setrlimit", lambda *_: None)
    assert connections.ensure_fd_budget(1000) == 1024 - connections.FD_RESERVE
    warnings = [line for line in logs.lines() if line["level"] == "warn"]
    assert [line["msg"] for line in warnings] == ["connection.limit_lowered"]
    assert warnings[0]["effective"] == 768 and warnings[0]["requested"] == 1000


def test_the_service_raises_its_open_file_limit_to_fit_the_cap():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 1000 + connections.FD_RESERVE
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"the hard open-file limit here ({hard}) is below {needed}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (400, hard))  # inherited by the service
    try:
        svc = ServiceProcess(HTTP_MAX_CONNECTIONS="1000").start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        assert svc.proc is not None
        limits = Path(f"/proc/{svc.proc.pid}/limits").read_text()
        line = next(line for line in limits.splitlines() if line.startswith("Max open files"))
        assert line.split()[3] == str(needed), line
    finally:
        svc.stop()


async def test_accept_errors_are_logged_once_a_second_with_a_count(logs):
    passed_on: list[dict] = []
    handler = accept_error_handler(lambda _loop, context: passed_on.append(context))
    loop = asyncio.get_running_loop()
    emfile = OSError(errno.EMFILE, "Too many open files")
    for _ in range(1000):
        handler(loop, {"message": "socket.accept() out of system resource", "exception": emfile})
    handler(loop, {"message": "something else", "exception": ValueError("x")})
    await asyncio.sleep(1.2)  # the second line, with the count, follows a second later
    lines = logs.find("connection.accept_failed")
    assert [(line["error"], line["suppressed"]) for line in lines] == [("EMFILE", 0),
                                                                      ("EMFILE", 998)]
    assert sum(1 + line["suppressed"] for line in lines) == 1000
    assert [context["message"] for context in passed_on] == ["something else"]


def test_throttled_counts_events_into_the_next_line(logs):
    now = [0.0]
    throttled = Throttled(logging.WARNING, "t.event", clock=lambda: now[0])
    for step in range(25):  # 0.0 .. 2.4 s
        now[0] = step / 10
        throttled(n=step)
    lines = logs.find("t.event")
    assert [(line["n"], line["suppressed"]) for line in lines] == [(0, 0), (10, 9), (20, 9)]


# Drain --------------------------------------------------------------------------------------

def test_answers_during_the_drain_say_connection_close():
    with ServiceProcess(SHUTDOWN_GRACE_SECONDS="3") as svc, connect(svc.port) as sock:
        sock.sendall(HEAD)
        status, headers, _ = read_response(sock)
        assert status == 200 and headers.get("connection", "").lower() != "close"
        svc.signal(signal.SIGTERM)
        wait_until(lambda: call(svc.url + "/ready")[0] == 503, 2, "draining")
        sock.sendall(HEAD)
        status, headers, _ = read_response(sock)
        assert (status, headers.get("connection")) == (200, "close")
        assert closed_after(sock, 1.0) < 1.0
        assert svc.wait(timeout=15) == 0


# Bind first ---------------------------------------------------------------------------------

def run_service(**env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    closed = free_port()  # nothing listens: any database contact would be visible in the logs
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "app"], cwd=REPO, capture_output=True, text=True, timeout=30,
        env={"PATH": os.environ.get("PATH", ""), **TEST_ENV,
             "MONGO_URI": f"mongodb://127.0.0.1:{closed}", "MONGO_TIMEOUT_MS": "5000", **env},
    )
    return done, time.monotonic() - started


@pytest.mark.parametrize(("host", "expected"), [
    ("999.1.1.1", "configuration error: HOST: "),  # refused by the configuration itself
    ("no-such-host.invalid", "configuration error: HOST: 'no-such-host.invalid' is neither an "
                             "IP address nor a name that resolves"),
    ("192.0.2.1", "configuration error: HOST: 192.0.2.1 is not an address of this machine"),
])
def test_a_bad_host_is_one_line_and_exit_78_before_the_store(host, expected):
    done, seconds = run_service(HOST=host, PORT=str(free_port()))
    assert done.returncode == 78, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(expected) and host in line
    assert "store" not in done.stdout and "mongo" not in done.stdout.lower()
    assert seconds < 5  # no 5 s wait on the database


def test_a_port_in_use_is_one_line_and_exit_78_before_the_store():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done, seconds = run_service(HOST="127.0.0.1", PORT=str(port))
    assert (done.returncode, done.stderr.splitlines()) == (
        78, [f"configuration error: PORT: {port} is already in use"])
    assert "store" not in done.stdout and "mongo" not in done.stdout.lower()
    assert seconds < 5


def test_bind_covers_every_address_of_a_name():
    sockets = bind("localhost", 0)
    try:
        families = {sock.family for sock in sockets}
        assert socket.AF_INET in families
    finally:
        for sock in sockets:
            sock.close()
