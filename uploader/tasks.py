"""The upload task: validate the payload, deliver, and retry what may pass. Thin by design."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from celery import Celery, Task
from celery.exceptions import SoftTimeLimitExceeded
from pydantic import ValidationError

from core.backoff import backoff_delay
from core.contract import UPLOAD_TASK, UploadJob, priority_for
from core.settings import Settings
from journal.files import Journal
from uploader.deliver import Delivery, deliver
from uploader.errors import InvalidPayload, RetryableError
from uploader.s3client import make_s3_client
from uploader.transfer import Target

_delivery: tuple[int, Delivery] | None = None


def worker_delivery(settings: Settings) -> Delivery:
    """This process's S3 client and journal, made on first use after fork (neither survives a fork)."""
    global _delivery
    if _delivery is None or _delivery[0] != os.getpid():
        spool = Path(settings.spool.dir)
        _delivery = (
            os.getpid(),
            Delivery(
                client=make_s3_client(settings.s3),
                journal=Journal(spool),
                spool_dir=spool,
                target=Target(settings.s3.bucket, settings.s3.checksum_algorithm == "SHA256"),
                multipart_threshold=settings.s3.multipart_threshold,
                part_size=settings.s3.part_size,
                verify_stored=settings.s3.verify == "head",
            ),
        )
    return _delivery[1]


def register_upload_task(app: Celery, settings: Settings) -> None:
    """Add the upload task to ``app``, reading ``settings``."""

    @app.task(name=UPLOAD_TASK, bind=True, max_retries=None, acks_late=True)
    def upload(self: Task[Any, Any], /, **payload: Any) -> str:
        """Deliver one spool file to S3; retry connection trouble forever with capped backoff."""
        try:
            job = UploadJob.model_validate(payload)
        except ValidationError as exc:
            raise InvalidPayload(f"refusing task payload: {exc.errors(include_url=False)}") from None
        ctx = worker_delivery(settings)
        try:
            return deliver(job, ctx).value
        except (RetryableError, SoftTimeLimitExceeded) as exc:
            delay = backoff_delay(self.request.retries, settings.upload.backoff_base, settings.upload.backoff_cap)
            # The journal's priority, not the message's: the encoder demotes late live segments to backfill.
            row = ctx.journal.get(job.key)
            priority = row.priority if row else priority_for(job.kind)
            raise self.retry(exc=exc, countdown=delay, priority=priority) from exc
