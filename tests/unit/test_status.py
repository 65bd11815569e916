"""What `surecast status` prints about failures: one line per cause, each naming its key once."""

from __future__ import annotations

import time
from typing import Any

import pytest

from report.status import group_failures, refused_pushes_line, render_status


def test_failures_are_grouped_by_reason_with_one_example_each() -> None:
    reason = "no usable AWS credentials"
    failed = [{"key": f"live/ev/720p/seg_{i}.ts", "path": "p", "reason": reason} for i in range(18)]
    failed.append({"key": "live/ev/master.m3u8", "path": "p", "reason": "S3 said NoSuchBucket"})
    status = {
        "queue_depth": 0,
        "files": {"queued": 0, "uploading": 0, "verified": 0, "failed": 19},
        "waiting_files": 0,
        "waiting_bytes": 0,
        "oldest_unverified_age_seconds": None,
        "retries": 0,
        "integrity_reuploads": 0,
        "failed": failed,
        "failures": group_failures(failed),
        "encoder": None,
    }
    lines = render_status(status).splitlines()
    at = lines.index("FAILED (19), fix the cause then run `surecast retry-failed`:")
    assert lines[at + 1 :] == [
        "  18 files: no usable AWS credentials, e.g. live/ev/720p/seg_0.ts",
        "  1 file, live/ev/master.m3u8: S3 said NoSuchBucket",
    ]


@pytest.mark.parametrize(
    ("refused", "line"),
    [
        (None, None),
        ({"count": 0, "last_at": None, "senders": {}}, None),
        (
            {"count": 1, "last_at": time.mktime((2026, 12, 6, 10, 42, 0, 0, 0, -1)), "senders": {"192.168.1.50": 1}},
            "refused 1 push with a wrong stream key from 192.168.1.50 (last at 10:42); "
            "if that was your OBS, correct its Stream Key (Settings > Stream)",
        ),
        (
            {"count": 9, "last_at": None, "senders": {f"10.0.0.{i}": 1 for i in range(1, 6)}},
            "refused 9 pushes with a wrong stream key from 10.0.0.5, 10.0.0.4, 10.0.0.3 and 2 other addresses",
        ),
    ],
)
def test_refused_pushes_are_one_line_naming_the_senders_latest_first(
    refused: dict[str, Any] | None, line: str | None
) -> None:
    found = refused_pushes_line({"refused_pushes": refused})
    assert found == line if line is None else found is not None and found.startswith(line)
