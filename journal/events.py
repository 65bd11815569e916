"""The ``events`` and ``encoder_segments`` tables: each event, and what it is, rendition by rendition.

``events`` says whether an event is live (its encoder beating about once a second), paused (the disk is
full), ended (recording stopped; its VOD waits for the archive) or archived (the VOD is verified), with
the ladder it was encoded with, so that a restart can resume it and anyone can finish it later.

The ``files`` table says whether an object is verified; this table says each rendition's segments in
order, their durations and where FFmpeg restarted. With both in one file, a restarted encoder resumes an
event's numbering, and the VOD playlist can be rendered at any time. Rows are written after the file is
journaled (a crash in between leaves an unlisted upload, never a listed file that was not journaled).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum

from journal.db import write
from journal.files import Journal


class EventState(StrEnum):
    LIVE = "live"
    PAUSED = "paused"
    ENDED = "ended"
    ARCHIVED = "archived"


@dataclass(frozen=True)
class EventRow:
    event: str
    channel: str
    state: EventState
    renditions: str  # the ladder spec it was encoded with
    framerate: int
    segment_type: str
    started_at: float
    heartbeat_at: float
    paused_since: float | None
    finish_requested_at: float | None
    ended_at: float | None
    archived_at: float | None


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
    # When its first frame was captured (the encoder's clock, seconds since the epoch): the same for the same
    # segment number in every rendition. None only in a journal written before it was kept.
    program_time: float | None = None
    size: int = 0  # bytes; 0 where not kept

    def object_keys(self) -> tuple[str, ...]:
        """Every object that must be in the bucket before a player may fetch this segment."""
        return (self.key, self.init_key) if self.init_key else (self.key,)


_COLUMNS = (
    "rendition, msn, seq, key, name, path, duration, discontinuity, completed_at, init_key, init_name, "
    "program_time, size"
)


class EventStore:
    """The events' segments, on the connection of ``journal`` (one per thread, like the journal)."""

    def __init__(self, journal: Journal) -> None:
        self._db = journal.connection
        self._now = journal.clock

    # Events -----------------------------------------------------------------------------------------------

    def begin(self, event: str, channel: str, renditions: str, framerate: int, segment_type: str) -> None:
        """``event`` is live: new, or resumed (its start time kept)."""
        now = self._now()
        with write(self._db) as db:
            db.execute(
                """INSERT INTO events (event, channel, state, renditions, framerate, segment_type, started_at,
                       heartbeat_at) VALUES (?, ?, 'live', ?, ?, ?, ?, ?)
                   ON CONFLICT (event) DO UPDATE SET state = 'live', heartbeat_at = excluded.heartbeat_at,
                       paused_since = NULL, finish_requested_at = NULL, ended_at = NULL, archived_at = NULL""",
                (event, channel, renditions, framerate, segment_type, now, now),
            )

    def beat(self, event: str, paused_since: float | None) -> None:
        """The encoder of ``event`` is alive; recording is paused since ``paused_since`` if given."""
        state = EventState.PAUSED if paused_since is not None else EventState.LIVE
        with write(self._db) as db:
            db.execute(
                """UPDATE events SET heartbeat_at = ?, state = ?, paused_since = ?
                   WHERE event = ? AND state IN ('live', 'paused')""",
                (self._now(), state, paused_since, event),
            )

    def request_finish(self, event: str) -> bool:
        """Ask the encoder of a live event to end it (the console's button); False if it is not live."""
        with write(self._db) as db:
            cursor = db.execute(
                "UPDATE events SET finish_requested_at = ? WHERE event = ? AND state IN ('live', 'paused')",
                (self._now(), event),
            )
        return bool(cursor.rowcount)

    def mark_recording_stopped(self, event: str) -> None:
        """Recording of a live event stopped: its encoder now waits for the archive. It stays live for the
        reconciler (which never finishes an event its encoder is finishing), but ``ended_at`` says it ended."""
        with write(self._db) as db:
            db.execute(
                "UPDATE events SET ended_at = coalesce(ended_at, ?) WHERE event = ? AND state IN ('live', 'paused')",
                (self._now(), event),
            )

    def mark_ended(self, event: str) -> None:
        with write(self._db) as db:
            db.execute(
                """UPDATE events SET state = 'ended', ended_at = coalesce(ended_at, ?)
                   WHERE event = ? AND state != 'archived'""",
                (self._now(), event),
            )

    def mark_archived(self, event: str) -> None:
        with write(self._db) as db:
            db.execute("UPDATE events SET state = 'archived', archived_at = ? WHERE event = ?", (self._now(), event))

    def event(self, event: str) -> EventRow | None:
        row = self._db.execute(f"SELECT {_EVENT_COLUMNS} FROM events WHERE event = ?", (event,)).fetchone()  # noqa: S608
        return _event_row(row) if row else None

    def unfinished(self, channel: str) -> list[EventRow]:
        """Events of ``channel`` still live or paused, the latest heartbeat first."""
        rows = self._db.execute(
            f"""SELECT {_EVENT_COLUMNS} FROM events WHERE channel = ? AND state IN ('live', 'paused')
                ORDER BY heartbeat_at DESC""",  # noqa: S608
            (channel,),
        ).fetchall()
        return [_event_row(r) for r in rows]

    def current(self, channel: str) -> EventRow | None:
        """The latest event of ``channel``, whatever its state."""
        row = self._db.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE channel = ? ORDER BY started_at DESC LIMIT 1",  # noqa: S608
            (channel,),
        ).fetchone()
        return _event_row(row) if row else None

    def recent(self, channel: str, limit: int) -> list[EventRow]:
        """The latest ``limit`` events of ``channel``, the latest start first."""
        rows = self._db.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE channel = ? ORDER BY started_at DESC LIMIT ?",  # noqa: S608
            (channel, limit),
        ).fetchall()
        return [_event_row(r) for r in rows]

    def ended_unarchived(self) -> list[EventRow]:
        rows = self._db.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE state = 'ended' ORDER BY ended_at",  # noqa: S608
        ).fetchall()
        return [_event_row(r) for r in rows]

    # Segments ---------------------------------------------------------------------------------------------

    def add(self, event: str, segment: Segment) -> None:
        self._db.execute(
            f"INSERT INTO encoder_segments (event, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
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
                segment.program_time,
                segment.size,
            ),
        )

    def load(self, event: str, rendition: str) -> list[Segment]:
        """Every segment of one rendition of ``event``, in order."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM encoder_segments WHERE event = ? AND rendition = ? ORDER BY msn",  # noqa: S608
            (event, rendition),
        ).fetchall()
        return [
            Segment(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7]), r[8], r[9], r[10], r[11], r[12] or 0)
            for r in rows
        ]

    def max_seq(self, event: str) -> int | None:
        """The highest segment number of ``event`` in any rendition; None if it has none."""
        row = self._db.execute("SELECT max(seq) FROM encoder_segments WHERE event = ?", (event,)).fetchone()
        return None if row[0] is None else int(row[0])


_EVENT_COLUMNS = ", ".join(f.name for f in fields(EventRow))


def _event_row(row: tuple[object, ...]) -> EventRow:
    data = dict(zip(_EVENT_COLUMNS.split(", "), row, strict=True))
    data["state"] = EventState(str(data["state"]))
    return EventRow(**data)  # type: ignore[arg-type]
