"""The sender: one thread per target, taking that target's oldest unsent message from the outbox.

A message that cannot be sent stays in the outbox and is tried again after a backoff capped at
``RETRY_CAP`` seconds, for as long as it takes: the alert about a link that is down goes out soon after any
path works, saying how long it waited. Threads are daemons with bounded timeouts (``alerts.targets``):
a target that never answers delays only its own messages, never the caller (the console's sampler) and
never delivery.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from alerts.errors import AlertNotSent
from alerts.messages import late_note
from alerts.targets import AlertTarget, send_alert
from core.backoff import backoff_delay
from journal.alerts import AlertOutbox

log = logging.getLogger(__name__)

RETRY_BASE = 2.0  # seconds before a failed message is tried again, doubling ...
RETRY_CAP = 30.0  # ... up to this: the longest a message waits once a path works again
IDLE_WAIT = 5.0  # a thread with nothing due looks again after this long (or when woken)

Send = Callable[[AlertTarget, str, str, str], None]


class AlertSender:
    """Sends what the outbox holds for each target, until stopped."""

    def __init__(
        self,
        spool_dir: Path,
        targets: Sequence[AlertTarget],
        send: Send = send_alert,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._spool = Path(spool_dir)
        self._targets = list(targets)
        self._send = send
        self._clock = clock
        self._stop = threading.Event()
        self._wakes = {t.id: threading.Event() for t in self._targets}
        self._threads = [
            threading.Thread(target=self._run, args=(t,), name=f"surecast-alerts-{n}", daemon=True)
            for n, t in enumerate(self._targets)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def wake(self) -> None:
        """New messages are in the outbox."""
        for event in self._wakes.values():
            event.set()

    def stop(self, timeout: float = 2.0) -> None:
        """Ask every thread to end; one stuck in a send is a daemon and does not hold up the exit."""
        self._stop.set()
        self.wake()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self, target: AlertTarget) -> None:
        wake = self._wakes[target.id]
        outbox = AlertOutbox(self._spool, clock=self._clock)
        failing = False
        try:
            while not self._stop.is_set():
                try:
                    wait, failing = self._step(outbox, target, failing)
                except sqlite3.Error as exc:
                    log.warning("alerts: cannot read the outbox for %s, trying again: %s", target.name, exc)
                    wait = IDLE_WAIT
                wake.wait(wait)
                wake.clear()
        finally:
            outbox.close()

    def _step(self, outbox: AlertOutbox, target: AlertTarget, failing: bool) -> tuple[float, bool]:
        """Send the target's next message if it is due; returns how long to wait, and whether it fails."""
        row = outbox.next_for(target.id)
        now = self._clock()
        if row is None:
            return IDLE_WAIT, failing
        if row.next_attempt_at > now:
            return min(IDLE_WAIT, row.next_attempt_at - now), failing
        m = row.message
        try:
            self._send(target, m.title, m.body + late_note(row.created_at, now), m.level)
        except AlertNotSent as exc:
            delay = backoff_delay(row.attempts, RETRY_BASE, RETRY_CAP)
            outbox.schedule_retry(row.id, str(exc), self._clock() + delay)
            if not failing:
                log.warning("alerts: not sent to %s, trying again until it is: %s", target.name, exc)
            return delay, True
        outbox.mark_sent(row.id)
        waited = self._clock() - row.created_at
        log.info("alerts: sent to %s after %.1f s (attempt %d): %s", target.name, waited, row.attempts + 1, m.title)
        return 0.0, False
