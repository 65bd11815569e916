"""Deliver one journaled file: the plain function behind the Celery task.

Order of work: refuse unsafe paths before anything is read; skip stale or already-verified work;
check the local file against what was journaled; skip the upload if an identical object is already
stored; upload; run the integrity test; record the outcome in the journal.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from core.contract import UploadJob
from journal.files import Journal, State
from uploader.checksums import etag_is_md5
from uploader.digest import FileDigest, digest_file
from uploader.errors import (
    IntegrityError,
    LocalFileError,
    PermanentError,
    RetryableError,
    UnsafePath,
    reason_of,
)
from uploader.parts import choose_part_size, uses_multipart
from uploader.transfer import (
    Expected,
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


class Outcome(StrEnum):
    UPLOADED = "uploaded"
    ALREADY_STORED = "already-stored"
    ALREADY_VERIFIED = "already-verified"
    STALE = "stale"


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


def spool_file(spool_dir: Path, relative: str) -> Path:
    """Resolve a payload path inside the spool; raise UnsafePath if it leads outside (``..``, symlinks)."""
    root = Path(os.path.realpath(spool_dir))
    candidate = Path(os.path.realpath(root / relative))
    if not Path(relative).parts or Path(relative).is_absolute() or not candidate.is_relative_to(root):
        raise UnsafePath(f"refusing {relative!r}: it resolves outside the spool directory {root}")
    return candidate


def deliver(job: UploadJob, ctx: Delivery) -> Outcome:
    """Deliver ``job`` and journal the result; RetryableError and PermanentError are journaled, then raised."""
    path = spool_file(ctx.spool_dir, job.path)
    journal = ctx.journal
    row = journal.get(job.key)
    if row is None:
        journal.record(job)
    elif row.version > job.version or (row.version == job.version and row.md5 != job.md5):
        log.info("%s: skipping stale task (version %d, journal has %d)", job.key, job.version, row.version)
        return Outcome.STALE
    elif row.state == State.VERIFIED:
        return Outcome.ALREADY_VERIFIED
    journal.start_attempt(job.key)
    attempt = (row.attempts if row else 0) + 1
    try:
        outcome = _upload(job, path, attempt, ctx)
    except RetryableError as exc:
        journal.note_retry(
            job.key, reason_of(exc, job.key), integrity=isinstance(exc, IntegrityError), version=job.version
        )
        if isinstance(exc, IntegrityError):
            log.warning("integrity test failed, re-uploading: %s", exc)
        raise
    except PermanentError as exc:
        journal.mark_failed(job.key, reason_of(exc, job.key), version=job.version)
        _abort_recorded_multipart(job.key, ctx)
        raise
    _keep_latest_on_top(job, ctx)
    return outcome


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
        _upload(newer.job(), spool_file(ctx.spool_dir, newer.path), newer.attempts + 1, ctx)
    except (RetryableError, PermanentError) as exc:
        log.warning("%s: newest version left for its own task and the reconciler: %s", job.key, exc)


def _upload(job: UploadJob, path: Path, attempt: int, ctx: Delivery) -> Outcome:
    started = ctx.clock()
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise LocalFileError(f"{job.key}: spool file {job.path} is missing") from None
    if size != job.size:
        raise LocalFileError(f"{job.key}: spool file {job.path} has {size} bytes, journaled {job.size}")
    multipart = uses_multipart(job.size, ctx.multipart_threshold)
    part_size = choose_part_size(job.size, ctx.part_size) if multipart else None
    if attempt > 1:
        # A retry may follow an upload that landed after all: look before sending it again.
        expected = Expected.of(job, _local_digest(job, path, part_size, ctx))
        if stored_matches(ctx.client, ctx.target, job.key, expected):
            ctx.journal.mark_verified(job.key, job.md5)
            log.info("%s already stored intact (attempt %d), not sent again", job.key, attempt)
            return Outcome.ALREADY_STORED
    try:
        if part_size:
            landed = put_multipart(ctx.client, ctx.journal, ctx.target, job, path, part_size)
        else:
            sha = _local_digest(job, path, None, ctx).sha256 if ctx.target.sha256 else None
            landed = put_single(ctx.client, ctx.target, job, path, sha)
        check_returned_etag(job.key, landed)
        if ctx.verify_stored or not etag_is_md5(landed.etag, None):
            verify(ctx.client, ctx.target, job.key, landed.expected)
    except IntegrityError:
        # The server refused the body, or what landed differs: a file changed on disk is permanent,
        # a transit error is not.
        _local_digest(job, path, part_size, ctx)
        raise
    ctx.journal.mark_verified(job.key, job.md5)
    log.info(
        "delivered %s bytes=%d sent=%d attempt=%d seconds=%.3f",
        job.key,
        job.size,
        landed.sent,
        attempt,
        ctx.clock() - started,
    )
    return Outcome.UPLOADED


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
            abort_multipart(ctx.client, ctx.target.bucket, key, row.upload_id)
        except (RetryableError, PermanentError) as exc:
            # The reconciler aborts uploads no journal entry knows of; this one is left to it.
            log.warning("%s: could not abort multipart upload %s now: %s", key, row.upload_id, exc)
            return
        ctx.journal.set_multipart(key, None, None)
