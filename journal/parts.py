"""How the parts of a big file move through the ``parts`` table: each part a delivery of its own.

    file uploading (its worker holds the lease) ──split──> file uploading, no lease, its parts queued
    part queued (to publish) ──claim──> queued (published) ──worker──> uploading (leased) ──> verified
                                                                                      ──> queued again after a backoff
        a part lease that runs out (its worker died) ──> queued, to publish again at once
    every part verified ──> one part's worker claims the file's lease and completes the upload

A file whose parts are out has no lease of its own (no process holds it): its parts have. The reconciler
does not take such a file back while a part of it is not verified; once every part is, the worker that
verified the last one completes it, and if that worker died first, the file's lease is simply absent and
the file goes back to be published (its task finds every part verified and completes it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager

from journal.rows import PartRow

PartIdent = tuple[str, str, int]  # key, upload id, part number

# A part is pending while its file is being uploaded under the same upload and the part is not verified.
_PENDING = "p.state != 'verified' AND f.state = 'uploading' AND f.upload_id = p.upload_id"
# A part is due once its MD5 is known (a part planned but not hashed yet has none) and its backoff is over.
_PART_DUE = """p.state = 'queued' AND p.published_at IS NULL AND p.md5 IS NOT NULL
               AND (p.next_attempt_at IS NULL OR p.next_attempt_at <= ?)"""
# A file whose parts are out: no lease of its own, some part not verified yet.
PARTED = """lease_owner IS NULL AND EXISTS (SELECT 1 FROM parts p WHERE p.key = files.key
              AND p.upload_id = files.upload_id AND p.state != 'verified')"""


class PartSchedule:
    """State transitions of parts; mixed into ``Journal``, which provides the connection and clock."""

    _db: sqlite3.Connection
    _now: Callable[[], float]

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    # The file's task ----------------------------------------------------------------------------------------

    def split_into_parts(self, key: str, upload_id: str, parts: Iterable[tuple[int, int, int, str, str | None]]) -> int:
        """Queue ``parts`` (number, first byte, size, hex MD5, base64 SHA-256) of ``key``'s upload as deliveries
        of their own, and give up the file's lease: from now on its parts hold leases. Parts already journaled
        keep their state (a verified part is not sent again). Returns how many parts of the upload are not verified."""
        self.queue_parts(key, upload_id, parts)
        return self.release_split(key, upload_id)

    def queue_parts(
        self, key: str, upload_id: str, parts: Iterable[tuple[int, int, int, str | None, str | None]]
    ) -> None:
        """Queue ``parts`` as ``split_into_parts`` does, the file's lease kept, so parts may go out before the last
        one is hashed. A part whose MD5 is None is planned, not due: queue every part so first, and no part's
        task can complete the file (``claim_completion``) before the last part is hashed and sent."""
        with self._write() as db:
            db.executemany(
                """INSERT INTO parts (key, upload_id, part_number, etag, size, state, first_byte, md5, sha256)
                   VALUES (?, ?, ?, '', ?, 'queued', ?, ?, ?)
                   ON CONFLICT DO UPDATE SET first_byte = excluded.first_byte, md5 = coalesce(excluded.md5, md5),
                       sha256 = coalesce(excluded.sha256, sha256)""",
                [(key, upload_id, n, size, first, md5, sha) for n, first, size, md5, sha in parts],
            )

    def release_split(self, key: str, upload_id: str) -> int:
        """Every part is queued: give up the file's lease (its parts hold leases now) and return how many parts
        of the upload are not verified; if none, the caller may claim the completion itself."""
        now = self._now()
        with self._write() as db:
            db.execute(
                """UPDATE files SET lease_owner = NULL, lease_until = NULL, updated_at = ?
                   WHERE key = ? AND upload_id = ? AND state = 'uploading'""",
                (now, key, upload_id),
            )
            row = db.execute(
                "SELECT count(*) FROM parts WHERE key = ? AND upload_id = ? AND state != 'verified'", (key, upload_id)
            ).fetchone()
        return int(row[0])

    # The parts' tasks ----------------------------------------------------------------------------------------

    def start_part(self, ident: PartIdent, owner: str = "", lease_seconds: float = 0.0) -> bool:
        """``owner`` is sending the part and renews its lease; False if the part is verified or gone."""
        now = self._now()
        with self._write() as db:
            cursor = db.execute(
                """UPDATE parts SET state = 'uploading', attempts = attempts + 1, lease_owner = ?, lease_until = ?,
                       next_attempt_at = NULL
                   WHERE key = ? AND upload_id = ? AND part_number = ? AND state != 'verified'""",
                (owner or None, now + lease_seconds if owner else None, *ident),
            )
        return cursor.rowcount == 1

    def renew_part_leases(self, idents: Iterable[PartIdent], owner: str, lease_seconds: float) -> None:
        until = self._now() + lease_seconds
        with self._write() as db:
            db.executemany(
                """UPDATE parts SET lease_until = ? WHERE key = ? AND upload_id = ? AND part_number = ?
                       AND lease_owner = ? AND state = 'uploading'""",
                [(until, *ident, owner) for ident in idents],
            )

    def retry_part(self, ident: PartIdent, reason: str, delay: float, integrity: bool = False) -> None:
        """The part back to queued, to publish again after ``delay``; counted as a retry of its file."""
        now = self._now()
        with self._write() as db:
            db.execute(
                """UPDATE parts SET state = 'queued', published_at = NULL, next_attempt_at = ?, streak = streak + 1,
                       lease_owner = NULL, lease_until = NULL
                   WHERE key = ? AND upload_id = ? AND part_number = ? AND state != 'verified'""",
                (now + delay, *ident),
            )
            db.execute(
                """UPDATE files SET retries = retries + 1, integrity_reuploads = integrity_reuploads + ?,
                       last_error = ?, updated_at = ? WHERE key = ? AND upload_id = ?""",
                (int(integrity), reason, now, ident[0], ident[1]),
            )

    def part_streak(self, ident: PartIdent) -> int:
        row = self._db.execute(
            "SELECT streak FROM parts WHERE key = ? AND upload_id = ? AND part_number = ?", ident
        ).fetchone()
        return int(row[0]) if row else 0

    def claim_completion(self, key: str, upload_id: str, owner: str, lease_seconds: float) -> bool:
        """Take the file's lease to complete its upload, if every part is verified and nobody holds it."""
        now = self._now()
        with self._write() as db:
            cursor = db.execute(
                """UPDATE files SET lease_owner = ?, lease_until = ?, updated_at = ?
                   WHERE key = ? AND upload_id = ? AND state = 'uploading'
                       AND (lease_owner IS NULL OR lease_until < ?)
                       AND NOT EXISTS (SELECT 1 FROM parts WHERE key = ? AND upload_id = ? AND state != 'verified')""",
                (owner or "-", now + lease_seconds, now, key, upload_id, now, key, upload_id),
            )
        return cursor.rowcount == 1

    def part_checksums(self, key: str, upload_id: str) -> dict[int, tuple[str, str | None]]:
        """The verified parts of an upload: {number: (hex MD5 it was split with, else its ETag; base64 SHA-256)}."""
        rows = self._db.execute(
            """SELECT part_number, coalesce(md5, etag), sha256 FROM parts
               WHERE key = ? AND upload_id = ? AND state = 'verified'""",
            (key, upload_id),
        ).fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}

    def parts_progress(self, key: str) -> tuple[int, int]:
        """(bytes in verified parts, bytes in every journaled part) of ``key``'s current upload."""
        row = self._db.execute(
            """SELECT coalesce(sum(CASE WHEN p.state = 'verified' THEN p.size END), 0), coalesce(sum(p.size), 0)
               FROM parts p JOIN files f ON f.key = p.key AND f.upload_id = p.upload_id WHERE p.key = ?""",
            (key,),
        ).fetchone()
        return int(row[0]), int(row[1])

    # The outbox ----------------------------------------------------------------------------------------------

    def claim_due_parts(self, limit: int = 500) -> list[PartRow]:
        """Parts due for publishing, by their file's priority, marked published (one publisher wins)."""
        now = self._now()
        with self._write() as db:
            rows = db.execute(
                f"""SELECT p.key, p.upload_id, p.part_number, p.first_byte, p.size, p.md5, p.sha256, f.path,
                        f.version, f.md5 AS file_md5, f.priority
                    FROM parts p JOIN files f ON f.key = p.key
                    WHERE {_PART_DUE} AND {_PENDING}
                    ORDER BY f.priority, f.created_at, p.part_number LIMIT ?""",  # noqa: S608 - constants only
                (now, limit),
            ).fetchall()
            db.executemany(
                "UPDATE parts SET published_at = ? WHERE key = ? AND upload_id = ? AND part_number = ?",
                [(now, r[0], r[1], r[2]) for r in rows],
            )
        return [PartRow(*r) for r in rows]

    def unclaim_parts(self, idents: Iterable[PartIdent]) -> None:
        with self._write() as db:
            db.executemany(
                """UPDATE parts SET published_at = NULL
                   WHERE key = ? AND upload_id = ? AND part_number = ? AND state = 'queued'""",
                list(idents),
            )

    def publish_due_parts(self, send: Callable[[list[PartRow]], Iterable[PartIdent]], limit: int = 500) -> int:
        """Hand the due parts to ``send``, which returns those Redis took; the others wait. Returns how many."""
        rows = self.claim_due_parts(limit)
        if not rows:
            return 0
        try:
            sent = set(send(rows))
        except BaseException:
            self.unclaim_parts(r.ident for r in rows)
            raise
        missed = [r.ident for r in rows if r.ident not in sent]
        if missed:
            self.unclaim_parts(missed)
        return len(sent)

    # The reconciler ------------------------------------------------------------------------------------------

    def expire_part_leases(self) -> int:
        """Parts whose process stopped renewing the lease (it died): queued to publish again at once."""
        now = self._now()
        with self._write() as db:
            cursor = db.execute(
                """UPDATE parts SET state = 'queued', published_at = NULL, next_attempt_at = NULL,
                       lease_owner = NULL, lease_until = NULL
                   WHERE state = 'uploading' AND lease_until < ?""",
                (now,),
            )
        return int(cursor.rowcount)

    def expedite_part_retries(self) -> int:
        now = self._now()
        with self._write() as db:
            cursor = db.execute(
                """UPDATE parts SET next_attempt_at = ?, streak = 0
                   WHERE state = 'queued' AND published_at IS NULL AND next_attempt_at > ?""",
                (now, now),
            )
        return int(cursor.rowcount)

    def part_messages_expected(self) -> int:
        """Part messages Redis should hold: published and not started, or being sent."""
        row = self._db.execute(
            f"""SELECT count(*) FROM parts p JOIN files f ON f.key = p.key
                WHERE {_PENDING} AND ((p.state = 'queued' AND p.published_at IS NOT NULL) OR p.state = 'uploading')"""  # noqa: S608
        ).fetchone()
        return int(row[0])

    def republish_stale_parts(self, published_before: float) -> int:
        """Published parts no worker started since ``published_before``: to publish again (Redis lost them)."""
        with self._write() as db:
            cursor = db.execute(
                "UPDATE parts SET published_at = NULL WHERE state = 'queued' AND published_at < ?",
                (published_before,),
            )
        return int(cursor.rowcount)
