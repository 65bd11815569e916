"""The console's two buttons: re-queue failed files now, and ask the encoder to finish the event.

Each runs in a worker thread of the server with its own journal connection; the publisher (one Celery
app that only knows the broker) is made once.
"""

from __future__ import annotations

import threading
from pathlib import Path

from core.publisher import Publisher
from core.settings import Settings
from journal.events import EventStore
from journal.files import Journal
from report.status import UNKNOWN_REASON


class Actions:
    def __init__(self, settings: Settings) -> None:
        self._spool = Path(settings.spool.dir)
        self._publisher = Publisher(settings)
        self._lock = threading.Lock()

    def retry(self, reason: str | None) -> tuple[int, int]:
        """Re-queue the failed files (only those of ``reason`` if given) and publish what is due now.

        Returns (files re-queued, messages published); what Redis does not take now waits in the journal.
        """
        with self._lock:
            journal = Journal(self._spool)
            try:
                if reason is None:
                    requeued = journal.requeue_failed()
                else:
                    requeued = journal.requeue_failed_with(None if reason == UNKNOWN_REASON else reason)
                published = journal.publish_due(self._publisher.publish)
            finally:
                journal.close()
        return requeued, published

    def finish(self, event: str) -> bool:
        """Ask the encoder of ``event`` to end it cleanly (it polls every second); False if it is not live."""
        with self._lock:
            journal = Journal(self._spool)
            try:
                return EventStore(journal).request_finish(event)
            finally:
                journal.close()

    def close(self) -> None:
        self._publisher.close()
