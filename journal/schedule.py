"""How delivery moves a file through the ``files`` table: leases, scheduled retries, the outbox's claims.

    queued (to publish: published_at NULL, due at next_attempt_at) ──claim──> queued (published)
        ──worker──> uploading (leased; renewed while alive) ──> verified
                                                           ──> queued again, due after a backoff (retry)
                                                           ──> failed, retried on a slow schedule
        a lease that runs out (the worker died) ──> queued, to publish again at once

Retries wait here, not in a worker's memory as countdown messages: a killed worker strands nothing, and
a success anywhere makes every waiting retry due at once (the link is back).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager

from journal.parts import PARTED
from journal.rows import FileRow, row_of

DUE = "state = 'queued' AND published_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"


class DeliverySchedule:
    """State transitions of delivery; mixed into ``Journal``, which provides the connection and clock."""

    _db: sqlite3.Connection
    _now: Callable[[], float]

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    # Workers ----------------------------------------------------------------------------------------------

    def start_attempt(self, key: str, owner: str = "", lease_seconds: float = 0.0) -> None:
        """``owner`` (a process) is uploading ``key`` and will renew its lease before ``lease_seconds`` pass."""
        now = self._now()
        with self._write() as db:
            db.execute(
                """UPDATE files SET state = 'uploading', attempts = attempts + 1, started_at = coalesce(started_at, ?),
                       updated_at = ?, lease_owner = ?, lease_until = ?, next_attempt_at = NULL
                   WHERE key = ? AND state != 'verified'""",
                (now, now, owner or None, now + lease_seconds if owner else None, key),
            )

    def renew_leases(self, keys: Iterable[str], owner: str, lease_seconds: float) -> None:
        """The uploads ``owner`` still holds are alive; a lease another process took over is left alone."""
        until = self._now() + lease_seconds
        with self._write() as db:
            db.executemany(
                "UPDATE files SET lease_until = ? WHERE key = ? AND lease_owner = ? AND state = 'uploading'",
                [(until, key, owner) for key in keys],
            )

    def mark_verified(self, key: str, md5: str) -> None:
        now = self._now()
        with self._write() as db:
            db.execute(
                """UPDATE files SET state = 'verified', verified_at = ?, updated_at = ?, last_error = NULL,
                       upload_id = NULL, lease_owner = NULL, lease_until = NULL, next_attempt_at = NULL,
                       streak = 0, suspects = 0
                   WHERE key = ? AND md5 = ?""",
                (now, now, key, md5),
            )
            db.execute("DELETE FROM parts WHERE key = ?", (key,))

    def schedule_retry(
        self,
        key: str,
        reason: str,
        delay: float,
        integrity: bool = False,
        suspect: bool = False,
        version: int = 0,
    ) -> None:
        """Back to queued, to publish again after ``delay`` seconds (counted as a retry)."""
        now = self._now()
        with self._write() as db:
            db.execute(
                """UPDATE files SET state = 'queued', published_at = NULL, next_attempt_at = ?, updated_at = ?,
                       retries = retries + 1, integrity_reuploads = integrity_reuploads + ?, streak = streak + 1,
                       suspects = suspects + ?, last_error = ?, lease_owner = NULL, lease_until = NULL
                   WHERE key = ? AND version = ? AND state != 'verified'""",
                (now + delay, now, int(integrity), int(suspect), reason, key, version),
            )

    def mark_failed(self, key: str, reason: str, version: int = 0, retry_after: float | None = None) -> None:
        """A permanent failure of ``version`` (a newer version is left alone); tried again after ``retry_after``
        seconds if given (the slow schedule), else only on request."""
        now = self._now()
        with self._write() as db:
            db.execute(
                """UPDATE files SET state = 'failed', last_error = ?, updated_at = ?, failures = failures + 1,
                       suspects = 0, lease_owner = NULL, lease_until = NULL, next_attempt_at = ?
                   WHERE key = ? AND version = ?""",
                (reason, now, None if retry_after is None else now + retry_after, key, version),
            )

    # The outbox ---------------------------------------------------------------------------------------------

    def claim_due(self, limit: int = 500) -> list[FileRow]:
        """Queued files due for publishing, most urgent first, marked published (one publisher wins)."""
        now = self._now()
        with self._write() as db:
            rows = db.execute(
                f"SELECT * FROM files WHERE {DUE} ORDER BY priority, created_at LIMIT ?",  # noqa: S608
                (now, limit),
            ).fetchall()
            db.executemany(
                "UPDATE files SET published_at = ?, updated_at = ? WHERE key = ?", [(now, now, r["key"]) for r in rows]
            )
        return [row_of(r) for r in rows]

    def unclaim(self, keys: Iterable[str]) -> None:
        """To publish again: claimed but not published (Redis went away), or demoted since it was sent."""
        with self._write() as db:
            db.executemany(
                "UPDATE files SET published_at = NULL WHERE key = ? AND state = 'queued'", [(k,) for k in keys]
            )

    def publish_due(self, send: Callable[[list[FileRow]], Iterable[str]], limit: int = 500) -> int:
        """Hand the due files to ``send`` (claimed first, so two publishers never send one twice); ``send``
        returns the keys Redis took, and the others go back to wait. Returns how many went out."""
        rows = self.claim_due(limit)
        if not rows:
            return 0
        try:
            sent = set(send(rows))
        except BaseException:
            self.unclaim(r.key for r in rows)  # what went out is unknown: sent again, which is harmless
            raise
        missed = [r.key for r in rows if r.key not in sent]
        if missed:
            self.unclaim(missed)
        return len(sent)

    def due_count(self) -> int:
        """Files waiting to be published now (the encoder's pump reports them while Redis is down)."""
        return int(self._db.execute(f"SELECT count(*) FROM files WHERE {DUE}", (self._now(),)).fetchone()[0])  # noqa: S608

    def next_due_at(self) -> float | None:
        """When the earliest scheduled retry or slow retry falls due."""
        row = self._db.execute(
            """SELECT min(next_attempt_at) FROM files WHERE next_attempt_at IS NOT NULL
                   AND ((state = 'queued' AND published_at IS NULL) OR state = 'failed')"""
        ).fetchone()
        return None if row[0] is None else float(row[0])

    # The reconciler -----------------------------------------------------------------------------------------

    def expire_leases(self, recover_after: float) -> list[str]:
        """Uploads whose process stopped renewing its lease (it died): queued to publish again at once.

        A journal from before leases has ``uploading`` rows without one: those count from their last change. A
        file whose parts are out holds no lease (its parts do, ``journal.parts``): it is left alone.
        """
        now = self._now()
        with self._write() as db:
            rows = db.execute(
                f"""SELECT key FROM files WHERE state = 'uploading'
                       AND (lease_until < ? OR (lease_until IS NULL AND updated_at < ?)) AND NOT ({PARTED})""",  # noqa: S608
                (now, now - recover_after),
            ).fetchall()
            db.executemany(
                """UPDATE files SET state = 'queued', published_at = NULL, next_attempt_at = NULL, updated_at = ?,
                       lease_owner = NULL, lease_until = NULL WHERE key = ?""",
                [(now, r["key"]) for r in rows],
            )
        return [r["key"] for r in rows]

    def expedite_retries(self) -> int:
        """Every waiting retry due now, its backoff started again: the link is back."""
        now = self._now()
        with self._write() as db:
            cursor = db.execute(
                """UPDATE files SET next_attempt_at = ?, streak = 0
                   WHERE state = 'queued' AND published_at IS NULL AND next_attempt_at > ?""",
                (now, now),
            )
        return int(cursor.rowcount)

    def latest_success_at(self) -> float:
        row = self._db.execute("SELECT max(verified_at) FROM files WHERE state = 'verified'").fetchone()
        return float(row[0] or 0.0)

    def requeue_due_failed(self) -> int:
        """Failed files whose slow retry is due: queued to publish."""
        now = self._now()
        with self._write() as db:
            cursor = db.execute(
                """UPDATE files SET state = 'queued', published_at = NULL, next_attempt_at = NULL, updated_at = ?
                   WHERE state = 'failed' AND next_attempt_at <= ?""",
                (now, now),
            )
        return int(cursor.rowcount)

    def requeue_failed(self) -> int:
        """Every failed file queued to publish now (counters kept): the cause was fixed, or a worker started."""
        with self._write() as db:
            cursor = db.execute(
                """UPDATE files SET state = 'queued', published_at = NULL, next_attempt_at = NULL, updated_at = ?
                   WHERE state = 'failed'""",
                (self._now(),),
            )
        return int(cursor.rowcount)

    def requeue_failed_with(self, reason: str | None) -> int:
        """The failed files whose last error is ``reason`` (None: no reason recorded) queued to publish now,
        counters kept: one cause fixed, the others left failed (the console's "retry now" of one group)."""
        with self._write() as db:
            cursor = db.execute(
                """UPDATE files SET state = 'queued', published_at = NULL, next_attempt_at = NULL, updated_at = ?
                   WHERE state = 'failed' AND last_error IS ?""",
                (self._now(), reason),
            )
        return int(cursor.rowcount)

    def file_messages_expected(self) -> int:
        """Messages Redis should hold for this journal: published and not started, or being uploaded (a file
        whose parts are out has none of its own: its parts' are counted)."""
        row = self._db.execute(
            f"""SELECT count(*) FROM files WHERE (state = 'queued' AND published_at IS NOT NULL)
                   OR (state = 'uploading' AND NOT ({PARTED}))"""  # noqa: S608 - constants only
        ).fetchone()
        return int(row[0])

    def republish_stale(self, published_before: float) -> int:
        """Published files no worker started since ``published_before``: to publish again (Redis lost them)."""
        with self._write() as db:
            cursor = db.execute(
                """UPDATE files SET published_at = NULL, updated_at = ?
                   WHERE state = 'queued' AND published_at IS NOT NULL AND published_at < ?""",
                (self._now(), published_before),
            )
        return int(cursor.rowcount)

    def republish_all_unverified(self) -> int:
        """Every file not yet verified, queued to publish again (`surecast reconcile --all`)."""
        with self._write() as db:
            cursor = db.execute(
                """UPDATE files SET state = 'queued', published_at = NULL, next_attempt_at = NULL, updated_at = ?,
                       lease_owner = NULL, lease_until = NULL WHERE state IN ('queued', 'uploading')""",
                (self._now(),),
            )
        return int(cursor.rowcount)
