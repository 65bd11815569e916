"""Leases on the files a worker process is uploading, renewed by a thread of that process.

While the lease is renewed, the file is this process's; when the process dies (SIGKILL, OOM, a power cut
of its container) the renewals stop, the lease runs out, and the reconciler publishes the file again for a
live worker: recovery in seconds, whatever Redis still holds for the dead worker.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from journal.files import Journal
from journal.parts import PartIdent

log = logging.getLogger(__name__)


def process_owner() -> str:
    """This process, as a lease owner: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


class LeaseKeeper:
    """Holds the leases of one process; start it after the fork, in the process that uploads."""

    def __init__(self, spool_dir: Path, lease_seconds: float, destination: str, owner: str | None = None) -> None:
        self.spool_dir = spool_dir
        self.destination = destination
        self.lease_seconds = lease_seconds
        self.owner = owner or process_owner()
        self._held: set[str] = set()
        self._parts: set[PartIdent] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew_forever, name="surecast-leases", daemon=True)
        self._thread.start()

    @contextmanager
    def holding(self, key: str) -> Iterator[None]:
        """Renew ``key``'s lease for as long as the block runs."""
        with self._lock:
            self._held.add(key)
        try:
            yield
        finally:
            with self._lock:
                self._held.discard(key)

    @contextmanager
    def holding_part(self, ident: PartIdent) -> Iterator[None]:
        """Renew a part's lease (key, upload id, number) for as long as the block runs."""
        with self._lock:
            self._parts.add(ident)
        try:
            yield
        finally:
            with self._lock:
                self._parts.discard(ident)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _renew_forever(self) -> None:
        journal = Journal(self.spool_dir, destination=self.destination, durable=False)  # liveness only
        try:
            while not self._stop.wait(self.lease_seconds / 3):
                with self._lock:
                    keys, parts = list(self._held), list(self._parts)
                try:
                    if keys:
                        journal.renew_leases(keys, self.owner, self.lease_seconds)
                    if parts:
                        journal.renew_part_leases(parts, self.owner, self.lease_seconds)
                except sqlite3.Error as exc:  # the disk is full, say: the next round tries again
                    log.warning("could not renew upload leases this round: %s", exc)
        finally:
            journal.close()
