"""The upload worker as it runs on a venue PC: its Celery app with the reconciler beside it, and one worker
per destination when there are several (a destination that is down or slow keeps its own processes busy
and never takes a worker slot from another)."""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence

from core.settings import Settings
from stack.reconciler import ReconcileStep
from uploader.app import UploaderApp, make_app

log = logging.getLogger(__name__)
STOP_TIMEOUT = 60.0


def worker_app(settings: Settings, destination: str) -> UploaderApp:
    """The app of a worker serving ``destination``'s queue, which starts that destination's reconciler
    beside it (``stack.reconciler.ReconcileStep``) and stops it with the worker."""
    app = make_app(settings, destination)
    app.steps["worker"].add(ReconcileStep)
    return app


def run_per_destination(workers: Mapping[str, Sequence[str]]) -> int:
    """Run each destination's worker (its name -> the argv its caller built) until a signal (passed on to
    all) or until one of them ends (then the others are stopped too, so a supervisor restarts the set)."""
    children = {name: subprocess.Popen(list(argv)) for name, argv in workers.items()}  # noqa: S603
    stopping = False

    def forward(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for proc in children.values():
            if proc.poll() is None:
                proc.send_signal(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, forward)
    code = 0
    while not stopping:
        ended = [(name, proc.returncode) for name, proc in children.items() if proc.poll() is not None]
        if ended:
            name, code = ended[0]
            log.error("the worker of destination %s ended with %s; stopping the others", name, code)
            forward(signal.SIGTERM, None)
            break
        time.sleep(0.5)
    deadline = time.monotonic() + STOP_TIMEOUT
    for proc in children.values():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    return code or 0
