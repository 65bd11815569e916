"""The reconciler as a periodic job inside each worker's main process, elected through Redis.

Every worker runs the loop; a short Redis lock lets only one of them reconcile per interval.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import redis
from celery import bootsteps

from uploader.errors import UploadError

log = logging.getLogger(__name__)
LOCK_KEY = "surecast:reconciler"


class ReconcileStep(bootsteps.StartStopStep):
    """Runs ``reconcile_once`` every ``SURECAST_UPLOAD_RECONCILE_INTERVAL`` seconds in a thread."""

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, parent: Any) -> None:
        self._thread = threading.Thread(target=self._loop, name="surecast-reconciler", daemon=True)
        self._thread.start()

    def stop(self, parent: Any) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        from uploader.celery import settings  # the worker's settings, loaded once by the app module
        from uploader.journal import Journal
        from uploader.publish import Publisher
        from uploader.reconcile import abort_abandoned_uploads, republish_overdue
        from uploader.s3client import make_s3_client
        from uploader.status import messages_held

        interval = settings.upload.reconcile_interval
        journal = Journal(Path(settings.spool.dir))
        publisher = Publisher(settings)
        client = make_s3_client(settings.s3)
        lock = redis.Redis.from_url(settings.redis.url.get_secret_value(), socket_timeout=5)
        rounds = 0
        while not self._stop.wait(interval):
            try:
                if not lock.set(LOCK_KEY, "1", nx=True, ex=max(1, interval - 1)):
                    continue
                held = messages_held(lock, settings.worker.queue)
                republish_overdue(journal, publisher, settings, held)
                if rounds % 20 == 0:
                    abort_abandoned_uploads(client, journal, settings)
                rounds += 1
            except (redis.RedisError, UploadError) as exc:
                log.warning("reconciler round skipped: %s", exc)
