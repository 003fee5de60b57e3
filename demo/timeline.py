"""The alerts' story: Prometheus's /api/v1/alerts polled about every second, each alert's episodes
(pending → firing → resolved, or pending → cleared without firing) with their times, and the
notifications Alertmanager sent to the webhook."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from demo.progress import clock


def _parse_time(text: str) -> float:
    # Prometheus writes RFC 3339 with nanoseconds; seconds to the microsecond are plenty.
    head, _, rest = text.rstrip("Z").partition(".")
    fraction = "".join(ch for ch in rest if ch.isdigit())[:6]
    value = datetime.fromisoformat(head).replace(tzinfo=UTC).timestamp()
    return value + (float("0." + fraction) if fraction else 0.0)


def utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S")


@dataclass
class Episode:
    alert: str
    severity: str
    labels: dict[str, str]
    pending_at: float  # Prometheus's activeAt: when the expression first held
    firing_at: float | None = None  # first poll that saw it firing
    ended_at: float | None = None  # first poll that no longer saw it
    value: str | None = None  # the expression's value when last seen

    @property
    def outcome(self) -> str:
        if self.ended_at is None:
            return "still firing" if self.firing_at is not None else "still pending"
        return "resolved" if self.firing_at is not None else "cleared while pending"

    @property
    def name(self) -> str:
        return f"{self.alert} ({self.severity})"


def _key(labels: dict[str, str]) -> str:
    return json.dumps(labels, sort_keys=True)


class Timeline:
    def __init__(self, started: float) -> None:
        self.started = started
        self.episodes: list[Episode] = []
        self._open: dict[str, Episode] = {}

    def poll(self, alerts: list[dict[str, Any]], now: float) -> list[str]:
        """Record what changed since the last poll; returns one line per change."""
        changes = []
        seen = set()
        for alert in alerts:
            labels = alert["labels"]
            key = _key(labels)
            seen.add(key)
            episode = self._open.get(key)
            if episode is None:
                episode = Episode(labels.get("alertname", "?"), labels.get("severity", "-"),
                                  labels, _parse_time(alert["activeAt"]))
                self._open[key] = episode
                self.episodes.append(episode)
                changes.append(f"{episode.name} pending")
            episode.value = alert.get("value")
            if alert["state"] == "firing" and episode.firing_at is None:
                episode.firing_at = now
                changes.append(f"{episode.name} FIRING")
        for key in list(self._open):
            if key not in seen:
                episode = self._open.pop(key)
                episode.ended_at = now
                changes.append(f"{episode.name} {episode.outcome}")
        return changes

    def active(self) -> list[str]:
        return [f"{e.alert}/{e.severity}{'' if e.firing_at else ' (pending)'}"
                for e in self._open.values()]

    def open_pages(self) -> bool:
        return any(e.severity == "page" for e in self._open.values())

    def fired(self) -> list[Episode]:
        return [e for e in self.episodes if e.firing_at is not None]

    def rel(self, ts: float | None) -> str:
        return "—" if ts is None else f"{clock(ts - self.started)} ({utc(ts)})"

    def write(self, out: Path, notifications: list[dict[str, Any]]) -> None:
        (out / "timeline.json").write_text(json.dumps({
            "started": self.started,
            "episodes": [{**asdict(e), "outcome": e.outcome} for e in self.episodes],
            "notifications": notifications,
        }, indent=1))
        (out / "timeline.md").write_text(self.markdown(notifications))

    def table(self) -> list[str]:
        lines = ["| alert | severity | pending | firing | resolved | outcome |",
                 "|---|---|---|---|---|---|"]
        for e in self.episodes:
            lines.append(f"| {e.alert} | {e.severity} | {self.rel(e.pending_at)} | "
                         f"{self.rel(e.firing_at)} | {self.rel(e.ended_at)} | {e.outcome} |")
        return lines

    def notification_table(self, notifications: list[dict[str, Any]]) -> list[str]:
        lines = ["| received | receiver | status | alerts |", "|---|---|---|---|"]
        for note in notifications:
            body = note["body"]
            alerts = ", ".join(
                f"{a['labels'].get('alertname')} ({a['labels'].get('severity', '-')}, "
                f"{a['status']})" for a in body.get("alerts", []))
            lines.append(f"| {self.rel(note['receivedAt'])} | {note['receiver']} | "
                         f"{body.get('status')} | {alerts} |")
        return lines

    def markdown(self, notifications: list[dict[str, Any]]) -> str:
        return "\n".join([
            "# Alert timeline", "",
            "Times are elapsed since the demo started (UTC in brackets). *pending*: Prometheus's "
            "`activeAt`, when the expression first held; *firing* and *resolved*: the first "
            "poll of `/api/v1/alerts` (about every second) that saw the change.", "",
            *self.table(), "",
            "## Notifications Alertmanager sent", "",
            "Each receiver of alertmanager.yml was replaced by a loopback webhook; routing, "
            "grouping and inhibition are the file's own.", "",
            *self.notification_table(notifications), "",
        ])
