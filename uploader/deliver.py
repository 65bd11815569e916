"""Deliver one journaled file: the plain function behind the Celery task.

Order of work: refuse unsafe paths before anything is read; skip stale or already-verified work;
check the local file against what was journaled; skip the upload if an identical object is already
stored; upload; run the integrity test; record the outcome in the journal.

This is the one place the uploader writes the journal about an upload: ``uploader.transfer`` only talks
to S3, and a multipart upload's progress comes back here (``Multipart``) to be journaled as it happens.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from core.backoff import backoff_delay
from core.contract import UploadJob
from journal.files import Journal, State
from journal.rows import FileRow
from uploader.checksums import etag_is_md5
from uploader.digest import FileDigest, digest_file
from uploader.errors import (
    IntegrityError,
    LocalFileError,
    PermanentError,
    RetryableError,
    Suspect,
    UnsafePath,
    UploadVanished,
    reason_of,
)
from uploader.leases import LeaseKeeper
from uploader.parts import choose_part_size, uses_multipart
from uploader.s3client import ClientPool
from uploader.transfer import (
    Expected,
    Multipart,
    Target,
    abort_multipart,
    check_returned_etag,
    put_multipart,
    put_single,
    stored_matches,
    verify,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)
# Answers a mangled request or a middlebox produces (SignatureDoesNotMatch, a bare 4xx, an HTML page) are
# retried like a connection error this many times in a row before the file counts as failed.
SUSPECT_ATTEMPTS = 6


class Outcome(StrEnum):
    UPLOADED = "uploaded"
    ALREADY_STORED = "already-stored"
    ALREADY_VERIFIED = "already-verified"
    STALE = "stale"
    DEFERRED = "deferred"


@dataclass(frozen=True)
class RetryPolicy:
    """When a file is tried again: capped jittered backoff after a retryable error (no limit), a slow
    schedule after a permanent one, and how many suspect answers make a failure permanent."""

    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    failed_base: float = 30.0
    failed_cap: float = 600.0
    suspect_attempts: int = SUSPECT_ATTEMPTS

    def retry_delay(self, streak: int) -> float:
        return backoff_delay(streak, self.backoff_base, self.backoff_cap)

    def failed_delay(self, failures: int) -> float:
        return backoff_delay(failures, self.failed_base, self.failed_cap)


@dataclass(frozen=True)
class Delivery:
    """What delivering needs, passed in: the S3 client, the journal, the spool and the limits."""

    client: S3Client
    journal: Journal
    spool_dir: Path
    target: Target
    multipart_threshold: int
    part_size: int
    # Also read the object back (HEAD: size, ETag, checksum) after the returned ETag matched.
    verify_stored: bool = True
    clock: Callable[[], float] = time.monotonic
    retry: RetryPolicy = RetryPolicy()
    # A worker's clients by read timeout, and the leases its uploads hold; a plain client and no lease
    # for in-process callers.
    clients: ClientPool | None = None
    leases: LeaseKeeper | None = None

    def client_for(self, nbytes: int) -> S3Client:
        return self.clients.for_size(nbytes) if self.clients else self.client

    def holding(self, key: str) -> AbstractContextManager[None]:
        return self.leases.holding(key) if self.leases else nullcontext()


def spool_file(spool_dir: Path, relative: str) -> Path:
    """Resolve a payload path inside the spool; raise UnsafePath if it leads outside (``..``, symlinks)."""
    root = Path(os.path.realpath(spool_dir))
    candidate = Path(os.path.realpath(root / relative))
    if not Path(relative).parts or Path(relative).is_absolute() or not candidate.is_relative_to(root):
        raise UnsafePath(f"refusing {relative!r}: it resolves outside the spool directory {root}")
    return candidate


def deliver(job: UploadJob, ctx: Delivery, sent_at: int | None = None) -> Outcome:
    """Deliver ``job`` and journal the result. A retryable error is journaled as a retry due after a
    backoff, a permanent one as a failure retried on the slow schedule; then either is raised.

    ``sent_at``: the priority its message was published at. A file demoted since (the live edge passed it
    under the live-edge policy) goes back to the journal unsent, to be published again at its own priority:
    after an outage the messages waiting in Redis at the live priority are mostly such files, and the
    newest segments must not wait behind them (the backlog then uses what the live edge leaves)."""
    path = spool_file(ctx.spool_dir, job.path)
    journal = ctx.journal
    row = journal.get(job.key)
    if row is None:
        journal.record(job)
        row = journal.get(job.key)
        assert row is not None
    elif row.version > job.version or (row.version == job.version and row.md5 != job.md5):
        log.info("%s: skipping stale task (version %d, journal has %d)", job.key, job.version, row.version)
        return Outcome.STALE
    elif row.state == State.VERIFIED:
        return Outcome.ALREADY_VERIFIED
    elif sent_at is not None and row.priority > sent_at and row.state == State.QUEUED:
        journal.unclaim([job.key])
        log.info("%s: demoted since it was sent, published again behind the live edge", job.key)
        return Outcome.DEFERRED
    owner = ctx.leases.owner if ctx.leases else ""
    journal.start_attempt(job.key, owner, ctx.leases.lease_seconds if ctx.leases else 0.0)
    try:
        with ctx.holding(job.key):
            outcome = _upload(job, row, path, ctx)
    except Suspect as exc:
        if row.suspects + 1 < ctx.retry.suspect_attempts:
            journal.schedule_retry(
                job.key, reason_of(exc, job.key), ctx.retry.retry_delay(row.streak), suspect=True, version=job.version
            )
            raise
        _fail(job, row, f"{reason_of(exc, job.key)} ({row.suspects + 1} times in a row)", ctx)
        raise PermanentError(str(exc)) from exc
    except RetryableError as exc:
        integrity = isinstance(exc, IntegrityError)
        delay = ctx.retry.retry_delay(row.streak)
        journal.schedule_retry(job.key, reason_of(exc, job.key), delay, integrity=integrity, version=job.version)
        if integrity:
            log.warning("integrity test failed, re-uploading: %s", exc)
        raise
    except PermanentError as exc:
        _fail(job, row, reason_of(exc, job.key), ctx)
        raise
    _keep_latest_on_top(job, ctx)
    return outcome


def _fail(job: UploadJob, row: FileRow, reason: str, ctx: Delivery) -> None:
    """Journal a permanent failure, tried again on the slow schedule, and free its multipart upload."""
    ctx.journal.mark_failed(job.key, reason, version=job.version, retry_after=ctx.retry.failed_delay(row.failures))
    _abort_recorded_multipart(job.key, ctx)


def _keep_latest_on_top(job: UploadJob, ctx: Delivery) -> None:
    """Latest wins: if a newer version of the key was journaled while ours was in flight, its PUT may
    have landed before ours. Send the newest again so it ends on top; if that fails now, reopen it for
    the reconciler."""
    newer = ctx.journal.get(job.key)
    if newer is None or newer.version <= job.version:
        return
    log.info(
        "%s: version %d landed while %d is journaled; sending the newest again", job.key, job.version, newer.version
    )
    ctx.journal.reopen(job.key)
    try:
        _upload(newer.job(job.destination), newer, spool_file(ctx.spool_dir, newer.path), ctx)
    except (RetryableError, PermanentError) as exc:
        log.warning("%s: newest version left for its own task and the reconciler: %s", job.key, exc)


def _upload(job: UploadJob, row: FileRow, path: Path, ctx: Delivery) -> Outcome:
    """Upload ``job`` (journaled as ``row``) and test what landed; the journal records the outcome."""
    attempt = row.attempts + 1
    started = ctx.clock()
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise LocalFileError(f"{job.key}: spool file {job.path} is missing") from None
    if size != job.size:
        raise LocalFileError(f"{job.key}: spool file {job.path} has {size} bytes, journaled {job.size}")
    multipart = uses_multipart(job.size, ctx.multipart_threshold)
    part_size = choose_part_size(job.size, ctx.part_size) if multipart else None
    # The read timeout of one request grows with what it carries and the rate measured so far.
    client = ctx.client_for(part_size or job.size)
    if attempt > 1:
        # A retry may follow an upload that landed after all: look before sending it again.
        expected = Expected.of(job, _local_digest(job, path, part_size, ctx))
        if stored_matches(client, ctx.target, job.key, expected):
            ctx.journal.mark_verified(job.key, job.md5)
            log.info("%s already stored intact (attempt %d), not sent again", job.key, attempt)
            return Outcome.ALREADY_STORED
    try:
        if part_size:
            landed = put_multipart(client, ctx.target, job, path, part_size, _journaled(row, ctx.journal))
        else:
            sha = _local_digest(job, path, None, ctx).sha256 if ctx.target.sha256 else None
            landed = put_single(client, ctx.target, job, path, sha)
        sent_in = ctx.clock() - started
        check_returned_etag(job.key, landed)
        if ctx.verify_stored or not etag_is_md5(landed.etag, None):
            verify(client, ctx.target, job.key, landed.expected)
    except IntegrityError:
        # The server refused the body, or what landed differs: a file changed on disk is permanent,
        # a transit error is not.
        _local_digest(job, path, part_size, ctx)
        raise
    except UploadVanished:
        ctx.journal.set_multipart(job.key, None, None)
        raise
    ctx.journal.mark_verified(job.key, job.md5)
    if ctx.clients:
        ctx.clients.rate.note(landed.sent, sent_in)
    log.info(
        "delivered %s bytes=%d sent=%d attempt=%d seconds=%.3f",
        job.key,
        job.size,
        landed.sent,
        attempt,
        ctx.clock() - started,
    )
    return Outcome.UPLOADED


def _journaled(row: FileRow, journal: Journal) -> Multipart:
    """The multipart upload journaled for ``row`` to resume, and the journal's record of a new upload and
    of each part as it lands (progress also tells the reconciler that a long upload is alive)."""
    return Multipart(
        row.upload_id, row.part_size, partial(journal.set_multipart, row.key), partial(journal.record_part, row.key)
    )


def _local_digest(job: UploadJob, path: Path, part_size: int | None, ctx: Delivery) -> FileDigest:
    """Hash the spool file; raise LocalFileError if it no longer matches what was journaled."""
    digest = digest_file(path, job.size, part_size, ctx.target.sha256)
    if digest.md5 != job.md5:
        raise LocalFileError(f"{job.key}: spool file {job.path} changed since it was journaled (MD5 differs)")
    return digest


def _abort_recorded_multipart(key: str, ctx: Delivery) -> None:
    row = ctx.journal.get(key)
    if row and row.upload_id:
        try:
            abort_multipart(ctx.client_for(0), ctx.target.bucket, key, row.upload_id)
        except (RetryableError, PermanentError) as exc:
            # The reconciler aborts uploads no journal entry knows of; this one is left to it.
            log.warning("%s: could not abort multipart upload %s now: %s", key, row.upload_id, exc)
            return
        ctx.journal.set_multipart(key, None, None)
