"""The incident, through Toxiproxy between the service and FerretDB: the database slow (a
latency toxic on its replies), then down (the proxy disabled: the listener closes and every
open connection drops), then back (every proxy enabled, every toxic removed)."""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from tests.faults.toxiproxy import Toxiproxy
from tests.service import REPO

# Every reply of the database the latency SLO's threshold + 100 ms late, give or take 50 (for
# 300 ms: 350-450 ms): over the threshold for any request that waits on one, and under the
# service's 1 s per-operation timeout (MONGO_TIMEOUT_MS) even for an operation that opens a
# connection first (two round trips), so the slow phase is slow, not failing.
MARGIN_MS, JITTER_MS = 100, 50


def latency_ms() -> int:
    spec = yaml.safe_load((REPO / "service.yml").read_text())
    return round(float(spec["slos"]["latency"]["threshold_seconds"]) * 1000) + MARGIN_MS


@dataclass
class Incident:
    proxy: Toxiproxy
    name: str

    def slow(self) -> str:
        latency = latency_ms()
        self.proxy.add_toxic(self.name, "latency", "downstream", latency=latency,
                             jitter=JITTER_MS)
        return f"every database reply {latency}±{JITTER_MS} ms late (Toxiproxy latency toxic)"

    def down(self) -> str:
        self.proxy.enable(self.name, False)
        return "the database unreachable (Toxiproxy proxy disabled: connections refused)"

    def back(self) -> str:
        self.proxy.reset()
        return "the database back (proxy enabled, toxics removed)"
