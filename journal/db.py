"""The journal's database file: one SQLite file in WAL mode on the spool volume, shared by several processes.

Every table is declared here, so a process that opens the journal finds all of them, whoever created the
file. Commits are fsynced (``synchronous=FULL``): a journaled file survives a power cut before its task
is published.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

JOURNAL_NAME = "journal.sqlite3"
BUSY_TIMEOUT = 30.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    key TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    md5 TEXT NOT NULL,
    content_type TEXT NOT NULL,
    cache_control TEXT NOT NULL,
    kind TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 0,
    priority INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL CHECK (state IN ('queued', 'uploading', 'verified', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    retries INTEGER NOT NULL DEFAULT 0,
    integrity_reuploads INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    published_at REAL,
    started_at REAL,
    verified_at REAL,
    upload_id TEXT,
    part_size INTEGER
);
CREATE INDEX IF NOT EXISTS files_state ON files (state, created_at);
CREATE TABLE IF NOT EXISTS parts (
    key TEXT NOT NULL,
    upload_id TEXT NOT NULL,
    part_number INTEGER NOT NULL,
    etag TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (key, upload_id, part_number)
);
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


def journal_path(spool_dir: Path) -> Path:
    return Path(spool_dir) / JOURNAL_NAME


def connect(spool_dir: Path) -> sqlite3.Connection:
    """A connection to the spool's journal, created with every table if it does not exist yet."""
    path = journal_path(spool_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(SCHEMA)
    return db


def connect_read_only(spool_dir: Path) -> sqlite3.Connection | None:
    """A read-only connection for figures, or None if nothing has created the journal yet."""
    path = journal_path(spool_dir)
    if not path.exists():
        return None
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)


@contextmanager
def write(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction, taken at once (BEGIN IMMEDIATE) so writers queue instead of deadlocking."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
