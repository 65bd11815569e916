"""Read-only figures across the journal's tables, for `surecast status`, `--watch` and the metrics."""

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
