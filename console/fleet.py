"""`surecast fleet`'s watch: every venue's heartbeat read from the central Redis every 2 s, and the dead man's
switch: a venue whose beat expired without a sign-off is OFFLINE, alerted once, and recovered when it beats
again.

The page's rows are built here from the beats (``fleet_rows``, pure). For ``BEAT_TTL`` seconds after the
fleet starts, and after Redis comes back, a missing beat is not yet called OFFLINE: the venues have not
had the time to write one. A Redis the fleet cannot read is one alert of its own, not one per venue.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from alerts.heartbeat import BEAT_TTL, VenueBeat, read_fleet
from alerts.incidents import FLAP_WINDOW, Condition, IncidentBook
from alerts.messages import alert_message, clock
from alerts.sender import AlertSender
from alerts.targets import AlertTarget
from core.settings import Settings
from journal.alerts import AlertOutbox

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 2.0
REDIS_TIMEOUT = 2.0
OFFLINE_TODO = (
    "call someone at the venue: its PC, its console or its internet connection is down; the venue's own "
    "alerts arrive when its link returns"
)


@dataclass(frozen=True)
class FleetView:
    rows: list[dict[str, Any]]
    conditions: list[Condition]
    channels: dict[str, tuple[str, str]]  # incident -> (venue, channel), for the messages


def fleet_rows(beats: Sequence[VenueBeat], now: float, watching: bool) -> FleetView:
    """The page's rows and the alert conditions, from the venues' beats. Pure.

    ``watching``: false while a missing beat may only be one not yet written (see the module docstring).
    """
    rows, conditions, channels = [], [], {}
    for beat in beats:
        p = beat.payload
        heard = p.get("at")
        last = (p.get("state") or {}).get("label")
        was = f" (it was {last})" if last else ""
        if beat.alive:
            state = dict(p.get("state") or {"label": "STARTING", "detail": "", "level": "idle"})
        elif beat.signed_off:
            detail = f"its console stopped cleanly at {clock(heard or now)}{was}"
            state = {"label": "SIGNED OFF", "detail": detail, "level": "idle"}
        elif not watching:
            state = {"label": "WAITING", "detail": "no heartbeat yet: the fleet just started", "level": "idle"}
        else:
            detail = f"no heartbeat since {clock(heard or now)}{was}"
            state = {"label": "OFFLINE", "detail": detail, "level": "alert"}
            incident = f"offline:{beat.venue}"
            conditions.append(Condition(incident, "OFFLINE", detail, "OFFLINE", OFFLINE_TODO, after=0))
            channels[incident] = (beat.venue, str(p.get("channel") or ""))
        rows.append(
            {
                **{k: p.get(k) for k in ROW_FIELDS},
                "venue": beat.venue,
                "state": state,
                "alive": beat.alive,
                "heard_at": heard,
                "heard_seconds_ago": None if heard is None else round(max(0.0, now - float(heard)), 1),
            }
        )
    return FleetView(rows, conditions, channels)


ROW_FIELDS = (
    "channel",
    "event",
    "lag_seconds",
    "backlog_files",
    "backlog_bytes",
    "last_segment_at",
    "hours_left",
    "disk_free_bytes",
    "workers",
    "viewers_url",
    "destinations",
    "alerts_waiting",
    "version",
)


class FleetWatch:
    """Reads the fleet every ``interval`` seconds in a thread; the server serves its latest snapshot."""

    def __init__(
        self,
        settings: Settings,
        targets: Sequence[AlertTarget],
        interval: float = INTERVAL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._targets = list(targets)
        self._interval = interval
        self._clock = clock
        self._book = IncidentBook(after=settings.alerts_after)
        self._spool = Path(settings.spool.dir)
        self._sender = AlertSender(self._spool, self._targets, clock=clock) if self._targets else None
        self._outbox: AlertOutbox | None = None
        self._watch_from = clock() + BEAT_TTL
        self._redis_ok = True
        self._latest: dict[str, Any] = {"now": clock(), "venues": [], "redis": None}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="surecast-fleet", daemon=True)

    def start(self) -> None:
        if self._targets:
            outbox = self._outbox = AlertOutbox(self._spool, clock=self._clock)
            outbox.drop_other_targets(t.id for t in self._targets)
            for o in outbox.open_incidents():
                self._book.reopen(o.incident, o.gist, o.since, o.raised_at, o.said_at)
            self._book.remember_recoveries(outbox.recoveries_since(self._clock() - FLAP_WINDOW))
            assert self._sender is not None
            self._sender.start()
            log.info("fleet: alerts to %s", ", ".join(t.name for t in self._targets))
        else:
            log.info("fleet: no alert targets (SURECAST_ALERTS): OFFLINE venues are shown, not sent")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(REDIS_TIMEOUT * 3)
        if self._sender is not None:
            self._sender.stop()
        if self._outbox is not None:
            self._outbox.close()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return self._latest

    def _run(self) -> None:
        url = self._settings.redis.url.get_secret_value()
        client = redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT)
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                self.step(client)
                self._stop.wait(max(0.0, self._interval - (time.monotonic() - started)))
        finally:
            client.close()

    def step(self, client: redis.Redis) -> dict[str, Any]:
        """One look at the fleet: the snapshot, and the alerts it calls for."""
        now = self._clock()
        try:
            beats = read_fleet(client)
        except redis.RedisError as exc:
            if self._redis_ok:
                log.warning("fleet: cannot read the central Redis: %s", exc)
            self._redis_ok = False
            self._watch_from = float("inf")  # a beat missed while Redis was away is not a venue lost
            detail = f"the fleet cannot read the central Redis ({exc})"
            todo = "check the central server (docker compose -f compose.central.yml ps) and its address"
            problem = Condition("fleet:redis", "PROBLEM", detail, "central Redis unreachable", todo)
            snapshot = {**self.snapshot(), "now": now, "redis": detail}
            self._tell([problem], {"fleet:redis": ("the fleet", "")}, now, snapshot["venues"])
        else:
            if not self._redis_ok:
                log.info("fleet: the central Redis answers again")
                self._watch_from = now + BEAT_TTL
            self._redis_ok = True
            self._watch_from = min(self._watch_from, now + BEAT_TTL)
            view = fleet_rows(beats, now, watching=now >= self._watch_from)
            snapshot = {"now": now, "venues": view.rows, "redis": None}
            self._tell(view.conditions, view.channels, now, view.rows)
        snapshot["alerts"] = self._alerts_figures()
        with self._lock:
            self._latest = snapshot
        return snapshot

    def _tell(
        self,
        conditions: list[Condition],
        channels: dict[str, tuple[str, str]],
        now: float,
        rows: Sequence[dict[str, Any]],
    ) -> None:
        for notice in self._book.observe(conditions, now):
            venue, channel = channels.get(notice.condition.incident, (_venue_of(notice.condition.incident), ""))
            row = next((r for r in rows if r["venue"] == venue), None)
            if row is not None and not channel:
                channel = str(row.get("channel") or "")
            now_state = f"{row['state'].get('label')}, {row['state'].get('detail')}" if row and row["alive"] else ""
            message = alert_message(notice, venue, channel, now_state)
            log.warning("fleet: %s: %s", notice.kind, message.title)
            if self._outbox is None or self._sender is None:
                continue
            try:
                self._outbox.add(message, [t.id for t in self._targets])
            except sqlite3.Error as exc:
                log.error("fleet: cannot write the alert to the outbox: %s", exc)
            self._sender.wake()

    def _alerts_figures(self) -> dict[str, Any]:
        if self._outbox is None:
            return {"targets": [], "waiting": 0}
        try:
            waiting = self._outbox.waiting()
        except sqlite3.Error:
            return {"targets": [t.name for t in self._targets], "waiting": None}
        return {"targets": [t.name for t in self._targets], "waiting": sum(w.messages for w in waiting)}


def _venue_of(incident: str) -> str:
    return incident.split(":", 1)[1] if incident.startswith("offline:") else "the fleet"
