"""The demo from start to report: the rig up, traffic on, warm-up, the incident (slow, down,
recovering), then the report; everything it started is stopped on the way out, whatever
happens, and a hard deadline bounds the whole run."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from demo import report
from demo.incident import Incident
from demo.progress import Progress, TrafficTail, clock
from demo.rig import PROXY, Rig, check_tools
from demo.scale import Scale
from demo.timeline import Timeline
from tests.helpers import stop_process
from tests.service import REPO


class DeadlineExceeded(Exception):
    """The run's hard deadline (Scale.deadline) passed: something did not come up or hung."""


class Stopped(Exception):
    """SIGTERM: stop everything, as on Ctrl-C."""


@dataclass
class PhaseRecord:
    name: str
    start: float
    end: float = 0.0
    detail: str = ""


@dataclass
class Run:
    scale: Scale
    out: Path
    progress: Progress
    rig: Rig
    started: float
    timeline: Timeline
    startup: PhaseRecord | None = None
    phases: list[PhaseRecord] = field(default_factory=list)  # the phases with traffic
    traffic: subprocess.Popen[bytes] | None = None
    tail: TrafficTail | None = None

    def tick(self, phase: str) -> None:
        """One poll: alert changes, then the status line."""
        assert self.rig.prometheus is not None and self.tail is not None
        now = time.time()
        for change in self.timeline.poll(self.rig.prometheus.api("alerts")["alerts"], now):
            self.progress.note(change)
        rate, errors = self.tail.poll()
        self.progress.status(phase, rate, errors, self.timeline.active())

    def phase(self, name: str, detail: str, seconds: float,
              until: Any = None, at_least: float = 0.0) -> None:
        """Run a phase for `seconds`, or from `at_least` on as soon as `until()` holds."""
        record = PhaseRecord(name, time.time(), detail=detail)
        self.phases.append(record)
        self.progress.phase(name, detail)
        poll = min(1.0, self.scale.interval * 2)
        while True:
            elapsed = time.time() - record.start
            if elapsed >= seconds or (until is not None and elapsed >= at_least and until()):
                break
            self.tick(name)
            time.sleep(max(0.0, min(poll, seconds - (time.time() - record.start))))
        record.end = time.time()

    def start_traffic(self) -> None:
        assert self.rig.service is not None and self.rig.accounts is not None
        path = self.out / "traffic.jsonl"
        log = open(self.out / "traffic.log", "wb")  # noqa: SIM115 - closed with the process
        self.traffic = subprocess.Popen(
            [sys.executable, "-m", "demo.traffic", self.rig.service.url, str(path),
             "--seconds", str(self.scale.deadline)],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
            env={"PATH": os.environ.get("PATH", ""),
                 "DEMO_ACCOUNTS": json.dumps(self.rig.accounts.as_env())},
        )
        log.close()
        self.rig._started("traffic", self.traffic)
        self.tail = TrafficTail(path)
        deadline = time.monotonic() + 30
        while not self.tail.ready:
            if self.traffic.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the traffic did not start: "
                                   + (self.out / "traffic.log").read_text()[-500:])
            time.sleep(0.1)
            self.tail.poll()

    def stop_traffic(self) -> None:
        stop_process(self.traffic, timeout=10)

    def pages_settled(self) -> bool:
        """No page pending or firing, and Alertmanager has told every paged receiver that
        its alerts resolved."""
        if self.timeline.open_pages():
            return False
        assert self.rig.receivers is not None
        latest: dict[str, str] = {}  # alert name → its status in the last notification
        for note in self.rig.receivers.notifications():
            if note["receiver"] == "pager":
                for alert in note["body"].get("alerts", []):
                    latest[alert["labels"].get("alertname")] = alert["status"]
        return all(status == "resolved" for status in latest.values())


def prepare_out(out: Path) -> None:
    """A fresh report folder; a previous report there is replaced, anything else refused."""
    if out.exists() and any(out.iterdir()):
        if not (out / "report.md").exists() and not (out / "config").exists():
            raise SystemExit(f"demo: {out} is not empty and holds no demo report; "
                             "choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True)


def _alarm(signum: int, frame: Any) -> None:
    signal.setitimer(signal.ITIMER_REAL, 0)
    raise DeadlineExceeded


def _terminate(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the cleanup must not be interrupted
    raise Stopped


def run(scale: Scale, out: Path, stream: TextIO = sys.stdout) -> int:
    out = out.resolve()
    started = time.time()
    progress = Progress(stream, started)
    progress.phase("starting", f"scale {scale.name}: every alerting duration divided by "
                   f"{scale.compression}, report in {out}")
    try:
        ferretdb, toxiproxy = check_tools()
    except Exception as exc:  # Missing, or a build that failed
        progress.close()
        print(f"demo: cannot start: {exc}", file=sys.stderr)
        return 1
    prepare_out(out)
    rig = Rig(scale, out)
    previous = signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, scale.deadline)
    status = 1
    demo: Run | None = None
    try:
        with ExitStack() as stack:
            try:
                rig.start(stack, ferretdb, toxiproxy, progress.note)
                demo = Run(scale, out, progress, rig, started, Timeline(started))
                stack.callback(demo.stop_traffic)
                demo.start_traffic()
                demo.startup = PhaseRecord("starting", started, time.time(),
                                           "FerretDB, Toxiproxy, receivers, Alertmanager, "
                                           "the service, Prometheus, the traffic's sign-ins")
                progress.note(f"everything up in {time.time() - started:.1f} s")
                execute(demo)
                status = 0
            except BaseException:
                rig.keep_logs()
                raise
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    except DeadlineExceeded:
        _fail(progress, f"failed: the {scale.deadline:.0f} s deadline passed "
              f"(logs in {out / 'logs'})")
    except (KeyboardInterrupt, Stopped):
        _fail(progress, "stopped; everything it started has been stopped")
        status = 130
    except Exception as exc:
        _fail(progress, f"failed: {_one_line(exc)} (logs in {out / 'logs'})")
    finally:
        signal.signal(signal.SIGTERM, previous)
        # Whatever happened: the list of what ran, which the smoke test checks too.
        (out / "processes.json").write_text(json.dumps(rig.processes, indent=1, default=str))
    left = leftovers(rig.processes)
    if left:
        print(f"demo: processes left running: {left}", file=sys.stderr)
        return 1
    if status == 0:
        progress.phase("done", f"in {clock(time.time() - started)}; open {out / 'report.md'}")
    return status


def _fail(progress: Progress, message: str) -> None:
    with contextlib.suppress(OSError):  # stdout may be the reason (a closed pipe)
        progress.close()
    print(f"demo: {message}", file=sys.stderr)


def _one_line(exc: BaseException) -> str:
    """The first line of the message, and its last when it carries a log (a process that
    exited says why at the end)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    return lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1][:300]}"


def execute(demo: Run) -> None:
    scale, rig = demo.scale, demo.rig
    assert rig.proxy is not None
    incident = Incident(rig.proxy, PROXY)
    demo.phase("warming up", "extension-shaped traffic, nothing wrong", scale.warmup)
    demo.phase("incident: slow", incident.slow(), scale.slow)
    demo.phase("incident: down", incident.down(), scale.down)
    demo.phase("recovering", incident.back() + "; until the pages resolve",
               scale.recover_max, until=demo.pages_settled, at_least=scale.recover_min)
    demo.stop_traffic()
    demo.tick("traffic stopped")
    demo.progress.close()
    rendering = time.time()
    demo.progress.phase("rendering", "dashboards, alert timeline, one request's trail, report")
    report.write(demo)
    demo.progress.note(f"rendered in {time.time() - rendering:.1f} s")


def leftovers(processes: list[dict[str, Any]]) -> list[str]:
    """The processes of the list still running (same pid and command line)."""
    left = []
    for process in processes:
        try:
            cmdline = Path(f"/proc/{process['pid']}/cmdline").read_bytes()
            status = Path(f"/proc/{process['pid']}/stat").read_text().split(") ")[-1][:1]
        except OSError:  # gone
            continue
        args = process["args"]
        first = str(args[0] if isinstance(args, (list, tuple)) else args).encode()
        if cmdline.startswith(first) and status != "Z":
            left.append(f"{process['name']} (pid {process['pid']})")
    return left
