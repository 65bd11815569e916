"""What surecast's soak faults act on: the link proxy, the corrupting proxy, the workers, Redis, the disk.

    workers ──> link FaultProxy (uplink throttle, refuse, 503) ──> corrupting FaultProxy (flip) ──> moto S3

The disk-low fault is simulated honestly without root: the encoder's free-space floor
(``SURECAST_ENCODER_MIN_FREE_MB``) is set ``margin`` below the free space at start, and for the window a
preallocated (``posix_fallocate``) filler file next to the spool takes real free space below that floor.
The encoder's disk guard reads real free space with ``shutil.disk_usage``, as it would on a full disk.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from functools import partial
from pathlib import Path

from tests.support.faultproxy import FaultProxy
from tests.support.procs import kill, log_tail, wait_until
from tests.support.stack import Stack

log = logging.getLogger(__name__)
WORKER_READY_TIMEOUT = 60.0
BIG_COUNT = 10**9  # a counted proxy mode that lasts until the window ends
# Never take the shared disk below this: other people's runs share it.
DISK_SAFETY_BYTES = 5 * 2**30


def _ready_or_gone(logfile: Path, proc: subprocess.Popen[bytes]) -> bool:
    return "ready." in logfile.read_text(errors="replace") or proc.poll() is not None


class DiskFiller:
    """Takes free space away on the spool's file system, down to ``overshoot`` below a floor."""

    def __init__(self, folder: Path, margin: int, overshoot: int) -> None:
        self.path = folder / "disk-filler.bin"
        self.floor = shutil.disk_usage(folder).free - margin
        self.overshoot = overshoot
        self.filled = 0

    @property
    def floor_mb(self) -> int:
        return max(0, self.floor // 2**20)

    def fill(self) -> None:
        free = shutil.disk_usage(self.path.parent).free
        size = free - self.floor + self.overshoot
        if size <= 0:
            log.warning("disk already below the floor, nothing to fill")
            return
        if free - size < DISK_SAFETY_BYTES:
            raise RuntimeError(f"filling {size} bytes would leave under {DISK_SAFETY_BYTES} bytes free; not filled")
        fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
        try:
            os.posix_fallocate(fd, 0, size)
        finally:
            os.close(fd)
        self.filled = size

    def release(self) -> None:
        self.path.unlink(missing_ok=True)


class SurecastTargets:
    """Faults for the surecast stack."""

    link_only = False

    def __init__(
        self,
        stack: Stack,
        corruptor: FaultProxy,
        disk: DiskFiller,
        uplink: int,
        throttle: int,
        workers: int,
        concurrency: int,
    ) -> None:
        self.stack = stack
        self.link = stack.proxy
        self.corruptor = corruptor
        self.disk = disk
        self.uplink = uplink
        self.throttle = throttle
        self.workers = workers
        self.concurrency = concurrency
        self.worker_starts: list[tuple[float, float | None]] = []  # (asked, ready) epoch seconds

    def live_workers(self) -> list[int]:
        return [p.pid for p in self.stack.workers if p.poll() is None]

    def link_up(self) -> None:
        self.link.set_mode("throttle", bytes_per_sec=self.uplink)

    def link_down(self) -> None:
        self.link.set_mode("refuse")

    def link_throttle(self) -> None:
        self.link.set_mode("throttle", bytes_per_sec=self.throttle)

    def corrupt(self, on: bool) -> None:
        if on:
            self.corruptor.set_mode("flip", count=BIG_COUNT, offset=100)
        else:
            self.corruptor.set_mode("pass")

    def slowdown(self, on: bool) -> None:
        if on:
            self.link.set_mode("http_error", status=503, code="SlowDown", message="Please reduce your request rate.")
        else:
            self.link_up()

    def kill_workers(self, count: int | None) -> None:
        alive = [p for p in self.stack.workers if p.poll() is None]
        for proc in alive[: count if count is not None else len(alive)]:
            kill(proc)

    def start_workers(self) -> None:
        """Start workers until ``workers`` are alive, and wait (bounded) until each is ready."""
        fresh = []
        while len(self.live_workers()) < self.workers:
            n = len(self.stack.workers)
            fresh.append((n, self.stack.start_worker(self.concurrency, wait=False), time.time()))
        for n, proc, asked in fresh:
            logfile = self.stack.tmp / f"worker{n}.log"
            wait_until(
                partial(_ready_or_gone, logfile, proc),
                WORKER_READY_TIMEOUT,
                interval=0.1,
                message=f"worker {n} did not start",
            )
            if proc.poll() is not None:
                raise RuntimeError(f"worker {n} exited on start:\n{log_tail(logfile)}")
            self.worker_starts.append((asked, time.time()))

    def restart_redis(self) -> None:
        """A crash and a restart: SIGKILL, then start on the same port and AOF."""
        redis = self.stack.redis
        redis.kill()
        redis.proc = None
        redis.start(redis.port, redis.data_dir, aof=True)

    def disk_low(self, on: bool) -> None:
        if on:
            self.disk.fill()
        else:
            self.disk.release()
