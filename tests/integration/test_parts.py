"""A big file's parts as tasks of their own, against real components: redis-server, SeaweedFS (or moto)
behind the fault proxy, real `surecast worker` processes."""

from __future__ import annotations

import re

import pytest

from journal.files import State
from tests.integration.test_delivery import expected_etag, send, wait_verified
from tests.support.procs import kill, wait_until
from tests.support.stack import Stack
from uploader.parts import MIB, SPLIT_ABOVE_PARTS

PART = 5 * MIB  # the stack's SURECAST_S3_PART_SIZE
# A file is split into part tasks only above SPLIT_ABOVE_PARTS parts: these files are one to four parts more.
SPLIT_PARTS = SPLIT_ABOVE_PARTS + 1
PART_TASK_DONE = re.compile(r"Task surecast\.upload_part\[[^]]+\] succeeded in [\d.]+s: '(part-sent|uploaded)'")


def part_numbers_sent(stack: Stack) -> list[int]:
    """The UploadPart requests the proxy saw since its last reset, by part number, in order."""
    return [int(n) for m, t in stack.proxy.requests if m == "PUT" for n in re.findall(r"partNumber=(\d+)", t)]


def test_the_parts_of_one_big_file_are_spread_over_two_workers(stack: Stack) -> None:
    stack.proxy.set_mode("throttle", bytes_per_sec=8 * MIB)
    stack.start_worker(concurrency=1)
    stack.start_worker(concurrency=1)
    size = SPLIT_PARTS * PART
    path = stack.spool_file("two-workers.bin", size)
    result = stack.run_cli("send", "--wait", str(path), timeout=90)
    assert result.returncode == 0, result.stderr
    key = result.stdout.split(" -> s3://")[1].split(":")[0].split("/", 1)[1]
    wait_verified(stack, [key], 5)
    # Progress counts verified parts only: it moves in part-sized steps and ends at the whole file.
    progress = [line for line in result.stderr.splitlines() if "MiB verified" in line]
    steps = {line.split(" of ")[0] for line in progress}
    total = f"{size / MIB:.1f} of {size / MIB:.1f} MiB verified"
    assert len(steps) >= 3 and progress[-1].startswith(total) and "done" in progress[-1]
    assert any("s left" in line for line in progress), progress
    assert stack.stored_etag(key) == expected_etag(path, PART)
    per_worker = [len(PART_TASK_DONE.findall(stack.worker_log(n))) for n in (0, 1)]
    assert sum(per_worker) == SPLIT_PARTS and min(per_worker) >= 1, per_worker
    assert sorted(part_numbers_sent(stack)) == list(range(1, SPLIT_PARTS + 1)), "each part sent once"
    row = stack.journal().get(key)
    assert row and row.attempts == 1 and row.retries == 0


def test_a_whole_worker_killed_mid_file_its_parts_go_to_the_other_and_none_verified_is_resent(stack: Stack) -> None:
    stack.proxy.set_mode("throttle", bytes_per_sec=4 * MIB)
    first = stack.start_worker(concurrency=2)
    second = stack.start_worker(concurrency=1)
    size = (SPLIT_PARTS + 3) * PART
    path = stack.spool_file("killed.bin", size)
    (key,) = send(stack, path)
    journal = stack.journal()

    def parts_verified() -> set[int]:
        row = journal.get(key)
        return set(journal.parts(key, row.upload_id)) if row and row.upload_id else set()

    wait_until(lambda: len(parts_verified()) >= 2, 60, message="no part verified")
    kill(first)  # SIGKILL to its process group: main process, pool children, reconciler
    verified_before = parts_verified()
    stack.proxy.reset_counters()
    stack.proxy.set_mode("pass")
    wait_verified(stack, [key], 90)
    assert stack.stored_etag(key) == expected_etag(path, PART)
    sent_again = set(part_numbers_sent(stack))
    assert not sent_again & verified_before, (sorted(sent_again), sorted(verified_before))
    assert sent_again, "the parts the killed worker held went out again"
    assert "part(s) whose worker stopped" in stack.worker_log(1)
    row = journal.get(key)
    assert row and row.state == State.VERIFIED and row.attempts == 1
    assert second.poll() is None


@pytest.mark.parametrize("server", ["seaweedfs", "moto"])
def test_a_corrupted_part_is_caught_and_only_that_part_is_sent_again(
    server: str, request: pytest.FixtureRequest
) -> None:
    """SeaweedFS refuses the part (its Content-MD5, BadDigest); moto stores it and our comparison of the
    part's returned ETag catches it. Either way the one part goes again and the whole passes its test."""
    stack: Stack = request.getfixturevalue("stack" if server == "seaweedfs" else "moto_stack")
    stack.start_worker(concurrency=2)
    stack.proxy.set_mode("flip", count=1, offset=1000)
    size = SPLIT_PARTS * PART - 1 * MIB  # the last part 4 MiB
    path = stack.spool_file("corrupted.bin", size)
    (key,) = send(stack, path)
    wait_verified(stack, [key], 60)
    assert stack.proxy.faults_injected == 1
    assert stack.stored_etag(key) == expected_etag(path, PART)
    sent = part_numbers_sent(stack)
    assert len(sent) == SPLIT_PARTS + 1, f"every part once and the corrupted one twice: {sent}"
    row = stack.journal().get(key)
    assert row and row.integrity_reuploads == 1 and row.attempts == 1
    assert "integrity test of a part failed, re-uploading it" in stack.worker_log()
