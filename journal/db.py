"""The journal's database file: one SQLite file in WAL mode on the spool volume, shared by several processes.

Every table is declared here, so a process that opens the journal finds all of them, whoever created the
file. Commits are fsynced (``synchronous=FULL``): a journaled file survives a power cut before its task
is published. The upload workers open it with ``durable=False`` (``synchronous=NORMAL``, still WAL: never
corrupt, the file's state stays consistent): what a power cut can take back is an upload's progress
(started, verified), and the reconciler redoes that by itself (an expired lease is published again, and a
stored object that matches is marked verified without being sent again).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.destinations import PRIMARY

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
    program_time REAL,
    size INTEGER,
    PRIMARY KEY (event, rendition, msn)
);
CREATE TABLE IF NOT EXISTS events (
    event TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('live', 'paused', 'ended', 'archived')),
    renditions TEXT NOT NULL,
    framerate INTEGER NOT NULL,
    segment_type TEXT NOT NULL,
    started_at REAL NOT NULL,
    heartbeat_at REAL NOT NULL,
    paused_since REAL,
    finish_requested_at REAL,
    ended_at REAL,
    archived_at REAL
);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('raised', 'changed', 'reminder', 'recovered')),
    gist TEXT NOT NULL,
    since REAL NOT NULL,
    target TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    level TEXT NOT NULL,
    created_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    sent_at REAL,
    dropped_at REAL
);
CREATE INDEX IF NOT EXISTS alerts_outbox ON alerts (target, sent_at, dropped_at, id);
CREATE INDEX IF NOT EXISTS alerts_incident ON alerts (incident, id);
"""

# Columns added to ``files`` after the first release, with their declarations: a journal written by an
# older surecast gains them when it is opened (PRAGMA user_version counts the migrations done).
FILES_COLUMNS_V1 = {
    "lease_owner": "TEXT",  # the process uploading the file now
    "lease_until": "REAL",  # ... renewing this while it is alive
    "next_attempt_at": "REAL",  # a retry (or the slow retry of a failed file) is due then
    "streak": "INTEGER NOT NULL DEFAULT 0",  # failures since the last success anywhere: the backoff step
    "suspects": "INTEGER NOT NULL DEFAULT 0",  # answers a mangled request or a middlebox gives
    "failures": "INTEGER NOT NULL DEFAULT 0",  # times it failed permanently: the slow schedule's step
}
# Columns added to ``encoder_segments`` by migration 2: when a segment's first frame was captured (its
# EXT-X-PROGRAM-DATE-TIME) and its size in bytes (the measured bit rates of a VOD master playlist).
SEGMENTS_COLUMNS_V2 = {"program_time": "REAL", "size": "INTEGER"}
# Columns added to ``parts`` by migration 3: a part of a big file is a delivery of its own (a task per part,
# journal/parts.py). A row written before is a part that landed and was checked: ``verified``.
PARTS_COLUMNS_V3 = {
    "state": "TEXT NOT NULL DEFAULT 'verified'",  # queued, uploading or verified
    "first_byte": "INTEGER NOT NULL DEFAULT 0",
    "md5": "TEXT",  # hex MD5 the part's bytes must have (hashed when the file was split)
    "sha256": "TEXT",  # base64 SHA-256 of the part, where one is kept
    "published_at": "REAL",
    "lease_owner": "TEXT",
    "lease_until": "REAL",
    "next_attempt_at": "REAL",
    "attempts": "INTEGER NOT NULL DEFAULT 0",
    "streak": "INTEGER NOT NULL DEFAULT 0",
}
SCHEMA_VERSION = 3
INDEXES_V1 = """
CREATE INDEX IF NOT EXISTS files_due ON files (state, published_at, next_attempt_at);
CREATE INDEX IF NOT EXISTS files_lease ON files (state, lease_until);
CREATE INDEX IF NOT EXISTS parts_state ON parts (state, published_at);
"""


def journal_path(spool_dir: Path, destination: str = PRIMARY) -> Path:
    """The primary's journal holds the events too; each backup destination has a file of its own, so one
    destination's traffic never waits for another's writes."""
    name = JOURNAL_NAME if destination == PRIMARY else f"journal.{destination}.sqlite3"
    return Path(spool_dir) / name


def connect(spool_dir: Path, destination: str = PRIMARY, durable: bool = True) -> sqlite3.Connection:
    """A connection to a destination's journal, created with every table if it does not exist yet;
    ``durable=False``: its commits are not fsynced one by one (see the module docstring)."""
    path = journal_path(spool_dir, destination)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL" if durable else "PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA)
    _migrate(db)
    return db


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a journal written by an older surecast up to SCHEMA_VERSION; nothing recorded is lost."""
    if int(db.execute("PRAGMA user_version").fetchone()[0]) >= SCHEMA_VERSION:
        return
    with write(db):
        _add_columns(db, "files", FILES_COLUMNS_V1)
        _add_columns(db, "encoder_segments", SEGMENTS_COLUMNS_V2)
        _add_columns(db, "parts", PARTS_COLUMNS_V3)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    db.executescript(INDEXES_V1)


def _add_columns(db: sqlite3.Connection, table: str, columns: dict[str, str]) -> None:
    present = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
    for name, declaration in columns.items():
        if name not in present:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")


def connect_read_only(spool_dir: Path, destination: str = PRIMARY) -> sqlite3.Connection | None:
    """A read-only connection for figures, or None if nothing has created the journal yet."""
    path = journal_path(spool_dir, destination)
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
