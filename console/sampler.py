"""The console's sampler: a thread that reads the figures every 2 s, keeps the history and the big state.

The web server only serves its latest snapshot, so a page (or ten) never queries the journal, Redis or
Celery itself, and a slow answer from any of them never blocks the server.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import redis

from console.figures import console_figures, point_of
from console.history import INTERVAL_SECONDS, History, Point
from console.state import LOOP_SECONDS, State, console_state, destination_lines
from core.settings import Settings
from journal.files import Journal
from report.status import destination_status
from report.workers import WorkerProbe

log = logging.getLogger(__name__)


class Observer(Protocol):
    """Told of every sample, in the sampler's thread (the alerts and the heartbeat: console.alerting)."""

    def observe(self, figures: dict[str, Any], history: Sequence[Point], client: redis.Redis, now: float) -> None: ...

    def stop(self, client: redis.Redis | None) -> None: ...


class Sampler:
    """Samples every ``interval`` seconds (and at once when woken, after an action) until stopped."""

    def __init__(
        self,
        settings: Settings,
        workers: WorkerProbe,
        interval: float = INTERVAL_SECONDS,
        clock: Callable[[], float] = time.time,
        observer: Observer | None = None,
    ) -> None:
        self._settings = settings
        self._observer = observer
        self._workers = workers
        self._interval = interval
        self._clock = clock
        self.history = History(interval=interval)
        self._latest: dict[str, Any] = {"now": clock(), "state": State("STARTING", "reading the figures").as_json()}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="surecast-console-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(10)

    def wake(self) -> None:
        """Sample now rather than at the next tick (an action changed the journal)."""
        self._wake.set()

    def latest(self) -> dict[str, Any]:
        with self._lock:
            return self._latest

    def _run(self) -> None:
        s = self._settings
        url = s.redis.url.get_secret_value()
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        journal = Journal(Path(s.spool.dir))
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                self.sample(journal, client)
                self._wake.wait(max(0.0, self._interval - (time.monotonic() - started)))
                self._wake.clear()
        finally:
            if self._observer is not None:
                self._observer.stop(client)
            journal.close()
            client.close()

    def _destinations(self, client: redis.Redis, now: float) -> dict[str, dict[str, Any]] | None:
        try:
            return destination_status(self._settings, client, clock=lambda: now)
        except (sqlite3.Error, OSError) as exc:
            log.warning("console: cannot read a destination's journal: %s", exc)
            return None

    def sample(self, journal: Journal, client: redis.Redis) -> dict[str, Any]:
        """One sample: figures, a history point, the big state; kept as the latest snapshot."""
        now = self._clock()
        s = self._settings
        try:
            figures = console_figures(
                journal,
                client,
                s.worker.queue,
                s.encoder.channel,
                s.encoder.segment_seconds,
                self._workers.latest(),
                now,
            )
        except (sqlite3.Error, OSError) as exc:
            log.warning("console: cannot read the journal: %s", exc)
            figures = {**self.latest(), "now": now}
            problem = State("PROBLEM", f"the console cannot read the journal ({exc}) — check the spool")
            figures["state"] = problem.as_json()
        else:
            if len(s.destinations()) > 1:
                figures["destinations"] = self._destinations(client, now)
            self.history.append(point_of(figures))
            recent = self.history.points(since=now - LOOP_SECONDS)
            figures["state"] = console_state(figures, recent, now).as_json()
            figures["destination_lines"] = destination_lines(figures, now)
            if self._observer is not None:
                self._observer.observe(figures, recent, client, now)
        with self._lock:
            self._latest = figures
        return figures
