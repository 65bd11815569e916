"""The reconciler as a periodic job beside each worker, elected through Redis.

It runs as its own process (``surecast reconcile --every N``), never as a thread of the worker's main
process: the prefork pool forks children from that process at any time, and a child forked while a
thread holds a lock (imports, logging, boto3) hangs on its first task.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from typing import Any

from celery import bootsteps

log = logging.getLogger(__name__)


class ReconcileStep(bootsteps.StartStopStep):
    """Starts ``surecast reconcile --every SURECAST_UPLOAD_RECONCILE_INTERVAL`` with the worker, stops it after."""

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, parent: Any) -> None:
        every = parent.app.settings.upload.reconcile_interval
        argv = [sys.executable, "-m", "surecast", "reconcile", "--every", str(every)]
        self._proc = subprocess.Popen(argv)
        log.info("reconciler started (pid %d)", self._proc.pid)

    def stop(self, parent: Any) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
