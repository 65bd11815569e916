"""Read-only figures across the journal's tables, for `surecast status`, `--watch` and the metrics."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from journal.db import connect_read_only


def live_edge_lag(spool_dir: Path, now: float) -> dict[str, float]:
    """Seconds the remote live edge trails the local one, per rendition of the latest event.

    The age of the oldest segment not yet verified in the bucket (0 when all are); empty before the
    encoder has written anything.
    """
    db = connect_read_only(spool_dir)
    if db is None:
        return {}
    try:
        latest = db.execute("SELECT event FROM encoder_segments ORDER BY completed_at DESC LIMIT 1").fetchone()
        if latest is None:
            return {}
        rows = db.execute(
            """SELECT s.rendition, min(CASE WHEN f.state IS NOT 'verified' THEN s.completed_at END)
               FROM encoder_segments s LEFT JOIN files f ON f.key = s.key
               WHERE s.event = ? GROUP BY s.rendition""",
            (latest[0],),
        ).fetchall()
    except sqlite3.OperationalError:  # a journal from before the encoder's table: nothing encoded here
        return {}
    finally:
        db.close()
    return {rendition: round(max(0.0, now - oldest), 3) if oldest else 0.0 for rendition, oldest in rows}
