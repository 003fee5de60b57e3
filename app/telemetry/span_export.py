"""The span export queue: encoded spans wait in a bounded queue and a task on the event loop
posts them in batches to the OTLP/HTTP endpoint with aiohttp.

No thread and no lock: the SDK's batch processor ran `requests` in a thread that took the GIL
from the loop in the middle of requests. Never blocks, never grows: when the collector is slow or
down the queue fills and further spans are dropped and counted (`trace_spans_total{outcome}`).
A failing collector is logged once, and once again when it answers; exports back off meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Iterable, Sequence

import aiohttp
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from app.secret import Secret
from app.telemetry.logging import fields, get_logger
from app.telemetry.otlp import export_request

log = get_logger("app.traces")

MAX_QUEUE = 2048  # spans; as the SDK's batch processor
MAX_BATCH = 512
INTERVAL_SECONDS = 1.0
TIMEOUT_SECONDS = 10.0
MAX_BACKOFF_SECONDS = 30.0
MAX_REPLY_BYTES = 64 * 1024


class SpanExporter:
    def __init__(self, endpoint: str, headers: Sequence[tuple[str, Secret]], resource: bytes,
                 scope: bytes, *, max_queue: int = MAX_QUEUE, max_batch: int = MAX_BATCH,
                 interval: float = INTERVAL_SECONDS) -> None:
        self._endpoint = endpoint
        self._headers = headers  # revealed only into the request that carries them
        self._resource, self._scope = resource, scope
        self._queue: deque[bytes] = deque()
        self._max_queue, self._max_batch = max_queue, max_batch
        self.interval = interval  # seconds between exports unless a full batch is waiting
        self.exported = 0
        self.dropped = 0  # the queue was full, or the collector refused or did not answer
        self._failing = False
        self._overflowing = False
        self._backoff = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._lock: asyncio.Lock | None = None  # one export at a time: order and one connection

    @property
    def pending(self) -> int:
        return len(self._queue)

    def submit(self, span: bytes) -> None:
        """Called on the loop as a span ends: O(1), never waits."""
        queue = self._queue
        if len(queue) >= self._max_queue:
            self.dropped += 1
            if not self._overflowing:  # once until the queue drains: a slow collector
                self._overflowing = True
                log.warning("traces.queue_full", extra=fields(
                    detail="spans are dropped until the collector catches up"))
            return
        queue.append(span)
        if len(queue) == self._max_batch and self._wake is not None:
            self._wake.set()

    def start(self) -> None:
        """On the running loop: the session and the export task."""
        self._loop = asyncio.get_running_loop()
        self._wake, self._lock = asyncio.Event(), asyncio.Lock()
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS),
            connector=aiohttp.TCPConnector(limit=1),
            # The reply is not ours to trust: never inflated (a gzip bomb), never read whole.
            auto_decompress=False, skip_auto_headers=("Accept-Encoding",),
        )
        self._task = asyncio.create_task(self._run(), name="trace-export")

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval + self._backoff):
                    await self._wake.wait()
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        """Export everything queued now, batch by batch; stop at the first failure (the rest
        waits for the next turn, or is dropped when the queue overflows)."""
        if self._session is None or self._lock is None:
            return
        async with self._lock:
            while self._queue:
                batch = [self._queue.popleft()
                         for _ in range(min(len(self._queue), self._max_batch))]
                if not await self._post(batch):
                    break
            if self._overflowing and not self._queue:
                self._overflowing = False
                log.info("traces.queue_drained", extra=fields(dropped=self.dropped))

    def _request_headers(self) -> dict[str, str]:
        return {**{key: value.reveal() for key, value in self._headers},
                "Content-Type": "application/x-protobuf"}

    async def _post(self, batch: list[bytes]) -> bool:
        assert self._session is not None
        body = export_request(self._resource, self._scope, batch)
        failure: str | None = None
        try:
            async with self._session.post(self._endpoint, data=body,
                                          headers=self._request_headers()) as response:
                await response.content.read(MAX_REPLY_BYTES)  # nothing in it is needed
                if not response.content.at_eof():
                    response.close()  # a reply that long: drop the connection, not read it
                if response.status >= 300:
                    failure = f"HTTP {response.status}"
        except Exception as exc:  # whatever the network does, the export task lives on
            # The type only: the text can name the endpoint, whose URL may carry credentials.
            failure = type(exc).__name__
        if failure is None:
            self.exported += len(batch)
            if self._failing:
                self._failing, self._backoff = False, 0.0
                log.info("traces.export_recovered", extra=fields(dropped=self.dropped))
            return True
        self.dropped += len(batch)
        self._backoff = min(max(self._backoff * 2, 1.0), MAX_BACKOFF_SECONDS)
        if not self._failing:
            self._failing = True
            log.warning("traces.export_failed", extra=fields(
                error=failure, detail="spans are dropped until the collector answers"))
        return False

    async def aclose(self, timeout: float = 5.0) -> None:
        """Stop the task, export what is queued (one attempt, bounded), close the session."""
        if self._task is not None and self._lock is not None:
            async with self._lock:  # never cancel a post halfway: its batch would vanish
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        self._backoff = 0.0
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.flush()
        self.dropped += len(self._queue)
        self._queue.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def close(self, timeout: float = 5.0) -> None:
        """From a thread other than the loop's (the app flushes telemetry off the loop): run
        `aclose` on the loop that owns the session and wait for it."""
        loop = self._loop
        if loop is None or loop.is_closed() or not loop.is_running():
            return  # never started, or its loop is gone: nothing can be sent
        with contextlib.suppress(RuntimeError):
            if asyncio.get_running_loop() is loop:  # on the loop itself: waiting would deadlock
                loop.create_task(self.aclose(timeout), name="trace-export-close")
                return
        future = asyncio.run_coroutine_threadsafe(self.aclose(timeout), loop)
        with contextlib.suppress(TimeoutError):
            future.result(timeout + 1)


class SpanCounts(Collector):
    """trace_spans_total{outcome}: read from the exporter's plain counters at scrape time."""

    def __init__(self, exporter: SpanExporter) -> None:
        self._exporter = exporter

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily("trace_spans", "Sampled spans, by what became of them",
                                     labels=["outcome"])
        family.add_metric(["exported"], self._exporter.exported)
        family.add_metric(["dropped"], self._exporter.dropped)
        yield family
