"""The ``files`` and ``parts`` tables: every object to deliver and how far its delivery has come.

A file is written here (fsynced) before its task is published, and it leaves the ``queued``/``uploading``
states only when its object is verified in the bucket or it failed permanently. Several processes
(encoder, workers, CLI) open the journal at once.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

from core.contract import UploadJob
from core.destinations import PRIMARY
from journal import db as journal_db
from journal.parts import PartSchedule
from journal.rows import FileRow, PartRow, State, Totals, row_of
from journal.schedule import DeliverySchedule

__all__ = ["FileRow", "Journal", "PartRow", "State", "Totals"]

_CHUNK = 400  # keys per query: below SQLite's default limit of bound parameters


class Journal(DeliverySchedule, PartSchedule):
    """A connection to the journal; cheap to open, one per process or thread."""

    def __init__(
        self,
        spool_dir: Path,
        clock: Callable[[], float] = time.time,
        destination: str = PRIMARY,
        durable: bool = True,
    ) -> None:
        self.spool_dir = Path(spool_dir)
        self.destination = destination
        self.path = journal_db.journal_path(self.spool_dir, destination)
        self._now = clock
        self._db = journal_db.connect(self.spool_dir, destination, durable)
        self._data_version: int | None = None

    @property
    def clock(self) -> Callable[[], float]:
        return self._now

    @property
    def connection(self) -> sqlite3.Connection:
        """The connection, for the other tables of the journal package (events) to share."""
        return self._db

    def close(self) -> None:
        self._db.close()

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        return journal_db.write(self._db)

    def changed(self) -> bool:
        """True if another connection (a worker, another process) committed since the last call.

        ``PRAGMA data_version`` reads shared memory, not the disk: cheap enough to ask every few ms.
        """
        version = int(self._db.execute("PRAGMA data_version").fetchone()[0])
        if version == self._data_version:
            return False
        self._data_version = version
        return True

    def record(self, job: UploadJob, priority: int = 0) -> bool:
        """Journal ``job`` as queued; return False if an equal or newer version is already recorded."""
        now = self._now()
        with self._write() as db:
            row = db.execute("SELECT version, md5, state FROM files WHERE key = ?", (job.key,)).fetchone()
            if row is not None:
                same = row["md5"] == job.md5 and row["version"] == job.version
                if row["version"] > job.version or (same and row["state"] != State.FAILED):
                    return False
                db.execute("DELETE FROM parts WHERE key = ?", (job.key,))
            db.execute(
                """INSERT INTO files (key, path, size, md5, content_type, cache_control, kind, version,
                       priority, state, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?)
                   ON CONFLICT (key) DO UPDATE SET path = excluded.path, size = excluded.size,
                       md5 = excluded.md5, content_type = excluded.content_type,
                       cache_control = excluded.cache_control, kind = excluded.kind,
                       version = excluded.version, priority = excluded.priority, state = 'queued',
                       last_error = NULL, updated_at = excluded.updated_at, published_at = NULL,
                       verified_at = NULL, upload_id = NULL, part_size = NULL, lease_owner = NULL,
                       lease_until = NULL, next_attempt_at = NULL, streak = 0, suspects = 0, failures = 0""",
                (
                    job.key,
                    job.path,
                    job.size,
                    job.md5,
                    job.content_type,
                    job.cache_control,
                    job.kind,
                    job.version,
                    priority,
                    now,
                    now,
                ),
            )
        return True

    def expected_in_redis(self) -> int:
        """Upload messages Redis should hold for this journal: the files' and the parts'."""
        return self.file_messages_expected() + self.part_messages_expected()

    def get(self, key: str) -> FileRow | None:
        row = self._db.execute("SELECT * FROM files WHERE key = ?", (key,)).fetchone()
        return row_of(row) if row else None

    def reopen(self, key: str) -> None:
        """Back to queued, to be published again: what the bucket holds for ``key`` may no longer be what is
        journaled."""
        with self._write() as db:
            db.execute(
                """UPDATE files SET state = 'queued', verified_at = NULL, published_at = NULL, updated_at = ?
                   WHERE key = ?""",
                (self._now(), key),
            )

    def set_multipart(self, key: str, upload_id: str | None, part_size: int | None) -> None:
        with self._write() as db:
            db.execute("UPDATE files SET upload_id = ?, part_size = ? WHERE key = ?", (upload_id, part_size, key))
            db.execute("DELETE FROM parts WHERE key = ? AND upload_id IS NOT ?", (key, upload_id))

    def record_part(self, key: str, upload_id: str, number: int, etag: str, size: int) -> None:
        """A part landed and its returned ETag matched what was sent: verified, not to be sent again."""
        with self._write() as db:
            db.execute(
                """INSERT INTO parts (key, upload_id, part_number, etag, size, state) VALUES (?, ?, ?, ?, ?, 'verified')
                   ON CONFLICT DO UPDATE SET etag = excluded.etag, size = excluded.size, state = 'verified',
                       lease_owner = NULL, lease_until = NULL, next_attempt_at = NULL""",
                (key, upload_id, number, etag, size),
            )
            # Progress keeps the reconciler from re-publishing a long upload that is alive.
            db.execute("UPDATE files SET updated_at = ? WHERE key = ?", (self._now(), key))

    def parts(self, key: str, upload_id: str) -> dict[int, str]:
        """The verified parts of an upload: {number: ETag}."""
        rows = self._db.execute(
            "SELECT part_number, etag FROM parts WHERE key = ? AND upload_id = ? AND state = 'verified'",
            (key, upload_id),
        ).fetchall()
        return {r["part_number"]: r["etag"] for r in rows}

    def known_upload_ids(self) -> set[str]:
        rows = self._db.execute("SELECT upload_id FROM files WHERE upload_id IS NOT NULL").fetchall()
        return {r["upload_id"] for r in rows}

    def unverified(self) -> list[FileRow]:
        """Files still queued or uploading, oldest first."""
        rows = self._db.execute(
            "SELECT * FROM files WHERE state IN ('queued', 'uploading') ORDER BY created_at"
        ).fetchall()
        return [row_of(r) for r in rows]

    def failed(self) -> list[FileRow]:
        rows = self._db.execute("SELECT * FROM files WHERE state = 'failed' ORDER BY updated_at").fetchall()
        return [row_of(r) for r in rows]

    def verified_among(self, keys: Iterable[str]) -> set[str]:
        """Those of ``keys`` whose object is verified in the bucket."""
        return {r[0] for r in self._among("SELECT key FROM files WHERE state = 'verified' AND key IN ({})", keys)}

    def verified_before(self, keys: Iterable[str], cutoff: float) -> set[str]:
        """Those of ``keys`` verified before ``cutoff`` (epoch seconds): their local copy may go."""
        sql = "SELECT key FROM files WHERE state = 'verified' AND verified_at < ? AND key IN ({})"
        return {r[0] for r in self._among(sql, keys, cutoff)}

    def is_verified(self, key: str) -> bool:
        row = self._db.execute("SELECT state FROM files WHERE key = ?", (key,)).fetchone()
        return row is not None and row[0] == State.VERIFIED

    def segments_verified_under(self, folder: str) -> bool:
        """Whether there are segments under the spool ``folder`` (an event's) and every one is verified."""
        pattern = folder.rstrip("/").replace("%", r"\%").replace("_", r"\_") + "/%"
        row = self._db.execute(
            r"""SELECT count(*), coalesce(sum(state != 'verified'), 0) FROM files
               WHERE kind = 'segment' AND path LIKE ? ESCAPE '\'""",
            (pattern,),
        ).fetchone()
        return int(row[0]) > 0 and int(row[1]) == 0

    def verified_files(self, since: float, limit: int = 500) -> list[tuple[float, str]]:
        """(verified_at, spool path) of files verified after ``since``, oldest first: copies that may go."""
        rows = self._db.execute(
            """SELECT verified_at, path FROM files WHERE state = 'verified' AND verified_at > ?
               ORDER BY verified_at LIMIT ?""",
            (since, limit),
        ).fetchall()
        return [(float(r[0]), str(r[1])) for r in rows]

    def failed_among(self, keys: Iterable[str]) -> dict[str, str]:
        """Those of ``keys`` that failed permanently, with the reason."""
        sql = "SELECT key, last_error FROM files WHERE state = 'failed' AND key IN ({})"
        return {r[0]: r[1] or "" for r in self._among(sql, keys)}

    def demote(self, keys: Iterable[str], priority: int) -> None:
        """Give unverified ``keys`` a lower queue priority for any later re-publication (backfill)."""
        sql = "UPDATE files SET priority = ? WHERE state IN ('queued', 'uploading') AND key IN ({})"
        with self._write():
            list(self._among(sql, keys, priority))

    def _among(self, sql: str, keys: Iterable[str], *leading: object) -> Iterator[sqlite3.Row]:
        """Run ``sql`` (``{}`` stands for the key list) over ``keys`` in chunks, yielding every row."""
        items = list(keys)
        for start in range(0, len(items), _CHUNK):
            chunk = items[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            yield from self._db.execute(sql.format(marks), [*leading, *chunk])  # noqa: S608 - only "?" marks

    def totals(self) -> Totals:
        counts = {s.value: 0 for s in State}
        for r in self._db.execute("SELECT state, count(*) AS n FROM files GROUP BY state"):
            counts[r["state"]] = r["n"]
        agg = self._db.execute(
            """SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes, min(created_at) AS oldest
               FROM files WHERE state IN ('queued', 'uploading')"""
        ).fetchone()
        sums = self._db.execute(
            "SELECT coalesce(sum(retries), 0) AS r, coalesce(sum(integrity_reuploads), 0) AS i FROM files"
        ).fetchone()
        return Totals(counts, agg["n"], agg["bytes"], agg["oldest"], sums["r"], sums["i"])
