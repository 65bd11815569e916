"""Publishing upload tasks into Redis by task name, for whoever hands journaled files to the workers.

Used by the encoder, `surecast send`, `retry-failed`, the console and the reconciler, each through
``Journal.publish_due(publisher.publish)`` (the journal claims the rows, this sends them). It never
imports the task module: a Celery app that only knows the broker sends ``UPLOAD_TASK``. Publishing gives
up quickly when Redis is down; the journal keeps the file and it is published later.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Protocol

from celery import Celery
from kombu.exceptions import OperationalError

from core.celeryconfig import celery_config
from core.contract import UPLOAD_PART_TASK, UPLOAD_TASK, PartJob, UploadJob
from core.settings import Settings

log = logging.getLogger(__name__)


class Publishable(Protocol):
    """A journaled file as the publisher needs it (the journal's ``FileRow``)."""

    @property
    def key(self) -> str: ...

    @property
    def priority(self) -> int: ...

    def job(self, destination: str) -> UploadJob: ...


class PublishablePart(Protocol):
    """A part of a big file as the publisher needs it (the journal's ``PartRow``)."""

    @property
    def ident(self) -> tuple[str, str, int]: ...

    @property
    def priority(self) -> int: ...

    def job(self, destination: str) -> PartJob: ...


class Publisher:
    """Sends upload tasks for one destination; one per process (or thread).

    ``broker_error`` says why the last publish stopped short (Redis refused or did not answer), None when
    it sent everything: the one sign that Redis is unreachable, as opposed to files simply not sent yet.
    """

    def __init__(self, settings: Settings) -> None:
        """For the destination ``settings`` serve (``Settings.for_destination``): its queue and name."""
        self.queue = settings.queue
        self.destination = settings.destination
        self.app = Celery("surecast-publisher", set_as_current=False)
        self.app.conf.update(celery_config(settings, publish_forever=False))
        self.broker_error: str | None = None

    def publish(self, rows: Iterable[Publishable]) -> list[str]:
        """Publish a task per row, in order; return the keys published. Stops at the first broker error
        (kept in ``broker_error``); what was not sent stays in the journal."""
        rows = list(rows)
        sent = self._send(UPLOAD_TASK, [(r.job(self.destination), r.priority) for r in rows])
        return [r.key for r in rows[:sent]]

    def publish_parts(self, rows: Sequence[PublishablePart]) -> list[tuple[str, str, int]]:
        """Publish a part task per row, in order (each part of a big file is a task of its own); return the
        parts published, as ``publish`` does."""
        sent = self._send(UPLOAD_PART_TASK, [(r.job(self.destination), r.priority) for r in rows])
        return [r.ident for r in rows[:sent]]

    def _send(self, task: str, jobs: list[tuple[UploadJob | PartJob, int]]) -> int:
        done = 0
        try:
            with self.app.producer_or_acquire() as producer:
                for job, priority in jobs:
                    self.app.send_task(
                        task,
                        kwargs=job.model_dump(mode="json"),
                        queue=self.queue,
                        priority=priority,
                        producer=producer,
                    )
                    done += 1
        except OperationalError as exc:
            self.broker_error = str(exc)
            log.debug("Redis did not take the tasks after %d message(s): %s", done, exc)
        else:
            self.broker_error = None
        return done

    def close(self) -> None:
        self.app.close()
