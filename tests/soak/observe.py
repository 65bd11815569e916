"""What a soak run watches while it runs: the remote live playlists, and the machine (spool, RSS, load).

The playlists are fetched straight from the S3 server (not through the fault proxy), as a viewer's CDN
would, every ``interval`` seconds. Every segment a fetched playlist lists is checked to exist; a key is
written once and never deleted, so one that was seen once is not asked about again.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from botocore.exceptions import BotoCoreError, ClientError

from tests.support.procs import worker_child_role

JOIN_TIMEOUT = 10.0


@dataclass(frozen=True)
class Poll:
    """One fetch of one playlist: when, the last segment it listed, and what it listed that was missing."""

    at: float
    key: str
    newest: str | None
    entries: int
    missing: tuple[str, ...]
    corrupt: bool = False


def playlist_uris(text: str) -> list[tuple[str, bool]]:
    """(uri, gap) for every URI line of a playlist, media or master."""
    uris = []
    gap = False
    for line in text.splitlines():
        if line == "#EXT-X-GAP":
            gap = True
        elif line and not line.startswith("#"):
            uris.append((line, gap))
            gap = False
    return uris


def looks_intact(body: bytes) -> bool:
    """A playlist we or FFmpeg wrote is ASCII and starts with #EXTM3U; a flipped byte (XOR 0xFF) is not ASCII."""
    return body.startswith(b"#EXTM3U") and body.isascii()


@dataclass
class LivePoller:
    """Polls playlists (object keys) and records every fetch."""

    s3: Any
    bucket: str
    keys: list[str]
    interval: float = 0.25
    polls: list[Poll] = field(default_factory=list)
    errors: int = 0
    _present: set[str] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="soak-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(JOIN_TIMEOUT)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for key in self.keys:
                self._poll(key)

    def _get(self, key: str) -> bytes | None:
        try:
            body: bytes = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                self.errors += 1
            return None
        except BotoCoreError:
            self.errors += 1
            return None
        return body

    def _exists(self, key: str) -> bool:
        if key in self._present:
            return True
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError:
            return False
        except BotoCoreError:
            self.errors += 1
            return True  # unknown: not counted as a miss
        self._present.add(key)
        return True

    def _poll(self, key: str) -> None:
        at = time.time()
        body = self._get(key)
        if body is None:
            return
        folder = key.rsplit("/", 1)[0]
        intact = looks_intact(body)
        uris = playlist_uris(body.decode("latin-1"))
        listed = [uri for uri, gap in uris if not gap]
        missing = tuple(uri for uri in listed if not self._exists(f"{folder}/{uri}"))
        newest = listed[-1] if listed else None
        self.polls.append(Poll(at, key, newest, len(listed), missing, corrupt=not intact))


def tree_bytes(root: Path) -> int:
    """Bytes of every file under ``root`` (files vanishing meanwhile are skipped)."""
    total = 0
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                else:
                    total += entry.stat(follow_symlinks=False).st_size
            except FileNotFoundError:
                continue
    return total


def _role(proc: psutil.Process, root: psutil.Process) -> str:
    if proc.pid == root.pid:
        return "main"
    try:
        return worker_child_role(proc.cmdline())
    except psutil.Error:
        return "pool child"


def tree_rss(pid: int) -> tuple[int, int, str]:
    """(RSS of the largest process, RSS of the whole tree, which process was largest) of ``pid``'s tree."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0, 0, ""
    sizes = []
    for proc in procs:
        try:
            sizes.append((proc.memory_info().rss, _role(proc, root)))
        except psutil.Error:
            continue
    if not sizes:
        return 0, 0, ""
    largest = max(sizes)
    return largest[0], sum(size for size, _ in sizes), largest[1]


@dataclass
class Sample:
    at: float
    spool_bytes: int
    worker_rss_max: int
    worker_rss_max_role: str
    worker_tree_rss_max: int
    load1: float
    extra: dict[str, Any]


@dataclass
class Sampler:
    """Every ``interval`` seconds: spool size, worker RSS, load average and whatever ``extra`` returns."""

    spool: Path | None
    worker_pids: Callable[[], Iterable[int]]
    extra: Callable[[], dict[str, Any]] = dict
    interval: float = 1.0
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="soak-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(JOIN_TIMEOUT)

    def _run(self) -> None:
        while True:
            self.take()
            if self._stop.wait(self.interval):
                return

    def take(self) -> None:
        rss = [tree_rss(pid) for pid in self.worker_pids()]
        self.samples.append(
            Sample(
                at=time.time(),
                spool_bytes=tree_bytes(self.spool) if self.spool else 0,
                worker_rss_max=max((r[0] for r in rss), default=0),
                worker_rss_max_role=max(rss)[2] if rss else "",
                worker_tree_rss_max=max((r[1] for r in rss), default=0),
                load1=os.getloadavg()[0],
                extra=self.extra(),
            )
        )
