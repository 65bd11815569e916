"""The journal's figures the console reads: upload rate, the stream's rate, what waits and why; and the
re-queue of one failure reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.contract import UploadJob
from journal.events import EventStore, Segment
from journal.figures import latest_retry_reason, stream_bytes_per_second, verified_bytes_between, waiting_segments
from journal.files import Journal, State

MD5 = "0" * 32


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def record(journal: Journal, key: str, size: int, kind: str = "segment") -> None:
    assert journal.record(UploadJob(path=key, key=key, size=size, md5=MD5, kind=kind))


@pytest.mark.parametrize(
    ("t0", "t1", "expected"), [(0, 2000, 600), (1000, 1001, 100), (1001, 1003, 500), (1003, 1010, 0)]
)
def test_verified_bytes_are_counted_by_when_they_were_verified(
    tmp_path: Path, t0: float, t1: float, expected: int
) -> None:
    clock = Clock()
    journal = Journal(tmp_path, clock)
    for i, size in enumerate((100, 200, 300)):
        record(journal, f"k{i}", size)
        clock.t = 1000.0 + i
        journal.mark_verified(f"k{i}", MD5)
    record(journal, "waiting", 10_000)  # not verified: not counted
    assert verified_bytes_between(tmp_path, t0, t1) == expected


def test_no_journal_means_no_figures(tmp_path: Path) -> None:
    assert verified_bytes_between(tmp_path, 0, 1) == 0
    assert stream_bytes_per_second(tmp_path, "ev", 0) is None
    assert waiting_segments(tmp_path) == 0
    assert latest_retry_reason(tmp_path) is None


def test_the_stream_rate_adds_up_the_renditions_over_the_recent_segments(tmp_path: Path) -> None:
    clock = Clock()
    journal = Journal(tmp_path, clock)
    store = EventStore(journal)
    store.begin("ev", "main", "180p,360p", 25, "mpegts")
    for rendition, size in (("180p", 50_000), ("360p", 150_000)):
        for n in range(5):
            key = f"live/ev/{rendition}/seg_{n}.ts"
            record(journal, key, size if n else 10 * size)  # the first is old and big: outside the window
            store.add("ev", Segment(rendition, n, n, key, f"seg_{n}.ts", key, 2.0, False, 900.0 + n * 2 if n else 0.0))
    # per rendition: 4 segments of 2 s each -> 25 kB/s and 75 kB/s
    assert stream_bytes_per_second(tmp_path, "ev", since=800.0) == pytest.approx(100_000)
    assert stream_bytes_per_second(tmp_path, "other", since=800.0) is None


def test_what_waits_and_why_it_was_last_retried(tmp_path: Path) -> None:
    clock = Clock()
    journal = Journal(tmp_path, clock)
    record(journal, "s1", 1)
    record(journal, "s2", 1)
    record(journal, "p1", 1, kind="playlist")
    record(journal, "s3", 1)
    journal.mark_verified("s3", MD5)
    assert waiting_segments(tmp_path) == 2
    journal.schedule_retry("s1", "ConnectionLost: refused", delay=1)
    clock.t += 1
    journal.schedule_retry("s2", "EndpointConnectionError: could not connect", delay=1)
    assert latest_retry_reason(tmp_path) == "EndpointConnectionError: could not connect"


def test_retry_of_one_reason_requeues_only_its_files(tmp_path: Path) -> None:
    journal = Journal(tmp_path, Clock())
    for key, reason in (("a", "NoSuchBucket"), ("b", "NoSuchBucket"), ("c", "AccessDenied")):
        record(journal, key, 1)
        journal.mark_failed(key, reason)
    record(journal, "d", 1)
    journal.mark_failed("d", None)  # type: ignore[arg-type]  # a row from before reasons were kept
    assert journal.requeue_failed_with("NoSuchBucket") == 2
    assert {k: r.state for k in "abcd" if (r := journal.get(k))} == {
        "a": State.QUEUED, "b": State.QUEUED, "c": State.FAILED, "d": State.FAILED
    }  # fmt: skip
    assert journal.requeue_failed_with(None) == 1
    assert journal.requeue_failed_with("NoSuchBucket") == 0
    row = journal.get("a")
    assert row and row.published_at is None and row.next_attempt_at is None and row.failures == 1
