"""Read-only figures across the journal's tables, for `surecast status`, `--watch`, the metrics and the console."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from core.destinations import PRIMARY
from journal.db import connect_read_only, journal_path


def live_edge_lag(spool_dir: Path, now: float, destination: str = PRIMARY) -> dict[str, float]:
    """Seconds the remote live edge of ``destination`` trails the local one, per rendition of the latest
    event: the age of the oldest segment not yet verified there (0 when all are); empty before the
    encoder has written anything. Files are matched by their spool path, the same for every destination.
    """
    db = connect_read_only(spool_dir)
    if db is None:
        return {}
    files = "files"
    try:
        if destination != PRIMARY:  # the segments are in the primary's journal, the states in the backup's
            other = journal_path(spool_dir, destination)
            if not other.exists():
                return {}
            db.execute("ATTACH DATABASE ? AS dest", (f"file:{other}?mode=ro",))
            files = "dest.files"
        latest = db.execute("SELECT event FROM encoder_segments ORDER BY completed_at DESC LIMIT 1").fetchone()
        if latest is None:
            return {}
        rows = db.execute(
            f"""SELECT s.rendition, min(CASE WHEN f.state IS NOT 'verified' THEN s.completed_at END)
               FROM encoder_segments s LEFT JOIN {files} f ON f.path = s.path
               WHERE s.event = ? GROUP BY s.rendition""",  # noqa: S608 - a table name of ours
            (latest[0],),
        ).fetchall()
    except sqlite3.OperationalError:  # a journal from before the encoder's table: nothing encoded here
        return {}
    finally:
        db.close()
    return {rendition: round(max(0.0, now - oldest), 3) if oldest else 0.0 for rendition, oldest in rows}


def verified_bytes_between(spool_dir: Path, t0: float, t1: float) -> int:
    """Bytes of the files verified in ``[t0, t1)``: the upload rate, once divided by ``t1 - t0``."""
    db = connect_read_only(spool_dir)
    if db is None:
        return 0
    try:
        row = db.execute(
            """SELECT coalesce(sum(size), 0) FROM files
               WHERE state = 'verified' AND verified_at >= ? AND verified_at < ?""",
            (t0, t1),
        ).fetchone()
    finally:
        db.close()
    return int(row[0])


def stream_bytes_per_second(spool_dir: Path, event: str, since: float) -> float | None:
    """What the stream of ``event`` makes per second, every rendition together: for each rendition, the bytes
    of its segments completed since ``since`` over their media seconds, added up. None without segments."""
    db = connect_read_only(spool_dir)
    if db is None:
        return None
    try:
        rows = db.execute(
            """SELECT s.rendition, sum(f.size), sum(s.duration) FROM encoder_segments s
               JOIN files f ON f.key = s.key
               WHERE s.event = ? AND s.completed_at >= ? GROUP BY s.rendition""",
            (event, since),
        ).fetchall()
    except sqlite3.OperationalError:  # a journal from before the encoder's table
        return None
    finally:
        db.close()
    rates = [size / seconds for _, size, seconds in rows if seconds]
    return sum(rates) if rates else None


def waiting_segments(spool_dir: Path) -> int:
    """Segments recorded here and not yet verified in the bucket (queued or uploading)."""
    db = connect_read_only(spool_dir)
    if db is None:
        return 0
    try:
        row = db.execute(
            "SELECT count(*) FROM files WHERE kind = 'segment' AND state IN ('queued', 'uploading')"
        ).fetchone()
    finally:
        db.close()
    return int(row[0])


def latest_retry_reason(spool_dir: Path) -> str | None:
    """Why the most recently retried file still waiting was retried (a connection refused, a timeout), if any."""
    db = connect_read_only(spool_dir)
    if db is None:
        return None
    try:
        row = db.execute(
            """SELECT last_error FROM files WHERE state IN ('queued', 'uploading') AND last_error IS NOT NULL
               ORDER BY updated_at DESC LIMIT 1"""
        ).fetchone()
    finally:
        db.close()
    return str(row[0]) if row else None
