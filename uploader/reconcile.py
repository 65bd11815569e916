"""The reconciler: Redis may lose a task; the journal does not. Re-publish what is overdue.

Also aborts multipart uploads in the bucket that no journal entry knows of, so abandoned parts do
not cost storage forever.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from core.settings import Settings
from journal.files import Journal
from journal.outbox import Publisher, publish_and_mark
from uploader.errors import UploadError, s3_errors
from uploader.transfer import abort_multipart

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)


def republish_overdue(
    journal: Journal,
    publisher: Publisher,
    settings: Settings,
    held_in_redis: int | None = None,
    clock: Callable[[], float] = time.time,
) -> int:
    """Re-publish every file not verified within its deadline; return how many were published.

    ``held_in_redis`` is how many upload messages Redis holds (waiting, reserved or in a retry
    countdown). When it covers every unverified file, nothing was lost: a long backlog is only slow,
    and re-publishing it would double the work.
    """
    if held_in_redis is not None and held_in_redis >= journal.totals().waiting_files:
        return 0
    now = clock()
    rows = journal.overdue(
        queued_before=now - settings.upload.reconcile_after,
        uploading_before=now - settings.visibility_timeout,
    )
    if not rows:
        return 0
    count = publish_and_mark(journal, publisher, rows)
    log.info("reconciler re-published %d of %d overdue file(s)", count, len(rows))
    return count


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


LOCK_KEY = "surecast:reconciler"


def reconcile_forever(settings: Settings, stop: Callable[[float], bool]) -> None:
    """Every interval, if this process wins the Redis election: re-publish what Redis lost, and now and
    then abort abandoned multipart uploads. ``stop(seconds)`` waits and says whether to end."""
    import redis

    from uploader.queues import messages_held
    from uploader.s3client import make_s3_client

    interval = settings.upload.reconcile_interval
    journal = Journal(Path(settings.spool.dir))
    publisher = Publisher(settings)
    client = make_s3_client(settings.s3)
    lock = redis.Redis.from_url(settings.redis.url.get_secret_value(), socket_timeout=5, socket_connect_timeout=5)
    rounds = 0
    while not stop(interval):
        try:
            if not lock.set(LOCK_KEY, "1", nx=True, ex=max(1, interval - 1)):
                continue
            republish_overdue(journal, publisher, settings, messages_held(lock, settings.worker.queue))
            if rounds % 20 == 0:
                abort_abandoned_uploads(client, journal, settings)
            rounds += 1
        except (redis.RedisError, UploadError) as exc:
            log.warning("reconciler round skipped: %s", exc)
