"""The upload task: validate the payload, deliver, and let the journal schedule what may pass. Thin by design.

No retry is ever held in a worker as a countdown message: a retryable error is journaled as due after a
backoff (the reconciler publishes it then), a permanent one as failed with a slow retry; the message is
acknowledged either way. An unexpected error is treated like a retryable one (logged with its traceback
once per file), so no task ends in an exception Celery would acknowledge and drop. When the journal itself
cannot be written (a full disk), the message goes back to Redis after a pause instead.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from celery import Celery, Task
from celery.exceptions import Reject, SoftTimeLimitExceeded
from celery.signals import worker_process_init
from pydantic import ValidationError

from core.contract import PRIMARY, UPLOAD_PART_TASK, UPLOAD_TASK, PartJob, UploadJob
from core.publisher import Publisher
from core.settings import Settings
from journal.files import Journal
from uploader.constants import LEASE_SECONDS
from uploader.deliver import Delivery, RetryPolicy, deliver, deliver_part
from uploader.errors import InvalidPayload, PermanentError, RetryableError
from uploader.leases import LeaseKeeper
from uploader.s3client import ClientPool
from uploader.transfer import Target

log = logging.getLogger(__name__)
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}
JOURNAL_DOWN_PAUSE = 2.0  # seconds a task waits before handing back a message it could not journal

_deliveries: dict[tuple[int, str], Delivery] = {}
_making = threading.Lock()  # the start-up thread and the first task may both ask
_traced: set[str] = set()  # files whose unexpected error was logged with its traceback (once each)


def worker_delivery(settings: Settings) -> Delivery:
    """This process's S3 clients, journal and lease keeper for the destination ``settings`` serve, made on
    first use after fork (none survives a fork)."""
    slot = (os.getpid(), settings.destination)
    with _making:
        return _deliveries.get(slot) or _make_delivery(slot, settings)


def _make_delivery(slot: tuple[int, str], settings: Settings) -> Delivery:
    spool = Path(settings.spool.dir)
    clients = ClientPool(settings.s3)
    upload = settings.upload
    # An upload's progress: a power cut may take it back, the reconciler redoes it (journal/db.py).
    journal = Journal(spool, destination=settings.destination, durable=False)
    publisher = Publisher(settings)  # the parts of a big file, each a task (what Redis misses, the reconciler sends)
    delivery = _deliveries[slot] = Delivery(
        client=clients.default(),
        journal=journal,
        spool_dir=spool,
        target=Target(settings.s3.bucket, settings.s3.checksum_algorithm == "SHA256"),
        multipart_threshold=settings.s3.multipart_threshold,
        part_size=settings.s3.part_size,
        verify_stored=settings.s3.verify == "head",
        retry=RetryPolicy(
            upload.backoff_base,
            upload.backoff_cap,
            upload.failed_retry_base,
            upload.failed_retry_cap,
        ),
        clients=clients,
        leases=LeaseKeeper(spool, LEASE_SECONDS, settings.destination),
        fan_out=lambda: journal.publish_due_parts(publisher.publish_parts),
    )
    return delivery


def disk_trouble(exc: BaseException) -> bool:
    """An error of the spool's disk (full, read-only, failing), during which nothing can be journaled."""
    return isinstance(exc, OSError) and exc.errno in DISK_ERRNOS


def run_upload(job: UploadJob | PartJob, ctx: Delivery, sent_at: int | None = None) -> str:
    """Deliver ``job``, a file (its message published at priority ``sent_at``) or a part of one; whatever
    happens is in the journal when this returns. Returns what happened."""
    try:
        if isinstance(job, PartJob):
            return deliver_part(job, ctx).value
        return deliver(job, ctx, sent_at).value
    except RetryableError:
        return "retry scheduled"
    except PermanentError as exc:
        log.error("%s", exc)
        return "failed"
    except SoftTimeLimitExceeded:
        _retry_later(job, ctx, "ran past the soft time limit")
        return "retry scheduled"
    except sqlite3.Error:
        raise  # the journal could not be written: the caller hands the message back
    except Exception as exc:  # noqa: BLE001 - never acknowledge and drop: retried like a connection error
        if disk_trouble(exc):
            raise
        if job.key not in _traced:
            _traced.add(job.key)
            log.exception("%s: unexpected error, retried like a connection error", job.key)
        _retry_later(job, ctx, f"unexpected {type(exc).__name__}: {exc}")
        return "retry scheduled"


def _retry_later(job: UploadJob | PartJob, ctx: Delivery, reason: str) -> None:
    """Journal a retry after the backoff: of the part alone for a part, else of the file."""
    if isinstance(job, PartJob):
        ident = (job.key, job.upload_id, job.part)
        ctx.journal.retry_part(ident, reason, ctx.retry.retry_delay(ctx.journal.part_streak(ident)))
        return
    row = ctx.journal.get(job.key)
    ctx.journal.schedule_retry(job.key, reason, ctx.retry.retry_delay(row.streak if row else 0), version=job.version)


def prepare_process(settings: Settings, destination: str) -> None:
    """Make this pool process's S3 clients and journal as it starts (in a thread: the pool's start-up
    handshake is not held up), so the first file, the first segment of an event, does not wait for them.
    A failure here is only logged: the first task makes them again and reports what is wrong."""

    def prepare() -> None:
        try:
            worker_delivery(settings.for_destination(destination))
        except Exception as exc:  # noqa: BLE001 - see above
            log.warning("could not prepare the S3 clients and the journal at start: %s", exc)

    threading.Thread(target=prepare, name="surecast-prepare", daemon=True).start()


def register_upload_task(app: Celery, settings: Settings, destination: str = PRIMARY) -> None:
    """Add the upload task to ``app``, reading ``settings``; each pool process prepares ``destination``'s
    clients as it starts."""
    worker_process_init.connect(lambda **_: prepare_process(settings, destination), weak=False)

    @app.task(name=UPLOAD_TASK, bind=True, acks_late=True)
    def upload(self: Task[Any, Any], /, **payload: Any) -> str:
        """Deliver one spool file to S3; what may pass is tried again when the journal says it is due."""
        try:
            job = UploadJob.model_validate(payload)
        except ValidationError as exc:
            raise InvalidPayload(f"refusing task payload: {exc.errors(include_url=False)}") from None
        try:
            served = settings.for_destination(job.destination)
        except ValueError as exc:  # a destination this worker's settings do not know
            raise InvalidPayload(f"refusing task payload: {exc}") from None
        sent_at = (self.request.delivery_info or {}).get("priority")
        return _run_or_hand_back(job, served, sent_at)

    @app.task(name=UPLOAD_PART_TASK, acks_late=True)
    def upload_part(**payload: Any) -> str:
        """Send one part of a big file; the part that completes the file runs its integrity test too."""
        try:
            job = PartJob.model_validate(payload)
        except ValidationError as exc:
            raise InvalidPayload(f"refusing task payload: {exc.errors(include_url=False)}") from None
        try:
            served = settings.for_destination(job.destination)
        except ValueError as exc:
            raise InvalidPayload(f"refusing task payload: {exc}") from None
        return _run_or_hand_back(job, served, None)


def _run_or_hand_back(job: UploadJob | PartJob, served: Settings, sent_at: int | None) -> str:
    """``run_upload``; when the journal cannot be written, the message goes back to Redis after a pause."""
    try:
        return run_upload(job, worker_delivery(served), sent_at)
    except (sqlite3.Error, OSError) as exc:
        if isinstance(exc, OSError) and not disk_trouble(exc):
            raise
        log.warning("%s: the journal cannot be written (%s); the task goes back to Redis", job.key, exc)
        time.sleep(JOURNAL_DOWN_PAUSE)
        raise Reject(str(exc), requeue=True) from exc
