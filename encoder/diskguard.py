"""Disk guard: free spool space only with what is safe in the bucket, and say so loudly when space is low.

A segment's local file is removed only after its object is verified, and only once it has been verified
for ``retention`` seconds; when free space is below the floor the retention is waived and verified copies
of every event on the spool go first (the copy in the bucket is verified), but an unverified file is
never removed. Superseded playlist versions go after a minute.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from journal.events import Segment
from journal.files import Journal

log = logging.getLogger(__name__)
PLAYLIST_VERSION_GRACE = 60.0
_VERSIONED = re.compile(r"^(?P<stem>.+)\.(?P<version>\d+)\.m3u8$")


@dataclass(frozen=True)
class DiskReport:
    free_bytes: int
    low: bool
    removed: int


def stale_playlist_versions(names: Iterable[str]) -> list[str]:
    """Versioned playlist file names that a newer version of the same playlist supersedes. Pure."""
    newest: dict[str, int] = {}
    parsed: list[tuple[str, str, int]] = []
    for name in names:
        match = _VERSIONED.match(name)
        if match:
            stem, version = match["stem"], int(match["version"])
            parsed.append((name, stem, version))
            newest[stem] = max(version, newest.get(stem, -1))
    return [name for name, stem, version in parsed if version < newest[stem]]


class DiskGuard:
    """Removes verified local copies of one event's files; reports free space."""

    def __init__(
        self,
        spool: Path,
        journal: Journal,
        retention: float,
        min_free_bytes: int,
        others: Sequence[tuple[Journal, Callable[[str], str]]] = (),
    ) -> None:
        self.spool = spool
        self.journal = journal
        # Backup destinations: (journal, primary key -> its key). A copy stays until each has verified it,
        # but when the disk is low the primary's verification is enough (recording must go on).
        self.others = list(others)
        self.retention = retention
        self.min_free_bytes = min_free_bytes
        self._kept: dict[str, Segment] = {}
        self._warned = False
        self._room_mark = 0.0  # verified_at of the last copy make_room looked at

    def track(self, segments: Iterable[Segment]) -> None:
        """Segments whose local files the guard may remove once they are safe."""
        for segment in segments:
            self._kept[segment.key] = segment

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.spool).free

    def make_room(self, wanted_free: int) -> int:
        """Remove verified copies of every event on the spool, oldest verified first, whatever the retention,
        until ``wanted_free`` bytes are free or none is left; return how many files went."""
        removed = 0
        while self.free_bytes() < wanted_free:
            batch = self.journal.verified_files(self._room_mark)
            if not batch:
                break
            for verified_at, path in batch:
                self._room_mark = verified_at
                removed += _unlink(self.spool / path)
                if self.free_bytes() >= wanted_free:
                    break
        if removed:
            log.warning("disk low: removed %d verified local copies to keep the reserve free", removed)
        return removed

    def sweep(self, now: float, playlists_dir: Path | None) -> DiskReport:
        free = self.free_bytes()
        low = free < self.min_free_bytes
        if low:
            log.error(
                "DISK LOW: %d MB free in the spool %s (floor %d MB); removing verified copies early, "
                "unverified files are kept",
                free // 2**20,
                self.spool,
                self.min_free_bytes // 2**20,
            )
            self._warned = True
        elif self._warned:
            log.warning("disk space back above the floor: %d MB free", free // 2**20)
            self._warned = False
        cutoff = now if low else now - self.retention
        safe = self.journal.verified_before(self._kept, cutoff)
        if not low:
            for journal, own in self.others:
                mine = {own(k): k for k in safe}
                safe = {mine[k] for k in journal.verified_before(mine, cutoff)}
        removed = 0
        for key in safe:
            segment = self._kept.pop(key)
            removed += _unlink(self.spool / segment.path)
        if playlists_dir is not None:
            removed += self._sweep_playlists(playlists_dir, now)
        return DiskReport(self.free_bytes() if removed else free, low, removed)

    def _sweep_playlists(self, folder: Path, now: float) -> int:
        try:
            names = [p.name for p in folder.iterdir()]
        except FileNotFoundError:
            return 0
        removed = 0
        for name in stale_playlist_versions(names):
            path = folder / name
            try:
                if now - path.stat().st_mtime < PLAYLIST_VERSION_GRACE:
                    continue
            except FileNotFoundError:
                continue
            removed += _unlink(path)
        return removed


def _unlink(path: Path) -> int:
    try:
        path.unlink()
    except FileNotFoundError:
        return 0
    return 1
