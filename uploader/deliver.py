"""Deliver one journaled file: the plain function behind the Celery task.

Order of work: refuse unsafe paths before anything is read; skip stale or already-verified work;
check the local file against what was journaled; skip the upload if an identical object is already
stored; upload; run the integrity test; record the outcome in the journal.

A file above the multipart threshold is sent in parts, each journaled as it lands. One of more than
``SPLIT_ABOVE_PARTS`` parts, in a worker, is split: its task hashes it, starts (or resumes) the multipart
upload and queues every part not yet verified as a task of its own (``deliver_part``), so that every worker
process carries parts of one file; the task that verifies the last part completes the upload and runs the
integrity test of the whole. A smaller multipart file, and every file of in-process callers (no
``fan_out``), goes part after part from its own task.

This is the one place the uploader writes the journal about an upload: ``uploader.transfer`` only talks
to S3, and a multipart upload's progress comes back here (``Multipart``) to be journaled as it happens.
"""

from __future__ import annotations

import base64
import hashlib
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
from core.contract import PartJob, UploadJob
from journal.files import Journal, State
from journal.parts import PartIdent
from journal.rows import FileRow
from uploader.checksums import etag_is_md5
from uploader.digest import FileDigest, PartDigest, PartHasher, digest_file
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
from uploader.parts import choose_part_size, plan_parts, splits_into_tasks, uses_multipart
from uploader.s3client import ClientPool
from uploader.transfer import (
    Expected,
    Multipart,
    Target,
    abort_multipart,
    check_returned_etag,
    complete_multipart,
    completed_part,
    put_multipart,
    put_part,
    put_single,
    resume_or_create,
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
    SPLIT = "split"  # its parts went out as tasks of their own
    PART_SENT = "part-sent"


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
    # Publishes the parts due (``Journal.publish_due_parts``): a big file is split into a task per part.
    # None: a multipart file is sent part after part by the one call (in-process callers).
    fan_out: Callable[[], int] | None = None

    def client_for(self, nbytes: int) -> S3Client:
        return self.clients.for_size(nbytes) if self.clients else self.client

    def holding(self, key: str) -> AbstractContextManager[None]:
        return self.leases.holding(key) if self.leases else nullcontext()

    def holding_part(self, ident: PartIdent) -> AbstractContextManager[None]:
        return self.leases.holding_part(ident) if self.leases else nullcontext()

    @property
    def owner(self) -> str:
        return self.leases.owner if self.leases else ""

    @property
    def lease_seconds(self) -> float:
        return self.leases.lease_seconds if self.leases else 0.0


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
    journal.start_attempt(job.key, ctx.owner, ctx.lease_seconds)
    outcome = _attempt(job, row, ctx, partial(_upload, job, row, path, ctx))
    _keep_latest_on_top(job, ctx)
    return outcome


def _attempt(job: UploadJob, row: FileRow, ctx: Delivery, work: Callable[[], Outcome]) -> Outcome:
    """Run ``work`` on ``job``'s file holding its lease, and journal how it ended if not well."""
    journal = ctx.journal
    try:
        with ctx.holding(job.key):
            return work()
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
    if part_size and ctx.fan_out is not None and splits_into_tasks(job.size, part_size):
        return _split(job, row, path, part_size, client, ctx)
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


def _split(job: UploadJob, row: FileRow, path: Path, part_size: int, client: S3Client, ctx: Delivery) -> Outcome:
    """Start or resume the file's multipart upload, then hash the file part after part and queue each part not
    yet verified as a task of its own as soon as its MD5 (what its task must send) is known; parts S3 already
    holds intact are journaled verified, not sent again. With nothing left to send, complete here.

    Every part is journaled first, planned without an MD5 (not due), so no part's task can complete the
    upload before the last one is hashed; the file's lease is held until then too. A file that no longer
    hashes to its journaled MD5 fails (its upload aborted) before that lease is given up.
    """
    upload_id, present = resume_or_create(client, ctx.target, job, part_size, _journaled(row, ctx.journal))
    verified = ctx.journal.parts(job.key, upload_id)
    planned = plan_parts(job.size, part_size)
    ctx.journal.queue_parts(job.key, upload_id, [(p.number, p.offset, p.size, None, None) for p in planned])
    hasher = PartHasher(path, job.size, part_size, ctx.target.sha256)
    last = None
    for hashed in hasher:
        if last:
            _queue_part(job, upload_id, last, verified.get(last.part.number), present.get(last.part.number), ctx)
        last = hashed
    # The last part waits for the whole file's MD5: no part completes a file that changed since it was journaled.
    if hasher.md5 != job.md5:
        raise LocalFileError(f"{job.key}: spool file {job.path} changed since it was journaled (MD5 differs)")
    assert last is not None
    _queue_part(job, upload_id, last, verified.get(last.part.number), present.get(last.part.number), ctx)
    pending = ctx.journal.release_split(job.key, upload_id)
    if pending:
        log.info("%s: %d of %d parts queued as tasks of their own", job.key, pending, len(planned))
        return Outcome.SPLIT
    if not ctx.journal.claim_completion(job.key, upload_id, ctx.owner, ctx.lease_seconds):
        return Outcome.SPLIT  # another process completes it
    return _complete(job, upload_id, client, ctx, row.attempts + 1)


def _queue_part(
    job: UploadJob, upload_id: str, hashed: PartDigest, verified: str | None, present: str | None, ctx: Delivery
) -> None:
    """Give a hashed part its MD5 (so it is due) and publish it; one S3 holds intact (``present``, per ListParts)
    is journaled verified instead, unless it already is (``verified``)."""
    part, md5 = hashed.part, hashed.md5.hex()
    sha = base64.b64encode(hashed.sha256).decode() if hashed.sha256 else None
    if verified != md5 and present == md5:
        ctx.journal.record_part(job.key, upload_id, part.number, md5, part.size)
    ctx.journal.queue_parts(job.key, upload_id, [(part.number, part.offset, part.size, md5, sha)])
    assert ctx.fan_out is not None
    ctx.fan_out()


def deliver_part(job: PartJob, ctx: Delivery) -> Outcome:
    """Send one part of a split file and journal it verified; the process that verifies the last part
    completes the upload. A part that fails is queued again after a backoff (a retry of its file); an
    upload gone from S3 sends the file back to start anew; a permanent error fails the file."""
    path = spool_file(ctx.spool_dir, job.path)
    journal = ctx.journal
    row = journal.get(job.key)
    if row is None or (row.version, row.md5, row.upload_id) != (job.version, job.md5, job.upload_id):
        return Outcome.STALE
    ident = (job.key, job.upload_id, job.part)
    if row.state != State.UPLOADING:
        if row.state == State.QUEUED:
            # Its file went back to be split again (the splitting process died): published again from there.
            journal.unclaim_parts([ident])
        return Outcome.ALREADY_VERIFIED if row.state == State.VERIFIED else Outcome.STALE
    if not journal.start_part(ident, ctx.owner, ctx.lease_seconds):
        return Outcome.ALREADY_VERIFIED
    whole = row.job(job.destination)
    client = ctx.client_for(job.size)
    try:
        with ctx.holding_part(ident):
            _send_part(job, path, client, ctx)
    except UploadVanished as exc:
        journal.set_multipart(job.key, None, None)
        journal.schedule_retry(job.key, reason_of(exc, job.key), ctx.retry.retry_delay(row.streak), version=job.version)
        raise
    except RetryableError as exc:
        integrity = isinstance(exc, IntegrityError)
        journal.retry_part(ident, reason_of(exc, job.key), ctx.retry.retry_delay(journal.part_streak(ident)), integrity)
        if integrity:
            log.warning("integrity test of a part failed, re-uploading it: %s", exc)
        raise
    except PermanentError as exc:
        _fail(whole, row, reason_of(exc, job.key), ctx)
        raise
    if not journal.claim_completion(job.key, job.upload_id, ctx.owner, ctx.lease_seconds):
        return Outcome.PART_SENT
    return _attempt(whole, row, ctx, partial(_complete, whole, job.upload_id, client, ctx, row.attempts))


def _send_part(job: PartJob, path: Path, client: S3Client, ctx: Delivery) -> None:
    """Read the part, check it is what the file was split into, send it, and journal it verified."""
    try:
        with path.open("rb") as f:
            f.seek(job.first_byte)
            body = f.read(job.size)
    except FileNotFoundError:
        raise LocalFileError(f"{job.key}: spool file {job.path} is missing") from None
    md5 = hashlib.md5(body).digest()
    if len(body) != job.size or md5.hex() != job.part_md5:
        raise LocalFileError(f"{job.key}: spool file {job.path} changed since it was journaled (part {job.part})")
    started = ctx.clock()
    etag = put_part(client, ctx.target, job.key, job.upload_id, job.part, body, md5, job.part_sha256)
    ctx.journal.record_part(job.key, job.upload_id, job.part, etag, job.size)
    if ctx.clients:
        ctx.clients.rate.note(job.size, ctx.clock() - started)


def _complete(job: UploadJob, upload_id: str, client: S3Client, ctx: Delivery, attempt: int) -> Outcome:
    """Complete a split file's upload from its verified parts and run the integrity test of the whole: the
    returned ETag (and a HEAD where asked) against the MD5 of the parts' MD5s hashed when it was split. A
    mismatch starts the upload anew: which part is wrong is not known."""
    started = ctx.clock()
    sums = ctx.journal.part_checksums(job.key, upload_id)
    numbers = sorted(sums)
    if numbers != list(range(1, len(numbers) + 1)):
        raise UploadVanished(f"{job.key}: parts {numbers} of upload {upload_id} do not make a whole file")
    md5s = [bytes.fromhex(sums[n][0]) for n in numbers]
    shas = [base64.b64decode(sha) for n in numbers if (sha := sums[n][1])]
    completed = [completed_part(n, md5s[i], sums[n][1]) for i, n in enumerate(numbers)]
    try:
        landed = complete_multipart(client, ctx.target, job, upload_id, completed, md5s, shas, 0)
        check_returned_etag(job.key, landed)
        if ctx.verify_stored or not etag_is_md5(landed.etag, None):
            verify(client, ctx.target, job.key, landed.expected)
    except (IntegrityError, UploadVanished):
        ctx.journal.set_multipart(job.key, None, None)
        raise
    ctx.journal.mark_verified(job.key, job.md5)
    log.info(
        "delivered %s bytes=%d parts=%d attempt=%d seconds=%.3f (completion)",
        job.key,
        job.size,
        len(numbers),
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
