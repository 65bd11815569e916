"""The journal: states, versions (latest wins), counters, deadlines, and sharing between processes."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from core.contract import UploadJob
from journal.files import FileRow, Journal, State

MD5_A = "0" * 32
MD5_B = "1" * 32


def job(key: str = "live/a.ts", md5: str = MD5_A, version: int = 0, size: int = 10) -> UploadJob:
    return UploadJob(path=key.split("/")[-1], key=key, size=size, md5=md5, kind="segment", version=version)


def test_a_file_goes_from_queued_to_verified(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    assert journal.record(job())
    journal.start_attempt("live/a.ts")
    row = journal.get("live/a.ts")
    assert row and row.state == State.UPLOADING and row.attempts == 1
    journal.mark_verified("live/a.ts", MD5_A)
    row = journal.get("live/a.ts")
    assert row and row.state == State.VERIFIED and row.verified_at
    assert journal.totals().files["verified"] == 1


def test_recording_the_same_file_twice_keeps_one_row(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    assert journal.record(job())
    assert not journal.record(job())
    assert sum(journal.totals().files.values()) == 1


def test_an_older_version_never_replaces_a_newer_one(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    assert journal.record(job("live/p.m3u8", MD5_A, version=5))
    assert not journal.record(job("live/p.m3u8", MD5_B, version=4))
    assert journal.record(job("live/p.m3u8", MD5_B, version=6))
    row = journal.get("live/p.m3u8")
    assert row and row.version == 6 and row.md5 == MD5_B


def test_verification_of_an_outdated_version_is_not_recorded(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.record(job("live/p.m3u8", MD5_A, version=1))
    journal.record(job("live/p.m3u8", MD5_B, version=2))
    journal.mark_verified("live/p.m3u8", MD5_A)
    row = journal.get("live/p.m3u8")
    assert row and row.state == State.QUEUED


def test_failed_files_keep_their_reason_retry_on_a_slow_schedule_and_can_be_requeued(tmp_path: Path) -> None:
    now = [1000.0]
    journal = Journal(tmp_path, clock=lambda: now[0])
    journal.record(job())
    journal.mark_failed("live/a.ts", "AccessDenied", retry_after=30)
    assert [(r.key, r.last_error) for r in journal.failed()] == [("live/a.ts", "AccessDenied")]
    assert journal.next_due_at() == 1030.0
    now[0] = 1029.0
    assert journal.requeue_due_failed() == 0
    now[0] = 1030.0
    assert journal.requeue_due_failed() == 1
    row = journal.get("live/a.ts")
    assert row and row.state == State.QUEUED and row.failures == 1 and not journal.failed()
    journal.mark_failed("live/a.ts", "AccessDenied")  # no slow retry: only on request
    assert journal.requeue_due_failed() == 0 and journal.requeue_failed() == 1


def test_a_retry_waits_in_the_journal_until_due_and_is_counted(tmp_path: Path) -> None:
    now = [1000.0]
    journal = Journal(tmp_path, clock=lambda: now[0])
    journal.record(job())
    assert [r.key for r in journal.claim_due()] == ["live/a.ts"]
    journal.start_attempt("live/a.ts", "w:1", 6)
    journal.schedule_retry("live/a.ts", "reset", delay=2)
    journal.start_attempt("live/a.ts", "w:1", 6)
    journal.schedule_retry("live/a.ts", "etag differs", delay=4, integrity=True)
    row = journal.get("live/a.ts")
    assert row and row.state == State.QUEUED and row.streak == 2 and row.lease_owner is None
    assert journal.claim_due() == []  # not due yet: nothing is held anywhere but here
    now[0] = 1004.0
    assert [r.key for r in journal.claim_due()] == ["live/a.ts"]
    assert journal.claim_due() == []  # claimed once: a second publisher gets nothing
    totals = journal.totals()
    assert (totals.retries, totals.integrity_reuploads) == (2, 1)
    assert totals.waiting_files == 1 and totals.waiting_bytes == 10


def test_a_success_makes_every_waiting_retry_due_at_once(tmp_path: Path) -> None:
    now = [1000.0]
    journal = Journal(tmp_path, clock=lambda: now[0])
    for key in ("live/a.ts", "live/b.ts"):
        journal.record(job(key))
        journal.schedule_retry(key, "refused", delay=30)
    assert journal.expedite_retries() == 2
    assert {r.key for r in journal.claim_due()} == {"live/a.ts", "live/b.ts"}
    assert {journal.get(k).streak for k in ("live/a.ts", "live/b.ts")} == {0}  # type: ignore[union-attr]


def test_an_upload_whose_lease_runs_out_is_published_again(tmp_path: Path) -> None:
    now = [1000.0]
    journal = Journal(tmp_path, clock=lambda: now[0])
    journal.record(job("live/alive.ts"))
    journal.record(job("live/dead.ts"))
    journal.claim_due()
    journal.start_attempt("live/alive.ts", "host:1", 6)
    journal.start_attempt("live/dead.ts", "host:2", 6)
    now[0] = 1005.0
    journal.renew_leases(["live/alive.ts", "live/dead.ts"], "host:1", 6)  # host:2 died; host:1 renews its own
    now[0] = 1007.0
    assert journal.expire_leases(recover_after=10) == ["live/dead.ts"]
    assert [r.key for r in journal.claim_due()] == ["live/dead.ts"]
    row = journal.get("live/alive.ts")
    assert row and row.state == State.UPLOADING and row.lease_owner == "host:1"


def test_published_files_redis_lost_are_published_again(tmp_path: Path) -> None:
    now = [1000.0]
    journal = Journal(tmp_path, clock=lambda: now[0])
    journal.record(job("live/a.ts"))
    journal.record(job("live/b.ts"))
    journal.claim_due()
    assert journal.expected_in_redis() == 2
    now[0] = 1200.0
    journal.record(job("live/c.ts"))
    journal.claim_due()
    assert journal.republish_stale(published_before=1100) == 2
    assert {r.key for r in journal.claim_due()} == {"live/a.ts", "live/b.ts"}


def test_publishing_sends_the_due_files_once_and_what_redis_did_not_take_waits_again(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    for name in ("a", "b", "c"):
        journal.record(job(f"live/{name}.ts"))
    sent: list[list[str]] = []

    def redis_takes_two(rows: list[FileRow]) -> list[str]:
        sent.append([r.key for r in rows])
        return [r.key for r in rows][:2]

    assert journal.publish_due(redis_takes_two) == 2
    assert journal.publish_due(redis_takes_two) == 1  # only the one Redis did not take is sent again
    assert sent == [["live/a.ts", "live/b.ts", "live/c.ts"], ["live/c.ts"]]
    assert journal.publish_due(redis_takes_two) == 0 and len(sent) == 2  # nothing due: nothing sent


def test_a_sender_that_raises_leaves_every_claimed_file_to_publish_again(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.record(job())

    def broken(rows: list[FileRow]) -> list[str]:
        raise ConnectionError("gone")

    with pytest.raises(ConnectionError):
        journal.publish_due(broken)
    assert journal.due_count() == 1


def test_an_old_journal_is_migrated_with_nothing_lost(tmp_path: Path) -> None:
    import sqlite3

    from journal.db import SCHEMA, SCHEMA_VERSION

    db = sqlite3.connect(tmp_path / "journal.sqlite3")
    old_schema = SCHEMA.split("CREATE TABLE IF NOT EXISTS encoder_segments")[0]
    db.executescript(old_schema)
    db.execute(
        """INSERT INTO files (key, path, size, md5, content_type, cache_control, kind, state, created_at,
               updated_at)
           VALUES ('live/old.ts', 'old.ts', 3, ?, 'video/mp2t', 'no-cache', 'segment', 'failed', 1, 1)""",
        (MD5_A,),
    )
    db.commit()
    db.close()
    journal = Journal(tmp_path)
    row = journal.get("live/old.ts")
    assert row and row.state == State.FAILED and row.failures == 0 and row.lease_until is None
    assert journal.connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def _record_many(spool: str, start: int) -> None:
    journal = Journal(Path(spool))
    for i in range(start, start + 50):
        journal.record(job(f"live/s{i}.ts"))


def test_several_processes_write_at_once_without_loss(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_record_many, args=(str(tmp_path), n * 50)) for n in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert Journal(tmp_path).totals().files["queued"] == 150


def test_segments_of_an_older_journal_gain_a_capture_time_and_size_column(tmp_path: Path) -> None:
    import sqlite3

    from journal.events import EventStore

    db = sqlite3.connect(tmp_path / "journal.sqlite3")
    db.executescript(
        """CREATE TABLE encoder_segments (event TEXT NOT NULL, rendition TEXT NOT NULL, msn INTEGER NOT NULL,
               seq INTEGER NOT NULL, key TEXT NOT NULL UNIQUE, name TEXT NOT NULL, path TEXT NOT NULL,
               duration REAL NOT NULL, discontinuity INTEGER NOT NULL, completed_at REAL NOT NULL, init_key TEXT,
               init_name TEXT, PRIMARY KEY (event, rendition, msn));
           PRAGMA user_version = 1;"""
    )
    db.execute(
        "INSERT INTO encoder_segments VALUES "
        "('ev', '360p', 0, 7, 'live/ev/360p/seg_7.ts', 'seg_7.ts', 'p', 2.0, 0, 9.0, NULL, NULL)"
    )
    db.commit()
    db.close()
    (old,) = EventStore(Journal(tmp_path)).load("ev", "360p")
    assert (old.seq, old.duration, old.program_time, old.size) == (7, 2.0, None, 0)
