"""Guaranteed delivery against real components: redis-server, moto S3 behind a fault proxy, celery workers."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import psutil
from celery import Celery

from core.celeryconfig import celery_config
from core.contract import PRIORITY_BACKFILL, PRIORITY_LIVE, UPLOAD_TASK
from journal.files import Journal, State
from tests.support.procs import kill, wait_until, worker_child_role
from tests.support.stack import Stack, delivered_keys
from uploader.checksums import multipart_etag
from uploader.parts import MIB, SPLIT_ABOVE_PARTS, plan_parts


def file_md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def expected_etag(path: Path, multipart_part_size: int | None) -> str:
    data = path.read_bytes()
    if multipart_part_size is None:
        return hashlib.md5(data).hexdigest()
    parts = plan_parts(len(data), multipart_part_size)
    return multipart_etag([hashlib.md5(data[p.offset : p.offset + p.size]).digest() for p in parts])


def send(stack: Stack, *paths: Path) -> list[str]:
    """`surecast send` the files; return their object keys."""
    result = stack.run_cli("send", *map(str, paths))
    assert result.returncode == 0, result.stderr
    return [line.split(" -> s3://")[1].split(":")[0].split("/", 1)[1] for line in result.stdout.splitlines()]


def wait_verified(stack: Stack, keys: list[str], timeout: float) -> None:
    journal = stack.journal()

    def all_verified() -> bool:
        rows = [journal.get(k) for k in keys]
        return all(r is not None and r.state == State.VERIFIED for r in rows)

    wait_until(all_verified, timeout, interval=0.2, message=f"{len(keys)} file(s) not all verified")


def test_single_and_multipart_uploads_land_with_matching_etags(stack: Stack) -> None:
    stack.start_worker()
    small = stack.spool_file("small.bin", 2 * MIB)
    large = stack.spool_file("large.bin", 12 * MIB + 123)
    keys = send(stack, small, large)
    wait_verified(stack, keys, 60)
    assert stack.stored_etag(keys[0]) == expected_etag(small, None)
    assert stack.stored_etag(keys[1]) == expected_etag(large, 5 * MIB)
    assert stack.stored_etag(keys[1]).endswith("-3")  # type: ignore[union-attr]
    got = stack.s3.get_object(Bucket=stack.bucket, Key=keys[1])
    assert hashlib.md5(got["Body"].read()).hexdigest() == file_md5(large)
    assert got["Metadata"] == {"md5": file_md5(large)}  # for decoding clients to verify against


def test_link_cut_for_20_s_with_50_files_queued_loses_nothing(stack: Stack) -> None:
    stack.start_worker(concurrency=4)
    stack.proxy.set_mode("refuse")
    files = [stack.spool_file(f"f{i:02}.bin", 64 * 1024, seed=i) for i in range(50)]
    keys = send(stack, *files)
    cut_started = time.monotonic()
    time.sleep(20)
    journal = stack.journal()
    assert journal.totals().files["verified"] == 0, "nothing can land while the link is cut"
    stack.proxy.set_mode("pass")
    wait_verified(stack, keys, 120)
    assert time.monotonic() - cut_started >= 20
    totals = journal.totals()
    assert totals.files == {"queued": 0, "uploading": 0, "verified": 50, "failed": 0}
    assert totals.retries > 0
    for path, key in zip(files, keys, strict=True):
        assert stack.stored_etag(key) == file_md5(path)


def test_a_corrupted_body_is_refused_by_the_server_and_resent(stack: Stack) -> None:
    stack.start_worker()
    stack.proxy.set_mode("flip", count=1, offset=1000)
    path = stack.spool_file("clip.bin", 1 * MIB)
    (key,) = send(stack, path)
    wait_verified(stack, [key], 60)
    assert stack.proxy.faults_injected == 1
    row = stack.journal().get(key)
    assert row is not None and row.integrity_reuploads == 1 and row.attempts == 2
    assert stack.stored_etag(key) == file_md5(path)
    assert "BadDigest" in stack.worker_log() and "integrity test failed, re-uploading" in stack.worker_log()


def test_a_corrupted_body_that_was_stored_is_caught_by_the_integrity_test_and_resent(moto_stack: Stack) -> None:
    """moto, because it stores a body whose Content-MD5 is wrong: only our own ETag comparison catches it."""
    stack = moto_stack
    stack.start_worker()
    stack.proxy.set_mode("flip", count=1, offset=1000)
    path = stack.spool_file("clip.bin", 1 * MIB)
    (key,) = send(stack, path)
    wait_verified(stack, [key], 60)
    assert stack.proxy.faults_injected == 1
    row = stack.journal().get(key)
    assert row is not None and row.integrity_reuploads == 1 and row.attempts == 2
    assert stack.stored_etag(key) == file_md5(path)
    log = stack.worker_log()
    assert "S3 returned ETag" in log and "integrity test failed, re-uploading" in log


def stored_parts(journal: Journal, key: str) -> dict[int, str]:
    """The parts of ``key``'s current multipart upload journaled as stored (number -> ETag)."""
    row = journal.get(key)
    return journal.parts(key, row.upload_id) if row and row.upload_id else {}


def kill_a_child_mid_multipart(stack: Stack, size: int) -> tuple[Path, str, Journal]:
    """A file of ``size`` bytes sent through a throttled link by a worker of one process, SIGKILLed once three
    of its parts are stored: (its path, its key, the journal)."""
    worker = stack.start_worker(concurrency=1)
    path = stack.spool_file("recording.bin", size)
    stack.proxy.set_mode("throttle", bytes_per_sec=6 * MIB)
    (key,) = send(stack, path)
    journal = stack.journal()
    wait_until(lambda: len(stored_parts(journal, key)) >= 3, 60, message="multipart upload did not progress")
    (child,) = stack.child_pids(worker)
    os.kill(child, signal.SIGKILL)
    return path, key, journal


def test_sigkill_of_a_worker_child_mid_multipart_of_few_parts_resumes_without_resending_everything(
    stack: Stack,
) -> None:
    """A file of at most SPLIT_ABOVE_PARTS parts goes from one task: the task is redone (attempt 2) and resumes
    the upload, sending only the parts not stored."""
    size = 40 * MIB
    path, key, journal = kill_a_child_mid_multipart(stack, size)
    stored_before = len(stored_parts(journal, key))
    stack.proxy.reset_counters()
    stack.proxy.set_mode("pass")
    wait_verified(stack, [key], 90)
    assert stack.stored_etag(key) == expected_etag(path, 5 * MIB)
    assert stack.proxy.bytes_up < size, f"re-sent {stack.proxy.bytes_up} bytes of {size} over the wire"
    (sent,) = re.findall(r"delivered live/sent/recording.bin bytes=\d+ sent=(\d+) attempt=2", stack.worker_log())
    assert int(sent) <= size - stored_before * 5 * MIB
    assert journal.get(key).attempts == 2  # type: ignore[union-attr]


def test_sigkill_of_a_worker_child_mid_split_file_resumes_without_resending_everything(stack: Stack) -> None:
    """A file of more than SPLIT_ABOVE_PARTS parts, each part a task of its own: the part the killed process
    was sending is redone (Celery hands its message back; failing that, its lease runs out), the parts verified
    before are not sent again, and the file itself is never started anew."""
    size = (SPLIT_ABOVE_PARTS + 1) * 5 * MIB
    path, key, journal = kill_a_child_mid_multipart(stack, size)
    verified_before = set(stored_parts(journal, key))
    assert verified_before
    stack.proxy.reset_counters()
    stack.proxy.set_mode("pass")
    wait_verified(stack, [key], 90)
    assert stack.stored_etag(key) == expected_etag(path, 5 * MIB)
    sent_again = {int(n) for m, t in stack.proxy.requests if m == "PUT" for n in re.findall(r"partNumber=(\d+)", t)}
    assert sent_again and not sent_again & verified_before, (sorted(sent_again), sorted(verified_before))
    # What went up after the kill: the parts not verified, plus what the proxy still held of the killed one.
    left = size - len(verified_before) * 5 * MIB
    assert stack.proxy.bytes_up < left + 5 * MIB, f"sent {stack.proxy.bytes_up} bytes, {left} were left"
    assert re.search(
        rf"delivered live/sent/recording.bin bytes=\d+ parts={SPLIT_ABOVE_PARTS + 1} attempt=1", stack.worker_log()
    )
    assert journal.get(key).attempts == 1  # type: ignore[union-attr]


def test_sigkill_of_a_whole_worker_hands_its_tasks_to_another(stack: Stack) -> None:
    short = {"SURECAST_UPLOAD_SOFT_TIME_LIMIT": "6", "SURECAST_UPLOAD_TIME_LIMIT": "8"}
    stack.env.update(short)  # one visibility timeout (about 16 s) for every process
    first = stack.start_worker(concurrency=1)
    stack.proxy.set_mode("throttle", bytes_per_sec=256 * 1024)
    files = [stack.spool_file(f"s{i}.bin", 2 * MIB, seed=i) for i in range(3)]
    keys = send(stack, *files)
    journal = stack.journal()
    wait_until(
        lambda: any(journal.get(k).state == State.UPLOADING for k in keys),  # type: ignore[union-attr]
        30,
        message="first worker did not start uploading",
    )
    kill(first)  # SIGKILL to the whole process group: main process and pool child
    stack.proxy.set_mode("pass")
    stack.start_worker(concurrency=2, plain_celery=True)
    wait_verified(stack, keys, 90)
    assert sorted(delivered_keys(stack.worker_log(1))) == sorted(keys)
    for path, key in zip(files, keys, strict=True):
        assert stack.stored_etag(key) == file_md5(path)


def test_redis_restart_with_aof_keeps_queued_tasks(stack: Stack) -> None:
    files = [stack.spool_file(f"r{i}.bin", 100 * 1024, seed=i) for i in range(10)]
    keys = send(stack, *files)
    stack.redis.restart()
    stack.start_worker()
    wait_verified(stack, keys, 60)
    assert len(delivered_keys(stack.worker_log())) == 10


def test_flushed_redis_is_refilled_by_the_reconciler(stack: Stack) -> None:
    files = [stack.spool_file(f"x{i}.bin", 100 * 1024, seed=i) for i in range(10)]
    keys = send(stack, *files)
    stack.redis.flushall()
    stack.start_worker()
    wait_verified(stack, keys, 60)
    assert "Redis no longer holds" in stack.worker_log()
    assert stack.journal().totals().files["verified"] == 10


def test_the_reconciler_is_a_child_process_of_the_worker_and_ends_with_it(stack: Stack) -> None:
    """Started as a function in a spawned process (not the surecast command), stopped when the worker stops,
    and gone by itself when the worker is killed (no step can stop it then)."""

    def reconciler_of(worker: subprocess.Popen[bytes]) -> psutil.Process | None:
        children = psutil.Process(worker.pid).children()
        found = [c for c in children if worker_child_role(c.cmdline()) == "reconciler"]
        return found[0] if found else None

    for plain_celery in (False, True):
        worker = stack.start_worker(plain_celery=plain_celery)
        child = wait_until(lambda w=worker: reconciler_of(w), 30, message="no reconciler beside the worker")
        assert not any("surecast" in part for part in child.cmdline()), child.cmdline()
        os.kill(worker.pid, signal.SIGTERM)  # the worker alone (not its group): its step stops the reconciler
        assert worker.wait(30) == 0
        assert not psutil.wait_procs([child], timeout=10)[1], "the reconciler outlived its worker"
    worker = stack.start_worker()
    child = wait_until(lambda: reconciler_of(worker), 30, message="no reconciler beside the worker")
    os.kill(worker.pid, signal.SIGKILL)  # the main process only: nothing stops the reconciler but itself
    assert not psutil.wait_procs([child], timeout=10)[1], "the reconciler outlived its killed worker"


def test_missing_bucket_fails_clearly_without_a_retry_storm_and_requeue_works(stack: Stack) -> None:
    stack.env["SURECAST_S3_BUCKET"] = "no-such-bucket-here"
    stack.start_worker()
    path = stack.spool_file("sermon.bin", 300 * 1024)
    (key,) = send(stack, path)
    journal = stack.journal()
    wait_until(lambda: journal.failed(), 30, message="file not marked failed")
    time.sleep(3)  # a storm would show as more attempts by now
    row = journal.get(key)
    assert row is not None and row.state == State.FAILED and row.attempts == 1
    assert "NoSuchBucket" in (row.last_error or "")
    assert (stack.spool / row.path).is_file()
    status = stack.run_cli("status")
    assert "FAILED (1)" in status.stdout and "NoSuchBucket" in status.stdout
    figures = json.loads(stack.run_cli("status", "--json").stdout)
    assert figures["files"]["failed"] == 1 and figures["queue_depth"] == 0
    assert figures["failed"][0]["key"] == key and "NoSuchBucket" in figures["failed"][0]["reason"]
    stack.s3.create_bucket(Bucket="no-such-bucket-here")
    try:
        result = stack.run_cli("retry-failed")
        assert "re-queued 1 failed file(s), published 1" in result.stdout
        wait_verified(stack, [key], 30)
        etag = stack.s3.head_object(Bucket="no-such-bucket-here", Key=key)["ETag"].strip('"')
        assert etag == file_md5(path)
    finally:
        stack.s3.delete_object(Bucket="no-such-bucket-here", Key=key)
        stack.s3.delete_bucket(Bucket="no-such-bucket-here")


def test_access_denied_fails_clearly_and_requeue_works_once_fixed(stack: Stack) -> None:
    stack.start_worker()
    stack.proxy.set_mode("http_error", status=403, code="AccessDenied")
    path = stack.spool_file("denied.bin", 100 * 1024)
    (key,) = send(stack, path)
    journal = stack.journal()
    wait_until(lambda: journal.failed(), 30, message="file not marked failed")
    time.sleep(2)
    row = journal.get(key)
    assert row is not None and row.attempts == 1 and "AccessDenied" in (row.last_error or "")
    stack.proxy.set_mode("pass")
    assert stack.run_cli("retry-failed").returncode == 0
    wait_verified(stack, [key], 30)
    assert stack.stored_etag(key) == file_md5(path)


def _publish_raw(stack: Stack, payload: dict[str, object]) -> None:
    app = Celery("test-publisher", set_as_current=False)
    app.conf.update(celery_config(stack.settings(), publish_forever=False))
    app.send_task(UPLOAD_TASK, kwargs=payload, queue="surecast")
    app.close()


def test_a_payload_naming_a_path_outside_the_spool_is_refused_and_nothing_is_read(stack: Stack) -> None:
    secret = stack.tmp / "secret.txt"
    secret.write_bytes(b"do not upload")
    (stack.spool / "escape.txt").symlink_to(secret)
    md5 = hashlib.md5(b"do not upload").hexdigest()
    stack.start_worker()
    stack.proxy.reset_counters()  # after the worker's preflight probe
    for path in ("../secret.txt", str(secret), "escape.txt"):
        _publish_raw(stack, {"path": path, "key": "live/stolen.txt", "size": 13, "md5": md5})
    wait_until(lambda: stack.worker_log().count("Task surecast.upload") >= 6, 30, message="tasks not handled")
    log = stack.worker_log()
    assert "must not contain '..'" in log
    assert "must be relative to the spool directory" in log
    assert "resolves outside the spool directory" in log
    assert stack.stored_etag("live/stolen.txt") is None
    # nothing of it went out (the reconciler's own periodic requests may)
    assert not [r for r in stack.proxy.requests if "stolen" in r[1]], stack.proxy.requests
    assert stack.journal().get("live/stolen.txt") is None


def test_retries_wait_in_the_journal_at_its_priority_never_as_countdowns_in_a_worker(stack: Stack) -> None:
    stack.proxy.set_mode("refuse")
    path = stack.spool_file("late.ts", 10_000)
    (key,) = send(stack, path)  # `send` queues at backfill priority...
    journal = stack.journal()
    with sqlite3.connect(journal.path) as db:  # ...the encoder would raise or lower it like this
        db.execute("UPDATE files SET priority = ? WHERE key = ?", (PRIORITY_LIVE, key))
    client = stack.redis.client()

    def queued() -> list[dict[str, Any]]:
        """The messages waiting in Redis: the queue is a list per priority step."""
        lists = [name for name in client.scan_iter() if client.type(name) == b"list"]
        return [m for name in lists for raw in client.lrange(name, 0, -1) if "properties" in (m := json.loads(raw))]

    (first,) = queued()
    assert first["properties"].get("priority") == PRIORITY_BACKFILL  # `send`'s
    stack.env.update({"SURECAST_UPLOAD_BACKOFF_BASE": "8", "SURECAST_UPLOAD_BACKOFF_CAP": "8"})  # due in 4-8 s
    worker = stack.start_worker(concurrency=1)
    wait_until(lambda: (row := journal.get(key)) is not None and row.retries >= 1, 30, message="no retry")
    worker.send_signal(signal.SIGTERM)  # with no worker running, the retry can only wait in the journal...
    worker.wait(30)
    row = journal.get(key)
    assert row is not None and row.state == State.QUEUED and row.next_attempt_at
    assert not queued() and not client.hlen("unacked"), "a retry was held in Redis (a countdown message?)"
    time.sleep(max(0.0, row.next_attempt_at - time.time()))
    assert stack.run_cli("reconcile").returncode == 0  # ...until a reconciler publishes it, once due
    (retry,) = queued()
    assert retry["properties"].get("priority") == PRIORITY_LIVE  # the journal's, now
    assert not retry["headers"].get("eta"), "a retry was sent as a countdown message"
    stack.proxy.set_mode("pass")
    stack.start_worker(concurrency=1)
    wait_verified(stack, [key], 30)
