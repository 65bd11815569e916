"""One `surecast worker` per destination, when there are several: a destination that is down or slow keeps
its own processes busy and never takes a worker slot from another."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

log = logging.getLogger(__name__)
STOP_TIMEOUT = 60.0


def run_per_destination(destinations: Sequence[str], extra: Sequence[str]) -> int:
    """Run `surecast worker --destination NAME ...` for each name until a signal (passed on to all) or until
    one of them ends (then the others are stopped too, so a supervisor restarts the whole set)."""
    children = {
        name: subprocess.Popen([sys.executable, "-m", "surecast", "worker", "--destination", name, *extra])  # noqa: S603
        for name in destinations
    }
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
