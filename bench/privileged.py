"""What the live account check costs (`python bench/privileged.py`, about 2 minutes; appends to
bench/RESULTS.md under its own heading).

Privileged routes read the caller's account from the store on every request, so a deleted or
demoted curator's token stops working at once. That read is the same primary-key lookup `GET /me`
makes. So, against the same running service, interleaved (A B C A B C, medians):
- `GET /content/{id}`: anonymous, one primary-key read: the floor;
- `GET /me`: token verification plus the user read the check makes;
- `PATCH /admin/content/{id}`: token, the check's user read, the write and the catalog bump.
`GET /me` less the floor bounds the check from above (it also holds the token verification
every authenticated request pays anyway); set against the PATCH it guards.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time

from run import BENCH, ROOT, ROUNDS, Process, Run, median, seed, service, table, wrk

SECONDS = 4.0


def measure(target: Process, data: dict[str, str], token: str) -> dict[str, Run]:
    auth = (f"Authorization: Bearer {token}",)
    cases = {
        "GET /content/{id} (anonymous, one read)": lambda: wrk(
            target, f"/content/{data['item']}", seconds=SECONDS),
        "GET /me (token + the user read)": lambda: wrk(
            target, "/me", seconds=SECONDS, headers=auth),
        "PATCH /admin/content/{id} (token + check + write)": lambda: wrk(
            target, f"/admin/content/{data['item']}", seconds=SECONDS, script="patch.lua",
            args=(token, data["item"])),
    }
    runs: dict[str, list[Run]] = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name, run in cases.items():
            runs[name].append(run())
    return {name: median(found) for name, found in runs.items()}


def main() -> None:
    sink = Process("sink", [sys.executable, str(BENCH / "sink.py")])
    sink.command.append(str(sink.port))
    report = ["", "## The live account check on privileged routes (bench/privileged.py)", ""]
    processes: list[Process] = []
    try:
        sink.proc = subprocess.Popen(sink.command, cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        time.sleep(1)
        stores = {"memory store": {}}
        build = subprocess.run([str(ROOT / "tests/ferretdb/build.sh")], capture_output=True,
                               text=True)
        if build.returncode == 0:
            database = Process("ferretdb", [build.stdout.strip(), "-data",
                                            tempfile.mkdtemp(prefix="bench-ferretdb-")])
            database.command += ["-listen", f"127.0.0.1:{database.port}"]
            database.proc = subprocess.Popen(database.command, stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL)
            processes.append(database)
            time.sleep(1)
            stores["FerretDB"] = {"MONGO_URI": f"mongodb://127.0.0.1:{database.port}/",
                                  "MONGO_DB": "bench_privileged"}
        for name, overrides in stores.items():
            # The floor must be a store read: /content/{id} from the database, not the snapshot.
            target = service(f"service-{name}", sink, CONTENT_SNAPSHOT_MAX_ITEMS="0",
                             **overrides)
            processes.append(target)
            data = seed(target, fresh=True)
            token = data["access"]
            runs = measure(target, data, token)
            floor = runs["GET /content/{id} (anonymous, one read)"]
            me = runs["GET /me (token + the user read)"]
            patch = runs["PATCH /admin/content/{id} (token + check + write)"]
            check_us = me.cpu_us_per_request - floor.cpu_us_per_request
            summary = (f"- At most {check_us:.0f} µs of CPU for the check (GET /me less the "
                       "floor, token verification included): "
                       f"{check_us / patch.cpu_us_per_request:.0%} of a privileged write's "
                       f"{patch.cpu_us_per_request:.0f} µs.")
            report += [f"### {name}", "", *table(list(runs.items())), "", summary, ""]
            target.stop()
            processes.remove(target)
    finally:
        for process in processes:
            process.stop()
        if sink.proc is not None:
            sink.proc.terminate()
    with (BENCH / "RESULTS.md").open("a") as results:
        results.write("\n".join(report) + "\n")
    print("\n".join(report))


if __name__ == "__main__":
    main()
