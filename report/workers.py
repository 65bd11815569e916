"""Which upload workers are online, asked of Celery (remote control, the shared config) every few seconds.

The question takes up to its timeout and can hang while Redis is away, so it runs in its own thread and
the console reads the last answer: fresh, or None (unknown) once no answer came for a while.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from celery import Celery
from kombu.exceptions import OperationalError

from core.celeryconfig import celery_config
from core.settings import Settings

log = logging.getLogger(__name__)

ASK_EVERY = 4.0
ANSWER_TIMEOUT = 1.0
STALE_AFTER = 12.0  # no answer this long: unknown
# An empty answer right after workers answered may be a reply that missed the timeout (a busy PC): the
# workers count as gone only once nobody has answered for this long.
EMPTY_AFTER = 10.0


def pool_sizes(app: Any, timeout: float = 3.0) -> dict[str, int]:
    """Current pool size of every upload worker that answers (Celery remote control)."""
    stats = app.control.inspect(timeout=timeout).stats() or {}
    return {node: len(info.get("pool", {}).get("processes", [])) for node, info in stats.items()}


def shown_workers(
    answer: dict[str, int] | None, answered_at: float, seen: dict[str, int], seen_at: float, now: float
) -> dict[str, int] | None:
    """What to show of the probe's answers: None when there is no recent one; the last workers seen while an
    empty answer may still be a missed reply; else the latest answer. Pure."""
    if answer is None or now - answered_at > STALE_AFTER:
        return None
    if not answer and seen and now - seen_at <= EMPTY_AFTER:
        return dict(seen)
    return dict(answer)


class WorkerProbe:
    """Upload workers online (node name -> pool processes), cached for ``every`` seconds."""

    def __init__(
        self,
        settings: Settings,
        every: float = ASK_EVERY,
        timeout: float = ANSWER_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._every = every
        self._timeout = timeout
        self._clock = clock
        self._answer: dict[str, int] | None = None
        self._answered_at = -float("inf")
        self._seen: dict[str, int] = {}  # the last non-empty answer
        self._seen_at = -float("inf")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="surecast-console-workers", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end; it is a daemon, so one stuck on an absent Redis does not hold up the exit."""
        self._stop.set()
        self._thread.join(self._timeout + 0.5)

    def latest(self) -> dict[str, int] | None:
        """The last answer, or None if there is none recent enough to trust."""
        with self._lock:
            return shown_workers(self._answer, self._answered_at, self._seen, self._seen_at, self._clock())

    def _run(self) -> None:
        app = Celery("surecast-console", set_as_current=False)
        app.conf.update(celery_config(self._settings, publish_forever=False))
        try:
            while not self._stop.is_set():
                started = self._clock()
                try:
                    answer = pool_sizes(app, timeout=self._timeout)
                except (OperationalError, redis.RedisError, OSError) as exc:
                    log.debug("workers: no answer from Celery: %s", exc)
                else:
                    with self._lock:
                        self._answer, self._answered_at = answer, self._clock()
                        if answer:
                            self._seen, self._seen_at = answer, self._answered_at
                self._stop.wait(max(0.0, self._every - (self._clock() - started)))
        finally:
            app.close()
