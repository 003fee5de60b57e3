"""How long each phase lasts and how much the alerting clock is compressed: the full demo (a few
minutes, for people) and the smoke scale (seconds, for the test suite)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    name: str
    # Every duration in the rules and in Alertmanager's timers is divided by this.
    compression: int
    # Prometheus scrapes and evaluates at this interval (seconds).
    interval: float
    warmup: float
    slow: float
    down: float
    # Recovering lasts at least this, then until every page has resolved, at most the maximum.
    recover_min: float
    recover_max: float
    # What Grafana's $__rate_interval stands for in the rendered panels.
    rate_interval: str
    # The whole run, startup and report included; past it the demo stops and fails.
    deadline: float

    @property
    def interval_text(self) -> str:
        return f"{round(self.interval * 1000)}ms"

    def check(self, shortest_range_ms: int) -> None:
        """The shortest compressed window must still hold a few scrapes, or rate() over it
        is noise (or nothing)."""
        scrapes = shortest_range_ms / (self.interval * 1000)
        if scrapes < 4:
            raise ValueError(
                f"compression {self.compression} leaves the shortest rule window "
                f"{shortest_range_ms} ms: {scrapes:.1f} scrapes at {self.interval_text}; "
                "compress less or scrape more often")


SCALES = {
    # 5m/60 = 5 s of 1 s scrapes; 1h → 1 min, 6h → 6 min, `for: 2m` → 2 s.
    "full": Scale("full", compression=60, interval=1.0, warmup=60, slow=55, down=55,
                  recover_min=25, recover_max=80, rate_interval="10s", deadline=420),
    # 5m/120 = 2.5 s of 0.5 s scrapes.
    "smoke": Scale("smoke", compression=120, interval=0.5, warmup=4, slow=5, down=5,
                   recover_min=3, recover_max=6, rate_interval="2s", deadline=110),
}
