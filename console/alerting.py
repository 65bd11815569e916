"""Alerts and the heartbeat, run by the console's sampler after each sample: nothing new runs on a venue PC.

The incidents of the console's states (``console.incidents``) go through the rules (``alerts.incidents``)
into the journal's outbox, and the sender's threads take them from there: the sampler only writes a row.
The venue's heartbeat goes to Redis (``alerts.heartbeat``) for the fleet page, and a clean stop signs off.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import redis

from alerts.heartbeat import beat_payload, publish_beat, sign_off
from alerts.incidents import FLAP_WINDOW, IncidentBook
from alerts.messages import alert_message
from alerts.sender import AlertSender
from alerts.targets import AlertTarget
from console.history import Point
from console.incidents import venue_conditions
from console.stream import viewers_link
from core.settings import Settings
from core.version import surecast_version
from journal.alerts import AlertOutbox

log = logging.getLogger(__name__)

KEEP_SENT_SECONDS = 30 * 86400.0  # sent messages are kept this long in the outbox, for the record


class VenueAlerts:
    """The venue's incidents, messages and heartbeat; ``observe`` is called from the sampler's thread."""

    def __init__(
        self, settings: Settings, targets: Sequence[AlertTarget], clock: Callable[[], float] = time.time
    ) -> None:
        self.venue = settings.venue_name
        self._channel = settings.encoder.channel
        self._viewers = viewers_link(settings.s3, settings.encoder.channel)
        self._spool = Path(settings.spool.dir)
        self._targets = list(targets)
        self._clock = clock
        self._book = IncidentBook(after=settings.alerts_after)
        self._sender = AlertSender(self._spool, self._targets, clock=clock) if self._targets else None
        self._outbox: AlertOutbox | None = None
        self._payload: dict[str, Any] | None = None
        self._beat_failing = False
        self._version = surecast_version()

    def start(self) -> None:
        """Open the outbox, take back the incidents still open, start the senders."""
        if not self._targets:
            log.info("alerts: none configured (SURECAST_ALERTS); the heartbeat names this venue %s", self.venue)
            return
        outbox = self._outbox = AlertOutbox(self._spool, clock=self._clock)
        now = self._clock()
        outbox.prune(now - KEEP_SENT_SECONDS)
        dropped = outbox.drop_other_targets(t.id for t in self._targets)
        if dropped:
            log.warning("alerts: %d unsent message(s) were for targets no longer in SURECAST_ALERTS", dropped)
        for o in outbox.open_incidents():
            self._book.reopen(o.incident, o.gist, o.since, o.raised_at, o.said_at)
        self._book.remember_recoveries(outbox.recoveries_since(now - FLAP_WINDOW))
        assert self._sender is not None
        self._sender.start()
        log.info("alerts: to %s, for venue %s", ", ".join(t.name for t in self._targets), self.venue)

    def observe(self, figures: dict[str, Any], history: Sequence[Point], client: redis.Redis, now: float) -> None:
        """One sample: messages for what changed, the heartbeat; adds ``figures["alerts"]``."""
        waiting = 0
        if self._outbox is not None:
            try:
                self._tell(figures, history, now)
                found = self._outbox.waiting()
                waiting = sum(w.messages for w in found)
                figures["alerts"] = {
                    "targets": [t.name for t in self._targets],
                    "waiting": waiting,
                    "last_error": next((w.last_error for w in found if w.last_error), None),
                }
            except sqlite3.Error as exc:
                log.warning("alerts: cannot write to the outbox, trying again next sample: %s", exc)
        self._payload = beat_payload(self.venue, self._channel, figures, self._viewers, waiting, now, self._version)
        try:
            publish_beat(client, self._payload)
        except redis.RedisError as exc:
            if not self._beat_failing:
                log.warning("fleet: cannot publish this venue's heartbeat to Redis, trying again: %s", exc)
            self._beat_failing = True
        else:
            self._beat_failing = False

    def _tell(self, figures: dict[str, Any], history: Sequence[Point], now: float) -> None:
        assert self._outbox is not None and self._sender is not None
        state = figures.get("state") or {}
        now_state = f"{state.get('label', '?')}, {state.get('detail', '')}".rstrip(", ")
        for notice in self._book.observe(venue_conditions(figures, history, now), now):
            message = alert_message(notice, self.venue, self._channel, now_state)
            self._outbox.add(message, [t.id for t in self._targets])
            log.warning("alerts: %s: %s", notice.kind, message.title)
            self._sender.wake()

    def stop(self, client: redis.Redis | None) -> None:
        """Sign off from the fleet (a clean stop is not a venue gone silent), stop the senders."""
        if client is not None and self._payload is not None:
            try:
                sign_off(client, self._payload)
            except redis.RedisError as exc:
                log.warning("fleet: could not sign off (the fleet will report this venue OFFLINE): %s", exc)
        if self._sender is not None:
            self._sender.stop()
        if self._outbox is not None:
            self._outbox.close()
