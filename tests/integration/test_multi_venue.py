"""Several venues on one Redis: each venue's files go only to workers that can read its spool."""

from __future__ import annotations

from journal.files import Journal, State
from tests.support.procs import wait_until
from tests.support.stack import Stack


def test_each_venue_queue_is_served_only_by_its_own_workers(stack: Stack) -> None:
    venue_b = stack.tmp / "spool-b"
    venue_b.mkdir()
    env_a = {"SURECAST_WORKER_QUEUE": "venue-a"}
    env_b = {"SURECAST_WORKER_QUEUE": "venue-b", "SURECAST_SPOOL_DIR": str(venue_b)}
    stack.start_worker(concurrency=1, extra_env=env_a)
    stack.start_worker(concurrency=1, extra_env=env_b)
    files = {"a": stack.spool_file("a.bin", 50_000, seed=1), "b": stack.spool_file("b.bin", 60_000, seed=2)}
    for venue, extra in (("a", env_a), ("b", env_b)):
        saved = dict(stack.env)
        stack.env.update(extra)
        try:
            result = stack.run_cli("send", "--key-prefix", f"venue-{venue}", str(files[venue]))
        finally:
            stack.env.clear()
            stack.env.update(saved)
        assert result.returncode == 0, result.stderr
    journals = {"a": Journal(stack.spool), "b": Journal(venue_b)}
    keys = {"a": "live/venue-a/a.bin", "b": "live/venue-b/b.bin"}
    for venue, journal in journals.items():
        wait_until(
            lambda j=journal, k=keys[venue]: (row := j.get(k)) is not None and row.state == State.VERIFIED,
            30,
            message=f"venue {venue} not delivered",
        )
    assert "live/venue-a/a.bin" in stack.worker_log(0) and "venue-b" not in stack.worker_log(0)
    assert "live/venue-b/b.bin" in stack.worker_log(1) and "venue-a" not in stack.worker_log(1)
