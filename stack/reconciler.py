"""The reconciler: Redis may lose a task and a worker may die; the journal does not forget either.

It runs beside every upload worker, one elected per venue queue (``Election``, a lock in Redis). Each
round (a few times a second): files (and parts of big files) whose worker stopped renewing its lease go
back to be published; failed files whose slow retry is due are queued; a success since the last round
makes every waiting retry due at once (the link is back); published files and parts Redis no longer
holds are published again; and everything due goes out. Now and then it also aborts multipart uploads
no journal entry knows of, so abandoned parts do not cost storage forever, and it publishes the VOD of
ended events whose segments are all verified (``Finisher``: ``encoder.finish``, no command needed).

Beside a worker it runs in a child process the worker's ``ReconcileStep`` starts (``run_reconciler``,
spawned: a fresh interpreter), never as a thread of the worker's main process: the prefork pool forks
children from that process at any time, and a child forked while a thread holds a lock (imports,
logging, boto3) hangs on its first task. `surecast reconcile` runs the same functions in the foreground.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import secrets
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis
from celery import bootsteps

from core.publisher import Publisher
from core.settings import Settings
from encoder.errors import EncoderError
from encoder.event import LiveEvent
from encoder.finish import publish_vod
from encoder.keys import EventLayout
from journal.events import EventStore
from journal.files import Journal
from journal.rows import FileRow, PartRow
from uploader.constants import ABANDONED_MULTIPART_AFTER, RECONCILE_INTERVAL, RECOVER_AFTER
from uploader.errors import UploadError, s3_errors
from uploader.queues import messages_held
from uploader.s3client import make_s3_client
from uploader.transfer import abort_multipart

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)
TICK = 0.25  # seconds between rounds: what a due retry or a dead worker's file may wait beyond its time
LOCK_TTL = 3.0  # a dead reconciler's place is taken this soon
FINISH_EVERY = 2.0  # seconds between two looks for ended events whose archive is complete
FINISH_STOP_TIMEOUT = 3.0  # seconds the events being finished get to stop when the reconciler does
ABORT_EVERY = 20  # reconcile intervals between two sweeps for abandoned multipart uploads
STOP_TIMEOUT = 5.0  # seconds the reconciler process gets to stop after SIGTERM, before SIGKILL
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


# One round ------------------------------------------------------------------------------------------------


@dataclass
class RoundReport:
    recovered: int = 0  # leases that ran out: their worker died
    requeued_failed: int = 0
    expedited: int = 0
    lost: int = 0  # published, but Redis no longer had them
    published: int = 0
    parts_recovered: int = 0  # parts of big files whose worker died
    parts_published: int = 0
    broker_error: str | None = None  # Redis did not take the due files


@dataclass
class Reconciler:
    """One venue's reconciler, between rounds: the latest success it has seen."""

    journal: Journal
    publisher: Publisher
    settings: Settings
    clock: Callable[[], float] = time.time
    last_success: float = field(default=-1.0)

    def round(self, held_in_redis: int | None) -> RoundReport:
        """One round; ``held_in_redis`` is how many upload messages Redis holds (None: unknown)."""
        journal, upload = self.journal, self.settings.upload
        report = RoundReport()
        recovered = journal.expire_leases(RECOVER_AFTER)
        if recovered:
            log.warning("%d upload(s) whose worker stopped: published again for a live worker", len(recovered))
        report.recovered = len(recovered)
        report.parts_recovered = journal.expire_part_leases()
        if report.parts_recovered:
            log.warning("%d part(s) whose worker stopped: published again for a live worker", report.parts_recovered)
        report.requeued_failed = journal.requeue_due_failed()
        success = journal.latest_success_at()
        if success > self.last_success:
            if self.last_success >= 0:  # not the first round: something landed, the link works
                report.expedited = journal.expedite_retries() + journal.expedite_part_retries()
            self.last_success = success
        if held_in_redis is not None and held_in_redis < journal.expected_in_redis():
            report.lost = journal.republish_stale(self.clock() - upload.reconcile_after)
            report.lost += journal.republish_stale_parts(self.clock() - upload.reconcile_after)
            if report.lost:
                log.info("reconciler: %d published file(s) Redis no longer holds; publishing them again", report.lost)
        report.published = journal.publish_due(partial(self._send, report=report))
        if report.broker_error is None:
            report.parts_published = journal.publish_due_parts(partial(self._send_parts, report=report))
        return report

    def _send(self, rows: list[FileRow], report: RoundReport) -> list[str]:
        keys = self.publisher.publish(rows)
        report.broker_error = self.publisher.broker_error
        return keys

    def _send_parts(self, rows: list[PartRow], report: RoundReport) -> list[tuple[str, str, int]]:
        sent = self.publisher.publish_parts(rows)
        report.broker_error = self.publisher.broker_error
        return sent


def abort_abandoned_uploads(client: S3Client, journal: Journal, settings: Settings, now: datetime | None = None) -> int:
    """Abort multipart uploads under our prefix that no journal entry knows and that are old enough."""
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=ABANDONED_MULTIPART_AFTER)
    known = journal.known_upload_ids()
    aborted = 0
    paginator = client.get_paginator("list_multipart_uploads")
    prefix = settings.s3.prefix + "/" if settings.s3.prefix else ""
    with s3_errors(f"s3://{settings.s3.bucket}/{prefix}"):
        for page in paginator.paginate(Bucket=settings.s3.bucket, Prefix=prefix):
            for upload in page.get("Uploads", []):
                if upload["UploadId"] in known or upload["Initiated"] > cutoff:
                    continue
                abort_multipart(client, settings.s3.bucket, upload["Key"], upload["UploadId"])
                aborted += 1
    if aborted:
        log.info("aborted %d abandoned multipart upload(s)", aborted)
    return aborted


def requeue_failed_now(spool: Path, destination: str) -> None:
    """A worker starting may be the fix (credentials, bucket): failed files are tried again at once."""
    try:
        journal = Journal(spool, destination=destination)
    except sqlite3.Error as exc:
        log.warning("could not open the journal to retry failed files: %s", exc)
        return
    try:
        count = journal.requeue_failed()
    except sqlite3.Error as exc:
        log.warning("could not queue failed files again: %s", exc)
        return
    finally:
        journal.close()
    if count:
        log.info("%d failed file(s) queued again: a worker started", count)


# The election and the events to finish --------------------------------------------------------------------


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


# The loop, its process and the worker's step --------------------------------------------------------------


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
            problem = ""
            try:
                if not election.won():
                    continue
                report = reconciler.round(messages_held(broker, settings.queue))
                if report.broker_error:
                    problem = f"Redis did not take the due files, they wait in the journal: {report.broker_error}"
                now = time.monotonic()
                if now >= finish_at:
                    finish_at = now + FINISH_EVERY
                    finisher.check(destination)
                if now >= abort_at:
                    abort_at = now + RECONCILE_INTERVAL
                    if aborts % ABORT_EVERY == 0:
                        abort_abandoned_uploads(client, journal, settings)
                    aborts += 1
            except (redis.RedisError, UploadError, sqlite3.Error, OSError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if problem and problem != last_problem:
                log.warning("reconciler round skipped, trying again: %s", problem)
            elif last_problem and not problem:
                log.warning("reconciler rounds work again")
            last_problem = problem
    finally:
        finisher.stop()
        publisher.close()
        journal.close()


def run_reconciler(loaded: Settings, destination: str, log_level: int) -> None:
    """The reconciler process beside a worker (what ``ReconcileStep`` spawns): rounds until SIGTERM, or
    until the worker that started it is gone (a killed worker cannot stop it)."""
    logging.basicConfig(level=log_level, format=LOG_FORMAT)  # a spawned process starts unconfigured
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the worker too; it stops this process
    parent = multiprocessing.parent_process()
    worker = parent.pid if parent is not None else os.getppid()

    def stop(seconds: float) -> bool:
        return stopped.wait(seconds) or os.getppid() != worker  # adopted by another: the worker died

    reconcile_forever(loaded, destination, stop)


class ReconcileStep(bootsteps.StartStopStep):
    """Queues failed files again as the worker starts, and runs its destination's reconciler beside it in a
    child process (``run_reconciler``) until the worker stops."""

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._proc: SpawnProcess | None = None

    def start(self, parent: Any) -> None:
        settings, destination = parent.app.settings, parent.app.destination
        requeue_failed_now(Path(settings.spool.dir), destination)
        level = logging.getLogger().getEffectiveLevel()
        self._proc = multiprocessing.get_context("spawn").Process(
            target=run_reconciler,
            args=(settings, destination, level),
            name=f"surecast-reconciler-{destination}",
            daemon=True,  # should the worker exit without stopping its steps, the process still ends
        )
        self._proc.start()
        log.info("reconciler started (pid %s)", self._proc.pid)

    def stop(self, parent: Any) -> None:
        proc = self._proc
        if proc is None or not proc.is_alive():
            return
        proc.terminate()
        proc.join(STOP_TIMEOUT)
        if proc.is_alive():
            log.warning("the reconciler did not stop within %.0f s; killing it", STOP_TIMEOUT)
            proc.kill()
            proc.join(STOP_TIMEOUT)
