"""The reconciler: Redis may lose a task and a worker may die; the journal does not forget either.

Each round (a few times a second, in one elected process per venue queue): files whose worker stopped
renewing its lease go back to be published; failed files whose slow retry is due are queued; a success
since the last round makes every waiting retry due at once (the link is back); published files Redis no
longer holds are published again; and everything due goes out through the outbox. Now and then it also
aborts multipart uploads no journal entry knows of, so abandoned parts do not cost storage forever.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from core.publisher import Publisher
from core.settings import Settings
from journal.files import Journal
from uploader.errors import s3_errors
from uploader.transfer import abort_multipart

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)


@dataclass
class RoundReport:
    recovered: int = 0  # leases that ran out: their worker died
    requeued_failed: int = 0
    expedited: int = 0
    lost: int = 0  # published, but Redis no longer had them
    published: int = 0


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
        recovered = journal.expire_leases(upload.recover_after)
        if recovered:
            log.warning("%d upload(s) whose worker stopped: published again for a live worker", len(recovered))
        report.recovered = len(recovered)
        report.requeued_failed = journal.requeue_due_failed()
        success = journal.latest_success_at()
        if success > self.last_success:
            if self.last_success >= 0:  # not the first round: something landed, the link works
                report.expedited = journal.expedite_retries()
            self.last_success = success
        if held_in_redis is not None and held_in_redis < journal.expected_in_redis():
            report.lost = journal.republish_stale(self.clock() - upload.reconcile_after)
            if report.lost:
                log.info("reconciler: %d published file(s) Redis no longer holds; publishing them again", report.lost)
        report.published = journal.publish_due(self.publisher.publish)
        return report


def abort_abandoned_uploads(client: S3Client, journal: Journal, settings: Settings, now: datetime | None = None) -> int:
    """Abort multipart uploads under our prefix that no journal entry knows and that are old enough."""
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=settings.upload.abandoned_multipart_after)
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
