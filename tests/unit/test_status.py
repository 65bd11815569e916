"""What `surecast status` prints about failures: one line per cause, each naming its key once."""

from __future__ import annotations

from report.status import group_failures, render_status


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
