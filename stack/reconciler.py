"""The reconciler process beside every worker (``surecast reconcile --every N``): one elected per venue queue.

A few times a second the elected one runs a round of ``uploader.reconcile.Reconciler`` (dead workers'
files, due retries, the link coming back, what Redis lost, the outbox). Every ``--every`` seconds it also
aborts abandoned multipart uploads now and then; every two seconds it finishes events whose archive
completed after their encoder stopped: it publishes their VOD (``encoder.finish``), no command needed.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import redis

from core.publisher import Publisher
from core.settings import Settings
from encoder.errors import EncoderError
from encoder.event import LiveEvent
from encoder.finish import publish_vod
from encoder.keys import EventLayout
from journal.events import EventStore
from journal.files import Journal
from uploader.errors import UploadError
from uploader.queues import messages_held
from uploader.reconcile import Reconciler, abort_abandoned_uploads
from uploader.s3client import make_s3_client

log = logging.getLogger(__name__)
TICK = 0.25  # seconds between rounds: what a due retry or a dead worker's file may wait beyond its time
LOCK_TTL = 3.0  # a dead reconciler's place is taken this soon
FINISH_EVERY = 2.0  # seconds between two looks for ended events whose archive is complete
FINISH_STOP_TIMEOUT = 3.0  # seconds the events being finished get to stop when the reconciler does
ABORT_EVERY = 20  # reconcile intervals between two sweeps for abandoned multipart uploads


def lock_key(queue: str) -> str:
    """One reconciler per venue queue: venues sharing a Redis each keep their own."""
    return f"surecast:reconciler:{queue}"


class Election:
    """Holds the venue's reconciler lock in Redis while this process is alive."""

    def __init__(self, client: redis.Redis, queue: str) -> None:
        self.client = client
        self.key = lock_key(queue)
        self.token = secrets.token_hex(8)

    def won(self) -> bool:
        ttl = int(LOCK_TTL * 1000)
        if self.client.set(self.key, self.token, nx=True, px=ttl):
            return True
        holder = self.client.get(self.key)
        if holder is not None and (holder.decode() if isinstance(holder, bytes) else holder) == self.token:
            self.client.pexpire(self.key, ttl)
            return True
        return False


class Finisher:
    """Publishes the VOD of ended events whose segments are all verified on this process's destination and
    whose VOD is not there yet (``encoder.finish.publish_vod``, in a thread per event, one at a time; a
    failure is logged and tried again later); marks an event archived once every destination has its VOD."""

    def __init__(self, settings: Settings, events: EventStore) -> None:
        self.settings = settings
        self.events = events
        spool = Path(settings.spool.dir)
        self.journals = {d.name: Journal(spool, destination=d.name) for d in settings.destinations()}
        self.prefixes = {d.name: d.s3.prefix for d in settings.destinations()}
        self.running: dict[str, threading.Thread] = {}
        self._finishing: dict[str, LiveEvent] = {}  # the events being finished, to stop them
        self._lock = threading.Lock()
        self._stopping = False

    def check(self, destination: str) -> None:
        self.running = {event: thread for event, thread in self.running.items() if thread.is_alive()}
        for row in self.events.ended_unarchived():
            archived = {name: self._has_vod(name, row.event) for name in self.journals}
            if all(archived.values()):
                self.events.mark_archived(row.event)
                continue
            if row.event in self.running or archived[destination]:
                continue
            layout = EventLayout(self.prefixes[destination], row.event)
            if not self.journals[destination].segments_verified_under(layout.spool_root):
                continue
            log.info("event %s: every segment verified on %s; publishing its VOD there", row.event, destination)
            thread = threading.Thread(
                target=self._publish, args=(row.event, destination), name=f"surecast-finish-{row.event}", daemon=True
            )
            self.running[row.event] = thread
            thread.start()

    def _publish(self, event: str, destination: str) -> None:
        try:
            publish_vod(self.settings, event, [destination], partial(self._started, event))
        except (EncoderError, sqlite3.Error, OSError) as exc:
            log.warning("finishing event %s on %s stopped, trying again later: %s", event, destination, exc)
        finally:
            with self._lock:
                self._finishing.pop(event, None)

    def _started(self, event: str, live: LiveEvent) -> None:
        with self._lock:
            self._finishing[event] = live
            if self._stopping:
                _abort(live)

    def _has_vod(self, destination: str, event: str) -> bool:
        key = EventLayout(self.prefixes[destination], event).master_key(vod=True)
        return self.journals[destination].is_verified(key)

    def stop(self, timeout: float = FINISH_STOP_TIMEOUT) -> None:
        """Stop waiting for the events being finished (they are tried again by the next reconciler)."""
        with self._lock:
            self._stopping = True
            for live in self._finishing.values():
                _abort(live)
        deadline = time.monotonic() + timeout
        for thread in self.running.values():
            thread.join(max(0.0, deadline - time.monotonic()))
        for journal in self.journals.values():
            journal.close()


def _abort(live: LiveEvent) -> None:
    """End an event's finishing now: the first request ends it cleanly, the second stops the wait."""
    live.request_stop()
    live.request_stop()


def reconcile_forever(loaded: Settings, destination: str, stop: Callable[[float], bool]) -> None:
    """Rounds every TICK for ``destination`` while this process holds its lock; ``stop(seconds)`` waits and
    says whether to end. Errors of a round (Redis or S3 away, a full disk) are logged once and the next
    round tries again."""
    settings = loaded.for_destination(destination)
    spool = Path(settings.spool.dir)
    journal = Journal(spool, destination=settings.destination)
    publisher = Publisher(settings)
    client = make_s3_client(settings.s3)
    broker = redis.Redis.from_url(settings.redis.url.get_secret_value(), socket_timeout=5, socket_connect_timeout=5)
    election = Election(broker, settings.queue)
    reconciler = Reconciler(journal, publisher, settings)
    finisher = Finisher(loaded, EventStore(Journal(spool)))
    finish_at = abort_at = 0.0
    aborts = 0
    last_problem = ""
    try:
        while not stop(TICK):
            try:
                if not election.won():
                    continue
                reconciler.round(messages_held(broker, settings.queue))
                now = time.monotonic()
                if now >= finish_at:
                    finish_at = now + FINISH_EVERY
                    finisher.check(destination)
                if now >= abort_at:
                    abort_at = now + settings.upload.reconcile_interval
                    if aborts % ABORT_EVERY == 0:
                        abort_abandoned_uploads(client, journal, settings)
                    aborts += 1
                if last_problem:
                    log.warning("reconciler rounds work again")
                    last_problem = ""
            except (redis.RedisError, UploadError, sqlite3.Error, OSError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
                if problem != last_problem:
                    log.warning("reconciler round skipped, trying again: %s", problem)
                    last_problem = problem
    finally:
        finisher.stop()
        publisher.close()
        journal.close()
