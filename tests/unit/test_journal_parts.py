"""The parts of a big file as deliveries of their own: split, publish, lease, retry, complete."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from core.contract import UploadJob
from journal.files import Journal, State

MD5 = "a" * 32
UPLOAD = "upload-1"
KEY = "sent/big.bin"


def split_file(journal: Journal, parts: int = 3) -> list[tuple[int, int, int, str, str | None]]:
    journal.record(UploadJob(path="sent/big.bin", key=KEY, size=parts * 10, md5=MD5), priority=6)
    journal.claim_due()
    journal.start_attempt(KEY, "host:1", 6)
    journal.set_multipart(KEY, UPLOAD, 10)
    planned = [(n, (n - 1) * 10, 10, f"{n:032x}", None) for n in range(1, parts + 1)]
    assert journal.split_into_parts(KEY, UPLOAD, planned) == parts
    return planned


def test_a_split_file_gives_up_its_lease_and_its_parts_go_out_once_each(tmp_path: Path) -> None:
    journal = Journal(tmp_path, clock=lambda: 1000.0)
    split_file(journal)
    row = journal.get(KEY)
    assert row and row.state == State.UPLOADING and row.lease_owner is None
    claimed = journal.claim_due_parts()
    assert [(p.number, p.first_byte, p.priority) for p in claimed] == [(1, 0, 6), (2, 10, 6), (3, 20, 6)]
    assert claimed[1].job().part_md5 == f"{2:032x}" and claimed[1].job().upload_id == UPLOAD
    assert journal.claim_due_parts() == []
    # The file's own message is acknowledged: only the parts' are expected in Redis.
    assert journal.expected_in_redis() == 3


def test_what_redis_did_not_take_waits_and_is_published_later(tmp_path: Path) -> None:
    journal = Journal(tmp_path, clock=lambda: 1000.0)
    split_file(journal)
    assert journal.publish_due_parts(lambda rows: [rows[0].ident]) == 1
    assert [p.number for p in journal.claim_due_parts()] == [2, 3]


def test_a_split_file_is_not_taken_back_while_its_parts_are_out(tmp_path: Path) -> None:
    now = [1000.0]
    journal = Journal(tmp_path, clock=lambda: now[0])
    split_file(journal)
    now[0] = 2000.0
    assert journal.expire_leases(recover_after=10) == []


def test_a_part_whose_worker_died_is_published_again_and_verified_parts_stay(tmp_path: Path) -> None:
    now = [1000.0]
    journal = Journal(tmp_path, clock=lambda: now[0])
    split_file(journal)
    journal.claim_due_parts()
    assert journal.start_part((KEY, UPLOAD, 1), "host:2", 6)
    assert journal.start_part((KEY, UPLOAD, 2), "host:3", 6)
    journal.record_part(KEY, UPLOAD, 1, f"{1:032x}", 10)
    assert not journal.start_part((KEY, UPLOAD, 1), "host:4", 6), "a verified part is not sent again"
    now[0] = 1005.0
    journal.renew_part_leases([(KEY, UPLOAD, 2)], "host:3", 6)
    now[0] = 1012.0  # host:3 died after its last renewal
    assert journal.expire_part_leases() == 1
    assert [p.number for p in journal.claim_due_parts()] == [2]
    assert journal.parts(KEY, UPLOAD) == {1: f"{1:032x}"}


def test_a_part_retry_waits_its_backoff_and_counts_on_the_file(tmp_path: Path) -> None:
    now = [1000.0]
    journal = Journal(tmp_path, clock=lambda: now[0])
    split_file(journal)
    journal.claim_due_parts()
    journal.start_part((KEY, UPLOAD, 3), "host:2", 6)
    journal.retry_part((KEY, UPLOAD, 3), "part 3 landed with ETag x", 5.0, integrity=True)
    assert journal.claim_due_parts() == []
    now[0] = 1006.0
    assert [p.number for p in journal.claim_due_parts()] == [3]
    row = journal.get(KEY)
    assert row and row.retries == 1 and row.integrity_reuploads == 1 and journal.part_streak((KEY, UPLOAD, 3)) == 1


def test_the_last_part_verified_claims_the_completion_once(tmp_path: Path) -> None:
    journal = Journal(tmp_path, clock=lambda: 1000.0)
    split_file(journal, parts=2)
    journal.record_part(KEY, UPLOAD, 1, f"{1:032x}", 10)
    assert not journal.claim_completion(KEY, UPLOAD, "host:2", 6), "part 2 is still out"
    assert journal.parts_progress(KEY) == (10, 20)
    journal.record_part(KEY, UPLOAD, 2, f"{2:032x}", 10)
    assert journal.claim_completion(KEY, UPLOAD, "host:2", 6)
    assert not journal.claim_completion(KEY, UPLOAD, "host:3", 6), "one completer"
    assert journal.part_checksums(KEY, UPLOAD) == {1: (f"{1:032x}", None), 2: (f"{2:032x}", None)}
    journal.mark_verified(KEY, MD5)
    assert journal.parts_progress(KEY) == (0, 0)


def test_a_completer_that_died_leaves_the_file_to_be_published_again(tmp_path: Path) -> None:
    now = [1000.0]
    journal = Journal(tmp_path, clock=lambda: now[0])
    split_file(journal, parts=1)
    journal.record_part(KEY, UPLOAD, 1, f"{1:032x}", 10)
    assert journal.claim_completion(KEY, UPLOAD, "host:2", 6)
    now[0] = 1010.0
    assert journal.expire_leases(recover_after=10) == [KEY]
    assert [r.key for r in journal.claim_due()] == [KEY]


def test_parts_journaled_before_parts_were_tasks_read_as_verified(tmp_path: Path) -> None:
    from journal.db import SCHEMA

    db = sqlite3.connect(tmp_path / "journal.sqlite3")
    db.executescript(SCHEMA)
    db.execute("PRAGMA user_version = 2")
    db.execute("ALTER TABLE files ADD COLUMN lease_owner TEXT")
    db.execute("INSERT INTO parts (key, upload_id, part_number, etag, size) VALUES ('k', 'u', 1, 'e', 5)")
    db.commit()
    db.close()
    assert Journal(tmp_path).parts("k", "u") == {1: "e"}
