"""The encoder's record of each event's segments, in its own table of the journal's SQLite file.

The uploader's ``files`` table says whether an object is verified; this table says what the event is:
each rendition's segments in order, their durations and where FFmpeg restarted. With both in one file,
a restarted encoder resumes an event's numbering, and the VOD playlist can be rendered at any time.
Rows are written after the journal records the file (a crash in between leaves an unlisted upload,
never a listed file that was not journaled).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from encoder.timeline import Segment
from uploader.journal import JOURNAL_NAME

_SCHEMA = """
CREATE TABLE IF NOT EXISTS encoder_segments (
    event TEXT NOT NULL,
    rendition TEXT NOT NULL,
    msn INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    duration REAL NOT NULL,
    discontinuity INTEGER NOT NULL,
    completed_at REAL NOT NULL,
    init_key TEXT,
    init_name TEXT,
    PRIMARY KEY (event, rendition, msn)
);
"""
_CHUNK = 400  # below SQLite's default limit of bound parameters


class SegmentStore:
    """One connection to the segment table; one per thread."""

    def __init__(self, spool_dir: Path) -> None:
        path = Path(spool_dir) / JOURNAL_NAME
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._data_version: int | None = None

    def close(self) -> None:
        self._db.close()

    def changed(self) -> bool:
        """True if any other connection (a worker, the journal) committed since the last call.

        ``PRAGMA data_version`` reads shared memory, not the disk: cheap enough to ask every few ms.
        """
        version = int(self._db.execute("PRAGMA data_version").fetchone()[0])
        if version == self._data_version:
            return False
        self._data_version = version
        return True

    def add(self, event: str, segment: Segment) -> None:
        self._db.execute(
            """INSERT INTO encoder_segments (event, rendition, msn, seq, key, name, path, duration,
                   discontinuity, completed_at, init_key, init_name)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                event,
                segment.rendition,
                segment.msn,
                segment.seq,
                segment.key,
                segment.name,
                segment.path,
                segment.duration,
                int(segment.discontinuity),
                segment.completed_at,
                segment.init_key,
                segment.init_name,
            ),
        )

    def load(self, event: str, rendition: str) -> list[Segment]:
        """Every segment of one rendition of ``event``, in order."""
        rows = self._db.execute(
            """SELECT rendition, msn, seq, key, name, path, duration, discontinuity, completed_at, init_key,
                      init_name FROM encoder_segments WHERE event = ? AND rendition = ? ORDER BY msn""",
            (event, rendition),
        ).fetchall()
        return [Segment(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7]), r[8], r[9], r[10]) for r in rows]

    def max_seq(self, event: str) -> int | None:
        row = self._db.execute("SELECT max(seq) FROM encoder_segments WHERE event = ?", (event,)).fetchone()
        return None if row[0] is None else int(row[0])

    def key_taken(self, key: str) -> bool:
        """True if the journal or this table already knows ``key``: writing it again would overwrite."""
        for table in ("files", "encoder_segments"):
            if self._db.execute(f"SELECT 1 FROM {table} WHERE key = ?", (key,)).fetchone():  # noqa: S608
                return True
        return False

    def verified(self, keys: Iterable[str]) -> set[str]:
        """Those of ``keys`` whose object the workers verified in the bucket."""
        found: set[str] = set()
        for chunk in _chunks(list(keys)):
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT key FROM files WHERE state = 'verified' AND key IN ({marks})",  # noqa: S608
                chunk,
            )
            found.update(r[0] for r in rows)
        return found

    def verified_before(self, keys: Iterable[str], cutoff: float) -> set[str]:
        """Those of ``keys`` verified before ``cutoff`` (epoch seconds): their local copy may go."""
        found: set[str] = set()
        for chunk in _chunks(list(keys)):
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT key FROM files WHERE state = 'verified' AND verified_at < ? AND key IN ({marks})",  # noqa: S608
                [cutoff, *chunk],
            )
            found.update(r[0] for r in rows)
        return found

    def failed(self, keys: Iterable[str]) -> dict[str, str]:
        """Those of ``keys`` that failed permanently, with the reason."""
        found: dict[str, str] = {}
        for chunk in _chunks(list(keys)):
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT key, last_error FROM files WHERE state = 'failed' AND key IN ({marks})",  # noqa: S608
                chunk,
            )
            found.update((r[0], r[1] or "") for r in rows)
        return found

    def demote(self, keys: Iterable[str], priority: int) -> None:
        """Give unverified ``keys`` a lower queue priority for any later re-publication (backfill)."""
        for chunk in _chunks(list(keys)):
            marks = ",".join("?" * len(chunk))
            self._db.execute(
                f"UPDATE files SET priority = ? WHERE state IN ('queued', 'uploading') AND key IN ({marks})",  # noqa: S608
                [priority, *chunk],
            )


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
