"""Operator commands: scale, status --watch. Pure planning and rendering, then real workers."""

from __future__ import annotations

import pytest
from celery import Celery

from core.celeryconfig import celery_config
from report.watch import bar, render_watch
from report.workers import pool_sizes
from stack.scale import plan_pool_sizes
from tests.support.procs import wait_until
from tests.support.stack import Stack


@pytest.mark.parametrize(
    ("current", "total", "expected"),
    [
        ({"a": 1}, 3, {"a": 3}),
        ({"b": 4, "a": 1}, 5, {"a": 3, "b": 2}),
        ({"a": 2, "b": 2, "c": 2}, 3, {"a": 1, "b": 1, "c": 1}),
    ],
)
def test_pool_sizes_are_spread_evenly(current: dict[str, int], total: int, expected: dict[str, int]) -> None:
    assert plan_pool_sizes(current, total) == expected


@pytest.mark.parametrize(
    ("current", "total", "message"), [({}, 2, "no upload workers"), ({"a": 1, "b": 1}, 1, "fewer")]
)
def test_impossible_scales_say_why(current: dict[str, int], total: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan_pool_sizes(current, total)


@pytest.mark.parametrize(("fraction", "text"), [(0, "[....]"), (0.5, "[##..]"), (1, "[####]"), (7, "[####]")])
def test_bar(fraction: float, text: str) -> None:
    assert bar(fraction, 4) == text


def test_watch_screen_shows_drain_lag_and_workers() -> None:
    status = {
        "queue_depth": 3,
        "files": {"queued": 3, "uploading": 1, "verified": 6, "failed": 0},
        "waiting_files": 4,
        "waiting_bytes": 4000,
        "oldest_unverified_age_seconds": 12.0,
        "retries": 2,
        "integrity_reuploads": 0,
        "failed": [],
    }
    screen = render_watch(status, {"720p": 6.0, "480p": 2.0}, {"w1@h": 2, "w2@h": 2}, peak_waiting=8)
    assert "4 of 8 file(s) still to verify" in screen
    assert "720p" in screen and "6.0 s behind" in screen
    assert "workers online: 2 (4 upload processes)" in screen
    assert "waiting: 4 file(s), 4000 bytes" in screen


def test_scale_grows_and_shrinks_running_worker_pools(stack: Stack) -> None:
    stack.start_worker(concurrency=1)
    stack.start_worker(concurrency=1)
    app = Celery("test-scale", set_as_current=False)
    app.conf.update(celery_config(stack.settings(), publish_forever=False))
    try:
        wait_until(lambda: len(pool_sizes(app, 1.0)) == 2, 30, message="workers not answering")
        result = stack.run_cli("scale", "5", "--mode", "celery")
        assert result.returncode == 0, result.stderr
        wait_until(lambda: sum(pool_sizes(app, 1.0).values()) == 5, 30, message="pools did not grow to 5")
        assert sorted(pool_sizes(app, 1.0).values()) == [2, 3]
        assert stack.run_cli("scale", "2", "--mode", "celery").returncode == 0
        wait_until(lambda: sum(pool_sizes(app, 1.0).values()) == 2, 30, message="pools did not shrink to 2")
        too_few = stack.run_cli("scale", "1", "--mode", "celery")
        assert too_few.returncode != 0 and "fewer than the 2 running workers" in too_few.stderr
        watch = stack.run_cli("status", "--watch", "--count", "1", "--interval", "0.1")
        assert "workers online: 2 (2 upload processes)" in watch.stdout
    finally:
        app.close()


def test_status_shows_low_disk_loudly_first() -> None:
    from report.status import render_status

    status = {
        "queue_depth": 0,
        "files": {"queued": 0, "uploading": 0, "verified": 9, "failed": 0},
        "waiting_files": 0,
        "waiting_bytes": 0,
        "oldest_unverified_age_seconds": None,
        "retries": 0,
        "integrity_reuploads": 0,
        "failed": [],
        "encoder": {"event_id": "ev", "state": "running", "low_disk": True, "disk_free_bytes": 300 * 2**20},
    }
    text = render_status(status)
    assert text.startswith("!!! DISK LOW on the spool: 300 MiB free")
    assert "encoder: event ev running" in text
