"""On time, by itself: a dead worker costs seconds, and nothing waits for a command (real processes,
SeaweedFS behind the fault proxy; the recovery deadline is production's, uploader.constants.RECOVER_AFTER)."""

from __future__ import annotations

import re
import signal
import time

from journal.files import State
from tests.integration.test_delivery import send, wait_verified
from tests.support.procs import kill, wait_until
from tests.support.stack import Stack
from uploader.constants import RECOVER_AFTER


def _states(stack: Stack, keys: list[str]) -> dict[str, int]:
    journal = stack.journal()
    counts: dict[str, int] = {}
    for key in keys:
        row = journal.get(key)
        state = row.state.value if row else "missing"
        counts[state] = counts.get(state, 0) + 1
    return counts


def test_a_whole_worker_killed_mid_backlog_costs_seconds_not_the_visibility_timeout(stack: Stack) -> None:
    files = [stack.spool_file(f"b{i}.bin", 256 * 1024, seed=i) for i in range(40)]
    victim = stack.start_worker(concurrency=2)
    stack.start_worker(concurrency=2)
    stack.proxy.set_mode("throttle", bytes_per_sec=1_000_000)  # uploads take a while: some are in flight
    keys = send(stack, *files)
    stack.proxy.set_mode("refuse")
    time.sleep(8)
    stack.proxy.set_mode("flip", count=10**6, offset=500)
    time.sleep(3)
    stack.proxy.set_mode("throttle", bytes_per_sec=1_000_000)
    journal = stack.journal()
    owners = {f":{pid}" for pid in stack.child_pids(victim)}

    def held_by_victim() -> list[str]:
        rows = [journal.get(k) for k in keys]
        return [
            r.key
            for r in rows
            if r and r.state == State.UPLOADING and any((r.lease_owner or "").endswith(o) for o in owners)
        ]

    held = wait_until(held_by_victim, 20, interval=0.05, message="the victim never held an upload")
    kill(victim)  # its whole process group: main process, pool, reconciler; nothing acknowledges
    killed_at = time.monotonic()
    stack.start_worker(concurrency=2)
    stack.proxy.set_mode("pass")
    wait_verified(stack, keys, RECOVER_AFTER + 30)
    took = time.monotonic() - killed_at
    print(f"{len(held)} uploads in flight in the killed worker; all {len(keys)} files verified {took:.1f} s after it")
    assert took <= RECOVER_AFTER + 30
    logs = "".join(stack.worker_log(n) for n in range(3))
    assert "whose worker stopped: published again for a live worker" in logs
    for key in keys:
        assert stack.stored_etag(key) == journal.get(key).md5  # type: ignore[union-attr]


def test_request_headers_corrupted_for_five_seconds_leave_nothing_failed(stack: Stack) -> None:
    stack.start_worker(concurrency=2)
    files = [stack.spool_file(f"h{i}.bin", 100_000, seed=i) for i in range(8)]
    stack.proxy.set_mode("flip_head", count=10**6)
    keys = send(stack, *files)
    time.sleep(5)
    stack.proxy.set_mode("pass")
    healed = time.monotonic()
    wait_verified(stack, keys, 60)
    took = time.monotonic() - healed
    print(f"headers corrupted 5 s ({stack.proxy.faults_injected} faults): all 8 verified {took:.1f} s after")
    log = stack.worker_log()
    # A flipped byte breaks the signature (SignatureDoesNotMatch on a PUT; a bare 403 or 400 on a HEAD,
    # which has no body to name the error): each is retried as suspect, none is final.
    assert stack.proxy.faults_injected > 0 and re.search(r"SignatureDoesNotMatch|S3 said 40[03]", log), log[-3000:]
    assert _states(stack, keys) == {"verified": 8}


def test_a_captive_portal_answering_html_for_twenty_seconds_leaves_nothing_failed(stack: Stack) -> None:
    stack.env["SURECAST_UPLOAD_FAILED_RETRY_BASE"] = "5"  # the slow schedule, scaled to the test
    stack.start_worker(concurrency=2)
    files = [stack.spool_file(f"p{i}.bin", 100_000, seed=i) for i in range(6)]
    stack.proxy.set_mode("portal", status=404)
    keys = send(stack, *files)
    time.sleep(20)
    stack.proxy.set_mode("pass")
    healed = time.monotonic()
    wait_verified(stack, keys, 60)
    print(f"HTML 404 for 20 s: all 6 verified {time.monotonic() - healed:.1f} s after the portal went away")
    assert "S3 said 404" in stack.worker_log()


def test_missing_credentials_heal_when_the_workers_restart_with_them_no_command(stack: Stack) -> None:
    good = dict(stack.env)
    for name in (
        "SURECAST_S3_ACCESS_KEY_ID",
        "SURECAST_S3_SECRET_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ):
        stack.env.pop(name, None)
    stack.env.update({"HOME": str(stack.tmp), "AWS_EC2_METADATA_DISABLED": "true"})
    worker = stack.start_worker(concurrency=2)
    assert "S3 preflight: no S3 credentials found" in stack.worker_log()
    files = [stack.spool_file(f"c{i}.bin", 50_000, seed=i) for i in range(5)]
    keys = send(stack, *files)
    journal = stack.journal()
    wait_until(lambda: len(journal.failed()) == 5, 60, message="the files were not marked failed")
    status = stack.run_cli("status")
    assert "  5 files: no usable AWS credentials" in status.stdout, status.stdout
    worker.send_signal(signal.SIGTERM)
    worker.wait(30)
    stack.env.clear()
    stack.env.update(good)
    fixed = time.monotonic()
    stack.start_worker(concurrency=2)  # fixed: a worker that starts tries every failed file at once
    wait_verified(stack, keys, 30)
    print(f"credentials fixed: all 5 verified {time.monotonic() - fixed:.1f} s after the worker was started")
