"""The ``alerts`` table: the outbox of alert messages, one row per message and target, kept until sent.

A message is written here before anyone tries to send it, so an alert survives a restart and a link that
is down: the sender takes each target's oldest unsent row, and on failure sets when to try again. The
rows also remember which incidents are open (their latest message is not a recovery), so a restarted
console neither repeats an alert nor forgets to say that it recovered. A target is named by a digest of
its URL, never the URL (it holds tokens).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from journal import db as journal_db

KINDS = ("raised", "changed", "reminder", "recovered")


@dataclass(frozen=True)
class AlertMessage:
    """What is to be said about one incident, before it is addressed to the targets."""

    incident: str  # what it is about: "uplink", "problem:no_worker", "offline:north"
    kind: str  # raised, changed, reminder, recovered
    gist: str  # what the incident is, without its changing numbers: a new gist is a change
    since: float  # when the condition began
    title: str
    body: str
    level: str  # info, success, warning, failure (Apprise's notification types)


@dataclass(frozen=True)
class AlertRow:
    id: int
    target: str
    message: AlertMessage
    created_at: float
    attempts: int
    next_attempt_at: float
    last_error: str | None


@dataclass(frozen=True)
class OpenIncident:
    """An incident whose latest message is not a recovery: it was raised and not yet said to be over."""

    incident: str
    gist: str
    since: float
    raised_at: float  # when its first message was written
    said_at: float  # when its latest message was written


@dataclass(frozen=True)
class Waiting:
    """A target's unsent messages: how many, the oldest's age, why the last attempt failed."""

    target: str
    messages: int
    oldest_at: float
    last_error: str | None


_ROW = "id, target, incident, kind, gist, since, title, body, level, created_at, attempts, next_attempt_at, last_error"


class AlertOutbox:
    """The outbox on a connection of its own (one per thread, like the journal)."""

    def __init__(self, spool_dir: Path, clock: Callable[[], float] = time.time) -> None:
        self._db = journal_db.connect(Path(spool_dir))
        self._now = clock

    def close(self) -> None:
        self._db.close()

    def add(self, message: AlertMessage, targets: Iterable[str]) -> int:
        """The message, once per target, due now; returns the rows written."""
        if message.kind not in KINDS:
            raise ValueError(f"unknown alert kind {message.kind!r}")
        now = self._now()
        m = message
        rows = [
            (m.incident, m.kind, m.gist, m.since, t, m.title, m.body, m.level, now, now) for t in dict.fromkeys(targets)
        ]
        with journal_db.write(self._db) as db:
            db.executemany(
                "INSERT INTO alerts (incident, kind, gist, since, target, title, body, level, created_at,"
                " next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        return len(rows)

    def next_for(self, target: str) -> AlertRow | None:
        """The target's oldest unsent message, due or not: messages reach a target in the order written."""
        row = self._db.execute(
            f"SELECT {_ROW} FROM alerts WHERE target = ? AND sent_at IS NULL AND dropped_at IS NULL"
            " ORDER BY id LIMIT 1",
            (target,),
        ).fetchone()
        return None if row is None else _row_of(row)

    def mark_sent(self, row_id: int) -> None:
        with journal_db.write(self._db) as db:
            db.execute(
                "UPDATE alerts SET sent_at = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?",
                (self._now(), row_id),
            )

    def schedule_retry(self, row_id: int, error: str, at: float) -> None:
        with journal_db.write(self._db) as db:
            db.execute(
                "UPDATE alerts SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?",
                (error[:500], at, row_id),
            )

    def drop_other_targets(self, targets: Iterable[str]) -> int:
        """Unsent messages for targets no longer configured will never be sent: set them aside."""
        known = list(dict.fromkeys(targets))
        marks = ",".join("?" * len(known))
        with journal_db.write(self._db) as db:
            found = db.execute(
                f"UPDATE alerts SET dropped_at = ? WHERE sent_at IS NULL AND dropped_at IS NULL"
                f" AND target NOT IN ({marks})",
                (self._now(), *known),
            )
            return int(found.rowcount)

    def open_incidents(self) -> list[OpenIncident]:
        """Incidents whose latest message is not a recovery."""
        rows = self._db.execute(
            "SELECT a.incident, a.kind, a.gist, a.since, a.created_at,"
            " (SELECT MAX(created_at) FROM alerts r WHERE r.incident = a.incident AND r.kind = 'raised'"
            "  AND r.id <= a.id) AS raised_at"
            " FROM alerts a WHERE a.id IN (SELECT MAX(id) FROM alerts GROUP BY incident)"
        ).fetchall()
        return [
            OpenIncident(r["incident"], r["gist"], r["since"], r["raised_at"] or r["created_at"], r["created_at"])
            for r in rows
            if r["kind"] != "recovered"
        ]

    def recoveries_since(self, since: float) -> dict[str, list[float]]:
        """Per incident, when its recoveries were written after ``since`` (once per message, not per target)."""
        rows = self._db.execute(
            "SELECT DISTINCT incident, created_at FROM alerts WHERE kind = 'recovered' AND created_at >= ?"
            " ORDER BY created_at",
            (since,),
        ).fetchall()
        found: dict[str, list[float]] = {}
        for r in rows:
            found.setdefault(r["incident"], []).append(float(r["created_at"]))
        return found

    def waiting(self) -> list[Waiting]:
        """Per target, the messages not sent yet."""
        rows = self._db.execute(
            "SELECT target, COUNT(*) AS n, MIN(created_at) AS oldest,"
            " (SELECT last_error FROM alerts e WHERE e.target = a.target AND e.sent_at IS NULL"
            "  AND e.dropped_at IS NULL ORDER BY e.id LIMIT 1) AS error"
            " FROM alerts a WHERE sent_at IS NULL AND dropped_at IS NULL GROUP BY target ORDER BY target"
        ).fetchall()
        return [Waiting(r["target"], int(r["n"]), float(r["oldest"]), r["error"]) for r in rows]

    def sent(self, incident_prefix: str = "") -> list[AlertRow]:
        """Messages sent, oldest first (for `surecast alerts` and the tests)."""
        rows = self._db.execute(
            f"SELECT {_ROW} FROM alerts WHERE sent_at IS NOT NULL AND incident LIKE ? ORDER BY id",
            (incident_prefix.replace("%", r"\%") + "%",),
        ).fetchall()
        return [_row_of(r) for r in rows]

    def prune(self, before: float) -> int:
        """Forget messages sent (or set aside) before ``before``; open incidents keep their latest row."""
        with journal_db.write(self._db) as db:
            found = db.execute(
                "DELETE FROM alerts WHERE COALESCE(sent_at, dropped_at) < ?"
                " AND id NOT IN (SELECT MAX(id) FROM alerts GROUP BY incident)",
                (before,),
            )
            return int(found.rowcount)


def _row_of(r: sqlite3.Row) -> AlertRow:
    message = AlertMessage(r["incident"], r["kind"], r["gist"], r["since"], r["title"], r["body"], r["level"])
    attempts, due, error = r["attempts"], r["next_attempt_at"], r["last_error"]
    return AlertRow(r["id"], r["target"], message, r["created_at"], attempts, due, error)
