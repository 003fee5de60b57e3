"""The load benchmark: `make bench` (or `python bench/run.py`) writes bench/RESULTS.md.

The service runs as production would (one process, every middleware, metrics, the access log at
info to /dev/null, traces sampled at 10% to an OTLP endpoint, Sentry on), on the memory store and
then on FerretDB, with a realistic catalog (200 items in 8 tags). wrk drives it from a separate
process on loopback. Baselines run in the same session, interleaved round by round (A B C A B C,
medians): bare aiohttp serving the same bytes, and FastAPI with its usual observability stack.
Everything is reported as ratios against those baselines, never as absolute pass marks.
"""

from __future__ import annotations

import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PEER_PYTHON = BENCH / ".venv-peer" / "bin" / "python"
PACKAGE_PYTHON = BENCH / ".venv-package" / "bin" / "python"
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "200000"))  # per memory run
CONNECTIONS = 32
ADMIN = ("bench-admin@example.org", "bench admin password 123")
SECRET_A, SECRET_R = "Bq8kZ2pW9xL4mN7rT1yB6cD3fG0hJ5sA", "Rq8kZ2pW9xL4mN7rT1yB6cD3fG0hJ5sB"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(method: str, url: str, body: dict | None = None, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


@dataclass
class Process:
    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_path: str = "/catalog") -> Process:
        env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), **self.env}
        self.proc = subprocess.Popen([*self.command], cwd=ROOT, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(300):
            try:
                urllib.request.urlopen(self.url + ready_path, timeout=1).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}") from None
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory(self, key: str) -> float:
        """VmRSS (now) or VmHWM (peak), in MiB."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(rf"{key}:\s+(\d+) kB", status).group(1)) / 1024

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    cpu_us_per_request: float


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(target: Process, path: str, *, seconds: float = SECONDS, connections: int = CONNECTIONS,
        threads: int = 2, headers: tuple[str, ...] = (), script: str | None = None,
        args: tuple[str, ...] = ()) -> Run:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    for header in headers:
        command += ["-H", header]
    if script:
        command += ["-s", str(BENCH / script)]
    command.append(target.url + path)
    if args:
        command += ["--", *args]
    cpu_before = target.cpu_seconds()
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    cpu = target.cpu_seconds() - cpu_before
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return Run(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        p50_ms=_ms(re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE).group(1)),
        p99_ms=_ms(re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE).group(1)),
        requests=requests,
        errors=int(errors.group(1)) if errors else 0,
        cpu_us_per_request=cpu / max(requests, 1) * 1e6,
    )


def median(runs: list[Run]) -> Run:
    return Run(*(statistics.median(getattr(run, name) for run in runs) for name in
                 ("rps", "p50_ms", "p99_ms", "requests", "errors", "cpu_us_per_request")))


def service(name: str, sink: Process, *, command: list[str] | None = None,
            **overrides: str) -> Process:
    """The service as production runs it (every telemetry part on), or `command` with the same
    environment; an override of "" removes the variable."""
    env = {
        "APP_ENV": "development", "SEED_DEMO_DATA": "false", "LOG_LEVEL": "info",
        "HOST": "127.0.0.1", "JWT_ACCESS_SECRET": SECRET_A, "JWT_REFRESH_SECRET": SECRET_R,
        "BOOTSTRAP_ADMIN_EMAIL": ADMIN[0], "BOOTSTRAP_ADMIN_PASSWORD": ADMIN[1],
        "RATE_LIMIT_ANON_PER_MINUTE": "1000000", "RATE_LIMIT_USER_PER_MINUTE": "1000000",
        "RATE_LIMIT_AUTH_PER_MINUTE": "1000000",
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.url, "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.1", "SENTRY_DSN": f"http://key@127.0.0.1:{sink.port}/1",
    }
    env.update(overrides)
    env = {key: value for key, value in env.items() if value != ""}
    process = Process(name, command or [sys.executable, "-m", "app"], env)
    process.env["PORT"] = str(process.port)
    return process.start()


def seed(target: Process, *, fresh: bool) -> dict[str, str]:
    """200 items in 8 tags through the admin API; an item id, the catalog ETag, the admin's
    tokens."""
    base = target.url
    login = http("POST", base + "/auth/login", {"email": ADMIN[0], "password": ADMIN[1]})["data"]
    token = login["accessToken"]
    if fresh:
        tags = ["python", "observability", "databases", "security", "performance", "devops",
                "frontend", "testing"]
        for slug in tags:
            http("POST", base + "/admin/tags", {"slug": slug, "name": slug.title()}, token)
        for n in range(200):
            http("POST", base + "/admin/content", {
                "title": f"Article {n}: notes on {tags[n % 8]} and {tags[(n * 3 + 1) % 8]}",
                "url": f"https://example.org/articles/{n}",
                "thumbnailUrl": f"https://example.org/thumbs/{n}.webp",
                "tags": sorted({tags[n % 8], tags[(n * 3 + 1) % 8]}),
            }, token)
    item = http("GET", base + "/content?limit=1")["data"][0]["id"]
    with urllib.request.urlopen(base + "/catalog") as response:
        etag, body = response.headers["ETag"], response.read()
    return {"item": item, "etag": etag, "refresh": login["refreshToken"], "access": token,
            "body": body.decode()}


def scenarios(target: Process, data: dict[str, str]) -> dict[str, Run]:
    return {
        "GET /catalog (200)": wrk(target, "/catalog"),
        "GET /catalog (304)": wrk(target, "/catalog", headers=(f"If-None-Match: {data['etag']}",)),
        "GET /content?limit=20": wrk(target, "/content?limit=20"),
        "GET /content?tag=python&q=notes&limit=20": wrk(
            target, "/content?tag=python&q=notes&limit=20"),
        "GET /content/{id}": wrk(target, f"/content/{data['item']}"),
        "POST /auth/refresh (1 connection, chained)": wrk(
            target, "/auth/refresh", threads=1, connections=1, script="refresh.lua",
            args=(data["refresh"],)),
    }


def content_vs_catalog(target: Process) -> str:
    """`/content?limit=20` against `/catalog` on one instance, in alternating order over twice
    the rounds: the single runs of the table above are too noisy for a 1.5x bound."""
    paths = ["/catalog", "/content?limit=20"]
    runs: dict[str, list[Run]] = {path: [] for path in paths}
    for turn in range(2 * ROUNDS):
        for path in (paths if turn % 2 == 0 else paths[::-1]):
            runs[path].append(wrk(target, path))
    catalog, content = (median(runs[path]).cpu_us_per_request for path in paths)
    return (f"- `/content?limit=20` / `/catalog`, CPU per request, interleaved over "
            f"{2 * ROUNDS} rounds: **{content / catalog:.2f}x** ({content:.0f} / {catalog:.0f} µs;"
            " target ≤ 1.5x)")


def memory_run(target: Process, paths: list[str], requests: int = REQUESTS) -> str:
    """RSS after `requests` more requests spread over `paths`, at half way and at the end."""
    total, rss, turn = 0, {}, 0
    while total < requests:
        total += wrk(target, paths[turn % len(paths)], seconds=2).requests
        turn += 1
        for mark in (requests // 2, requests):
            if total >= mark and mark not in rss:
                rss[mark] = target.memory("VmRSS")
    half, end = rss[requests // 2], rss[requests]
    return (f"RSS after {total // 1000}k more requests: {end:.1f} MiB (at {requests // 2000}k: "
            f"{half:.1f} MiB; growth {end - half:+.1f} MiB); peak (VmHWM) "
            f"{target.memory('VmHWM'):.1f} MiB")


def seed_directly(uri: str, database: str, items: int) -> None:
    """`items` active items in the 8 tags, written straight into the database (through the
    admin API that many would take minutes), then the catalog stamp moved as a write would."""
    from datetime import UTC, datetime, timedelta

    from pymongo import MongoClient

    from app.domain.content.models import ContentItem
    from app.domain.ids import new_id
    from app.store.documents import content_document

    tags = ["python", "observability", "databases", "security", "performance", "devops",
            "frontend", "testing"]
    now = datetime.now(UTC) - timedelta(hours=1)
    with MongoClient(uri) as client:
        db = client[database]
        docs = [content_document(ContentItem(
            id=new_id(), title=f"Article {n}: notes on {tags[n % 8]} and {tags[(n * 3 + 1) % 8]}",
            url=f"https://example.org/articles/{n}",
            thumbnail_url=f"https://example.org/thumbs/{n}.webp",
            tags=tuple(sorted({tags[n % 8], tags[(n * 3 + 1) % 8]})), is_active=True,
            created_at=now, updated_at=now)) for n in range(items)]
        for start in range(0, len(docs), 1000):
            db["content"].insert_many(docs[start:start + 1000])
        db["meta"].update_one({"_id": "catalog"}, {"$inc": {"stamp": 1}}, upsert=True)


def start_ferretdb(processes: list[Process]) -> Process | None:
    build = subprocess.run([str(ROOT / "tests/ferretdb/build.sh")], capture_output=True,
                           text=True)
    if build.returncode != 0:
        return None
    data_dir = tempfile.mkdtemp(prefix="bench-ferretdb-")
    database = Process("ferretdb", [build.stdout.strip(), "-data", data_dir])
    database.command += ["-listen", f"127.0.0.1:{database.port}"]
    database.proc = subprocess.Popen(database.command, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
    processes.append(database)
    time.sleep(1)
    return database


def machine() -> str:
    cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
    return (f"{os.cpu_count()} cores ({cpu.group(1) if cpu else 'unknown CPU'}), "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}, "
            f"{wrk_version.split(chr(10))[0].strip()}")


def table(rows: list[tuple[str, Run]], baseline: Run | None = None) -> list[str]:
    lines = ["| scenario | req/s | p50 ms | p99 ms | CPU µs/req | non-2xx/3xx |"
             + (" vs baseline |" if baseline else ""),
             "|---|---:|---:|---:|---:|---:|" + ("---:|" if baseline else "")]
    for name, run in rows:
        ratio = f" {run.rps / baseline.rps:.2f}x |" if baseline else ""
        lines.append(f"| {name} | {run.rps:,.0f} | {run.p50_ms:.2f} | {run.p99_ms:.2f} | "
                     f"{run.cpu_us_per_request:.0f} | {run.errors} |{ratio}")
    return lines


HEADLINE_SERVICES = {
    # name: (command, environment overrides); everything else as production runs it.
    "the service, all on (10% tracing, Sentry, access log)": (None, {}),
    "the service, tracing off (metrics, access log, limits, CORS, Sentry)": (
        None, {"OTEL_EXPORTER_OTLP_ENDPOINT": ""}),
    "the service with opentelemetry-instrumentation-aiohttp-server (10%)": (
        [str(PACKAGE_PYTHON), str(BENCH / "otel_package_app.py")], {}),
}
ALL_ON, UNTRACED, PACKAGE = HEADLINE_SERVICES


def main() -> None:  # one linear script, read top to bottom
    started = time.time()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    report: list[str] = ["# Benchmark results", "",
                         f"Generated by `make bench` on {when}; how to read it: bench/README.md.",
                         f"Machine: {machine()}.",
                         f"Load: wrk, {CONNECTIONS} connections, {SECONDS:g} s per run, "
                         f"{ROUNDS} interleaved rounds (medians), loopback.", ""]
    sink = Process("sink", [sys.executable, str(BENCH / "sink.py")])
    sink.command.append(str(sink.port))
    processes: list[Process] = []
    try:
        sink.proc = subprocess.Popen(sink.command, cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        time.sleep(1)
        targets: dict[str, Process] = {}
        for name, (command, overrides) in HEADLINE_SERVICES.items():
            targets[name] = service(name, sink, command=command, **overrides)
            processes.append(targets[name])
        app = targets[ALL_ON]
        data = seed(app, fresh=True)
        for name in (UNTRACED, PACKAGE):
            seed(targets[name], fresh=True)
        body_file = Path(tempfile.mkstemp(suffix=".json")[1])
        body_file.write_bytes(data["body"].encode())
        bare = Process("bare", [sys.executable, str(BENCH / "bare_app.py")])
        bare.command += [str(bare.port), str(body_file)]
        processes.append(bare.start())
        targets["bare aiohttp (same bytes)"] = bare
        if PEER_PYTHON.exists():
            peer = Process("peer", [str(PEER_PYTHON), str(BENCH / "peer_app.py")])
            peer.command += [str(peer.port), str(body_file), sink.url]
            processes.append(peer.start())
            targets["FastAPI + instrumentator + OTel (10%) + Sentry"] = peer

        # 1. GET /catalog: the service's configurations against the baselines, interleaved.
        runs: dict[str, list[Run]] = {name: [] for name in targets}
        for _ in range(ROUNDS):
            for name, target in targets.items():
                wrk(target, "/catalog", seconds=1)  # warm up
                runs[name].append(wrk(target, "/catalog"))
        result = {name: median(r) for name, r in runs.items()}
        bare_run, all_on, untraced = result["bare aiohttp (same bytes)"], result[ALL_ON], \
            result[UNTRACED]
        report += ["## GET /catalog (200) against the baselines", "",
                   f"Catalog body: {len(data['body'])} bytes (8 tags over 200 items).", ""]
        report += table(list(result.items()), bare_run)
        package = result[PACKAGE]
        report += [
            "",
            f"- all on / bare aiohttp: **{all_on.rps / bare_run.rps:.2f}x** req/s, "
            f"{bare_run.cpu_us_per_request / all_on.cpu_us_per_request:.2f}x by CPU per request "
            "(goal ≥ 0.7x)",
            f"- tracing off / bare aiohttp: **{untraced.rps / bare_run.rps:.2f}x** req/s, "
            f"{bare_run.cpu_us_per_request / untraced.cpu_us_per_request:.2f}x by CPU per request "
            "(goal ≥ 0.6x)",
            f"- the instrumentation package at 10% / ours at 10%: "
            f"{package.cpu_us_per_request / all_on.cpu_us_per_request:.2f}x the CPU per "
            f"request, p99 {package.p99_ms:.1f} ms vs {all_on.p99_ms:.1f} ms",
        ]
        peer_name = "FastAPI + instrumentator + OTel (10%) + Sentry"
        if peer_name in result:
            report += [f"- all on / FastAPI peer: **{all_on.rps / result[peer_name].rps:.1f}x** "
                       "(goal ≥ 5x)"]
        report += [""]
        targets[PACKAGE].stop()
        processes.remove(targets[PACKAGE])

        # 1b. What tracing at 10% costs: the same build with tracing off, at 10% and at 100%,
        # more rounds in alternating order (a 10% difference is inside one round's noise here;
        # the 100% row magnifies the per-span cost tenfold).
        full = service("tracing-100", sink, OTEL_TRACES_SAMPLER_ARG="1")
        processes.append(full)
        seed(full, fresh=True)
        # And within the 10% process, whose sampler follows the caller: every request sampled
        # against none (the same process, so no difference between processes in the way).
        parent = "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0"
        trio = [("tracing off", targets[UNTRACED], ()), ("tracing 10%", app, ()),
                ("tracing 100%", full, ()),
                ("tracing 10% process, callers sampling none", app, (parent + "0",)),
                ("tracing 10% process, callers sampling all", app, (parent + "1",))]
        ab: dict[str, list[Run]] = {name: [] for name, _, _ in trio}
        for turn in range(2 * ROUNDS):
            for name, target, headers in (trio if turn % 2 == 0 else trio[::-1]):
                wrk(target, "/catalog", seconds=1, headers=headers)
                ab[name].append(wrk(target, "/catalog", headers=headers))
        off, ten, hundred, none, every = (median(ab[name]) for name, _, _ in trio)
        per_span = hundred.cpu_us_per_request - off.cpu_us_per_request
        in_process = every.cpu_us_per_request - none.cpu_us_per_request
        report += ["## What tracing at 10% costs (GET /catalog, interleaved A/B)", ""]
        report += table([(name, median(r)) for name, r in ab.items()], off)
        report += [
            "",
            f"- tracing at 10% vs off: **{ten.cpu_us_per_request / off.cpu_us_per_request - 1:+.0%}"
            f" CPU per request** measured, {ten.rps / off.rps - 1:+.0%} req/s, p99 "
            f"{ten.p99_ms:.1f} ms vs {off.p99_ms:.1f} ms (goal < +10% CPU, no visible p99 change)",
            f"- a sampled span costs {per_span:.0f} µs (100% less off), so 10% sampling should "
            f"cost {per_span / 10:.1f} µs per request: "
            f"{per_span / 10 / off.cpu_us_per_request:+.0%}",
            f"- in one process: a sampled request costs {in_process:.0f} µs more than an "
            f"unsampled one, so 10% sampling costs {in_process / 10:.1f} µs per request: "
            f"**{in_process / 10 / none.cpu_us_per_request:+.0%}** (the steadiest of the three "
            "figures: no second process in the comparison)",
            "",
        ]
        full.stop()
        processes.remove(full)
        targets[UNTRACED].stop()
        processes.remove(targets[UNTRACED])

        # 2. Every scenario, memory store.
        report += ["## Scenarios, memory store (200 items)", ""]
        memory_runs = scenarios(app, data)
        report += table(list(memory_runs.items()))
        report += ["", content_vs_catalog(app), ""]

        # 3. Memory over 200,000 requests, the content snapshot loaded.
        def content_paths(item: str) -> list[str]:
            return ["/content?limit=20", f"/content/{item}", "/catalog",
                    "/content?tag=python&q=notes&limit=20"]

        report += ["## Memory", "",
                   f"- 200 items, memory store: {memory_run(app, content_paths(data['item']))}. "
                   "Target: < 150 MiB, flat."]
        app.stop()
        processes.remove(app)

        # 4. What each telemetry part costs on GET /catalog (service restarted per variant).
        variants = {
            "all on (10% tracing, Sentry, access log)": {},
            "no access log (LOG_LEVEL=warn)": {"LOG_LEVEL": "warn"},
            "tracing 0%": {"OTEL_TRACES_SAMPLER_ARG": "0"},
            "tracing 100%": {"OTEL_TRACES_SAMPLER_ARG": "1"},
            "tracing off (no endpoint)": {"OTEL_EXPORTER_OTLP_ENDPOINT": ""},
            "Sentry off (no DSN)": {"SENTRY_DSN": ""},
            "tracing, Sentry and access log off (metrics only)": {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "", "SENTRY_DSN": "", "LOG_LEVEL": "warn"},
        }
        variant_runs: dict[str, list[Run]] = {name: [] for name in variants}
        for _ in range(max(2, ROUNDS - 1)):
            for name, overrides in variants.items():
                target = service("variant", sink, **overrides)
                seed(target, fresh=True)
                wrk(target, "/catalog", seconds=1)
                variant_runs[name].append(wrk(target, "/catalog"))
                target.stop()
        base = median(variant_runs["all on (10% tracing, Sentry, access log)"])
        telemetry_section = ["## The cost of each telemetry part (GET /catalog)", ""]
        telemetry_section += table([(name, median(r)) for name, r in variant_runs.items()], base)
        telemetry_section += ["", "The last column is throughput relative to everything on.", ""]

        # 5. FerretDB: the scenarios with 200 items, then 10,000 items.
        database = start_ferretdb(processes)
        if database is not None:
            uri = f"mongodb://127.0.0.1:{database.port}/"
            mongo = service("service-ferretdb", sink, MONGO_URI=uri, MONGO_DB="bench")
            processes.append(mongo)
            mongo_data = seed(mongo, fresh=True)
            mongo_runs = scenarios(mongo, mongo_data)
            mongo_ratio = content_vs_catalog(mongo)
            mongo.stop()
            processes.remove(mongo)

            big = service("service-ferretdb-10k", sink, MONGO_URI=uri, MONGO_DB="bench10k")
            seed(big, fresh=True)  # the admin and the 8 tags (and 200 items)
            big.stop()
            seed_directly(uri, "bench10k", 10_000 - 200)
            big = service("service-ferretdb-10k", sink, MONGO_URI=uri, MONGO_DB="bench10k")
            processes.append(big)
            big_data = seed(big, fresh=False)
            big_runs = {name: wrk(big, path) for name, path in (
                ("GET /catalog (200)", "/catalog"), ("GET /content?limit=20", "/content?limit=20"),
                ("GET /content?tag=python&q=notes&limit=20",
                 "/content?tag=python&q=notes&limit=20"),
                ("GET /content?q=absent&limit=20 (no match: every title read)",
                 "/content?q=absent&limit=20"),
                ("GET /content/{id}", f"/content/{big_data['item']}"))}
            big_ratio = content_vs_catalog(big)
            big_paths = content_paths(big_data["item"])
            report += [f"- 10,000 items, FerretDB store: {memory_run(big, big_paths)}. "
                       "Target: < 150 MiB, flat."]
            big.stop()
            processes.remove(big)
            # The same 10,000 items in the embedded store, through the operators' own tools.
            backup_dir = Path(tempfile.mkdtemp(prefix="bench-backup-")) / "backup"
            subprocess.run([sys.executable, "-m", "app", "backup", "--out", str(backup_dir)],
                           cwd=ROOT, check=True, capture_output=True, env={
                               **os.environ, "MONGO_URI": uri, "MONGO_DB": "bench10k",
                               "JWT_ACCESS_SECRET": SECRET_A, "JWT_REFRESH_SECRET": SECRET_R})
            embedded = service("service-10k-embedded", sink, command=[
                sys.executable, "-m", "app", "serve", "--from-backup", str(backup_dir)])
            processes.append(embedded)
            report += [f"- 10,000 items, memory store: {memory_run(embedded, big_paths)}. "
                       "Target: < 150 MiB, flat.", ""]
            report += telemetry_section
            report += ["## Scenarios, MongoDB store (FerretDB v1.24.2, SQLite), 200 items", ""]
            report += table(list(mongo_runs.items()))
            report += ["", mongo_ratio, "",
                       "FerretDB translates every command to SQLite in the same machine's "
                       "other core; these figures measure it as much as the service.", "",
                       "## 10,000 items, MongoDB store (FerretDB)", ""]
            report += table(list(big_runs.items()))
            report += ["", big_ratio, ""]
        else:
            report += ["", *telemetry_section]
        report += [f"Benchmark time: {time.time() - started:.0f} s."]
    finally:
        for process in processes:
            process.stop()
        if sink.proc is not None:
            sink.proc.terminate()
    (BENCH / "RESULTS.md").write_text("\n".join(report) + "\n")
    print("\n".join(report))


if __name__ == "__main__":
    main()
