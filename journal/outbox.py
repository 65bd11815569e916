"""The journal's outbox: publish journaled files as upload tasks into Redis, by task name.

Used by the encoder, `surecast send`, `retry-failed` and the reconciler. It never imports the task
module: a Celery app that only knows the broker sends ``UPLOAD_TASK``. Publishing gives up quickly
when Redis is down; the journal keeps the file and the reconciler publishes it later.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from celery import Celery
from kombu.exceptions import OperationalError

from core.celeryconfig import celery_config
from core.contract import UPLOAD_TASK
from core.settings import Settings
from journal.files import Journal
from journal.rows import FileRow

log = logging.getLogger(__name__)


class Publisher:
    """Sends upload tasks; one per process."""

    def __init__(self, settings: Settings) -> None:
        """For the destination ``settings`` serve (``Settings.for_destination``): its queue and name."""
        self.queue = settings.queue
        self.destination = settings.destination
        self.app = Celery("surecast-publisher", set_as_current=False)
        self.app.conf.update(celery_config(settings, publish_forever=False))

    def publish(self, rows: Iterable[FileRow]) -> list[str]:
        """Publish a task per row, in order; return the keys published. Stops at the first broker error."""
        done: list[str] = []
        try:
            with self.app.producer_or_acquire() as producer:
                for row in rows:
                    self.app.send_task(
                        UPLOAD_TASK,
                        kwargs=row.job(self.destination).model_dump(mode="json"),
                        queue=self.queue,
                        priority=row.priority,
                        producer=producer,
                    )
                    done.append(row.key)
        except OperationalError as exc:
            log.warning("Redis unreachable, %d file(s) wait in the journal: %s", len(done), exc)
        return done

    def close(self) -> None:
        self.app.close()


def publish_due(journal: Journal, publisher: Publisher, limit: int = 500) -> int:
    """Publish the journal's due files (claimed first, so two publishers never send one twice); what Redis
    did not take goes back to wait. Returns how many went out."""
    rows = journal.claim_due(limit)
    if not rows:
        return 0
    sent = set(publisher.publish(rows))
    missed = [r.key for r in rows if r.key not in sent]
    if missed:
        journal.unclaim(missed)
    return len(sent)
