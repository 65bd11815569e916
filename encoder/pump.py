"""Publishing from the journal, in a thread of its own so a slow or dead Redis never holds up readiness.

The encoder journals a file, then pokes the pump. The pump publishes every journaled file whose task
never reached Redis (``Journal.claim_due()``, playlists first); when Redis is down the files stay
queued in the journal and the pump tries again every ``interval`` seconds until they are out. It says
Redis is unreachable only when a publish to it failed, and that it is back only after such a failure.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from functools import partial
from pathlib import Path

import redis
from kombu.exceptions import OperationalError

from core.publisher import Publisher
from core.settings import Settings
from journal.files import FileRow, Journal

log = logging.getLogger(__name__)
JOIN_TIMEOUT = 10.0


class PublishPump:
    """Publishes journaled files to Redis: on demand, and every ``interval`` seconds while any wait."""

    def __init__(self, settings: Settings, interval: float) -> None:
        self._settings = settings
        self._interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="surecast-publish", daemon=True)
        self.published = 0
        self.unreachable = False  # the last round's publish failed: Redis refused or did not answer
        self.waiting = 0  # files waiting in the journal while Redis is unreachable

    def start(self) -> None:
        self._thread.start()

    def notify(self) -> None:
        """Something was journaled: publish it now."""
        self._wake.set()

    def stop(self) -> None:
        """Publish what is left once (bounded), then end the thread."""
        self._stop.set()
        self._wake.set()
        self._thread.join(JOIN_TIMEOUT)
        if self._thread.is_alive():
            log.warning(
                "publisher thread still busy after %.0f s; journaled files wait for the reconciler", JOIN_TIMEOUT
            )

    def _loop(self) -> None:
        spool = Path(self._settings.spool.dir)
        outboxes = [
            (Journal(spool, destination=d.name), Publisher(self._settings.for_destination(d.name)))
            for d in self._settings.destinations()
        ]
        try:
            while True:
                stopping = self._stop.is_set()
                self._wake.clear()  # before publishing: a poke during the round starts another one
                self._publish_waiting(outboxes)
                if stopping:
                    return
                self._wake.wait(self._interval)
        finally:
            for journal, publisher in outboxes:
                publisher.close()
                journal.close()

    def _publish_waiting(self, outboxes: list[tuple[Journal, Publisher]]) -> None:
        """Every destination's due files (one Redis carries them all, each to its own queue).

        Redis counts as unreachable only when a publish to it failed: files journaled while a round runs
        (a new segment, a playlist) also wait a moment, and that is no sign of trouble.
        """
        failures: list[str] = []
        try:
            sent = 0
            for journal, publisher in outboxes:
                sent += journal.publish_due(partial(self._send, publisher, failures=failures))
            waiting = sum(journal.due_count() for journal, _ in outboxes) if failures else 0
        except (sqlite3.Error, OperationalError, redis.RedisError, OSError) as exc:
            log.warning("publishing skipped this round, will retry: %s", exc)
            return
        self.published += sent
        if failures and not self.unreachable:
            log.warning(
                "Redis unreachable: journaled files wait and encoding goes on; retrying every %.1f s (%s)",
                self._interval,
                failures[0],
            )
        elif self.unreachable and not failures:
            log.warning("Redis reachable again: the files that waited are published")
        self.unreachable = bool(failures)
        self.waiting = waiting

    @staticmethod
    def _send(publisher: Publisher, rows: list[FileRow], failures: list[str]) -> list[str]:
        """Publish ``rows``; a broker error is noted in ``failures``."""
        keys = publisher.publish(rows)
        if publisher.broker_error:
            failures.append(publisher.broker_error)
        return keys
