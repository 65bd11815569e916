"""The ``encoder_segments`` table: what each event is, rendition by rendition.

The ``files`` table says whether an object is verified; this table says each rendition's segments in
order, their durations and where FFmpeg restarted. With both in one file, a restarted encoder resumes an
event's numbering, and the VOD playlist can be rendered at any time. Rows are written after the file is
journaled (a crash in between leaves an unlisted upload, never a listed file that was not journaled).
"""

from __future__ import annotations

from dataclasses import dataclass

from journal.files import Journal


@dataclass(frozen=True)
class Segment:
    """One complete segment of one rendition, as the encoder journaled it."""

    rendition: str
    msn: int
    seq: int
    key: str
    name: str
    path: str
    duration: float
    discontinuity: bool
    completed_at: float
    init_key: str | None = None
    init_name: str | None = None

    def object_keys(self) -> tuple[str, ...]:
        """Every object that must be in the bucket before a player may fetch this segment."""
        return (self.key, self.init_key) if self.init_key else (self.key,)


_COLUMNS = "rendition, msn, seq, key, name, path, duration, discontinuity, completed_at, init_key, init_name"


class EventStore:
    """The events' segments, on the connection of ``journal`` (one per thread, like the journal)."""

    def __init__(self, journal: Journal) -> None:
        self._db = journal.connection

    def add(self, event: str, segment: Segment) -> None:
        self._db.execute(
            f"INSERT INTO encoder_segments (event, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
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
            f"SELECT {_COLUMNS} FROM encoder_segments WHERE event = ? AND rendition = ? ORDER BY msn",  # noqa: S608
            (event, rendition),
        ).fetchall()
        return [Segment(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7]), r[8], r[9], r[10]) for r in rows]

    def max_seq(self, event: str) -> int | None:
        """The highest segment number of ``event`` in any rendition; None if it has none."""
        row = self._db.execute("SELECT max(seq) FROM encoder_segments WHERE event = ?", (event,)).fetchone()
        return None if row[0] is None else int(row[0])
