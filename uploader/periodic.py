"""The reconciler as a periodic job beside each worker, elected through Redis.

It runs as its own process (``surecast reconcile --every N``), never as a thread of the worker's main
process: the prefork pool forks children from that process at any time, and a child forked while a
thread holds a lock (imports, logging, boto3) hangs on its first task.
"""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from celery import bootsteps

from journal.files import Journal
from uploader.constants import RECONCILE_INTERVAL

log = logging.getLogger(__name__)


def requeue_failed_now(spool: Path, destination: str) -> None:
    """A worker starting may be the fix (credentials, bucket): failed files are tried again at once."""
    try:
        journal = Journal(spool, destination=destination)
    except sqlite3.Error as exc:
        log.warning("could not open the journal to retry failed files: %s", exc)
        return
    try:
        count = journal.requeue_failed()
    except sqlite3.Error as exc:
        log.warning("could not queue failed files again: %s", exc)
        return
    finally:
        journal.close()
    if count:
        log.info("%d failed file(s) queued again: a worker started", count)


class ReconcileStep(bootsteps.StartStopStep):
    """Queues failed files again, starts ``surecast reconcile --every N`` with the worker, stops it after."""

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, parent: Any) -> None:
        settings, destination = parent.app.settings, parent.app.destination
        requeue_failed_now(Path(settings.spool.dir), destination)
        every = RECONCILE_INTERVAL
        argv = [sys.executable, "-m", "surecast", "reconcile", "--every", str(every), "--destination", destination]
        self._proc = subprocess.Popen(argv)
        log.info("reconciler started (pid %d)", self._proc.pid)

    def stop(self, parent: Any) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
