"""The journal: states, versions (latest wins), counters, deadlines, and sharing between processes."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from core.contract import UploadJob
from journal.files import Journal, State

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


def test_failed_files_keep_their_reason_and_can_be_requeued(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.record(job())
    journal.mark_failed("live/a.ts", "AccessDenied")
    assert [(r.key, r.last_error) for r in journal.failed()] == [("live/a.ts", "AccessDenied")]
    assert [r.key for r in journal.requeue_failed()] == ["live/a.ts"]
    row = journal.get("live/a.ts")
    assert row and row.state == State.QUEUED and not journal.failed()


def test_retries_and_integrity_reuploads_are_counted(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.record(job())
    journal.note_retry("live/a.ts", "reset")
    journal.note_retry("live/a.ts", "etag differs", integrity=True)
    totals = journal.totals()
    assert (totals.retries, totals.integrity_reuploads) == (2, 1)
    assert totals.waiting_files == 1 and totals.waiting_bytes == 10


def test_overdue_uses_a_longer_deadline_for_started_uploads(tmp_path: Path) -> None:
    now = [1000.0]
    journal = Journal(tmp_path, clock=lambda: now[0])
    journal.record(job("live/q.ts"))
    journal.record(job("live/u.ts"))
    journal.start_attempt("live/u.ts")
    journal.record(job("live/v.ts"))
    journal.mark_verified("live/v.ts", MD5_A)
    now[0] = 1100.0
    assert [r.key for r in journal.overdue(queued_before=1050, uploading_before=900)] == ["live/q.ts"]
    assert [r.key for r in journal.overdue(queued_before=1050, uploading_before=1050)] == ["live/q.ts", "live/u.ts"]
    journal.touch(["live/q.ts"])
    assert journal.overdue(queued_before=1050, uploading_before=900) == []


def test_unpublished_lists_what_never_reached_redis(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.record(job("live/a.ts"))
    journal.record(job("live/b.ts"))
    journal.touch(["live/a.ts"])
    assert [r.key for r in journal.unpublished()] == ["live/b.ts"]


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
