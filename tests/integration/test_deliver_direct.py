"""``deliver()`` called in-process against the real S3 server (through the fault proxy), no Celery."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.contract import FileKind, PartJob, UploadJob
from core.publisher import Publisher
from core.settings import WorkerSection
from journal.files import Journal, State
from stack.reconciler import Reconciler, abort_abandoned_uploads
from tests.support.stack import Stack
from uploader.deliver import Delivery, Outcome, deliver, deliver_part
from uploader.errors import LocalFileError, UnsafePath, UploadVanished
from uploader.parts import MIB, SPLIT_ABOVE_PARTS
from uploader.queues import messages_held
from uploader.s3client import make_s3_client
from uploader.transfer import Target


def delivery(stack: Stack, sha256: bool = False) -> Delivery:
    settings = stack.settings()
    return Delivery(
        client=make_s3_client(settings.s3),
        journal=stack.journal(),
        spool_dir=stack.spool,
        target=Target(stack.bucket, sha256),
        multipart_threshold=8 * MIB,
        part_size=5 * MIB,
    )


def spooled(stack: Stack, name: str, size: int) -> UploadJob:
    data = hashlib.sha256(name.encode()).digest() * (size // 32) + b"x" * (size % 32)
    (stack.spool / name).write_bytes(data)
    return UploadJob(path=name, key=f"live/{name}", size=size, md5=hashlib.md5(data).hexdigest(), kind=FileKind.SEGMENT)


@pytest.mark.parametrize("size", [1000, 11 * MIB])
def test_running_a_task_twice_is_harmless_and_sends_nothing_again(stack: Stack, size: int) -> None:
    ctx = delivery(stack)
    job = spooled(stack, f"twice{size}.ts", size)
    ctx.journal.record(job)
    assert deliver(job, ctx) == Outcome.UPLOADED
    assert deliver(job, ctx) == Outcome.ALREADY_VERIFIED
    # Same bytes back to queued, as after an acknowledgement lost with a worker: found stored, not re-sent.
    again = job.model_copy(update={"version": 1})
    ctx.journal.record(again)
    stack.proxy.reset_counters()
    assert deliver(again, ctx) == Outcome.ALREADY_STORED
    assert stack.proxy.bytes_up < 2000, "only a HEAD request may go out"


@pytest.mark.parametrize("size", [1000, 11 * MIB])
def test_sha256_checksums_are_stored_and_verified(stack: Stack, size: int) -> None:
    ctx = delivery(stack, sha256=True)
    job = spooled(stack, f"sha{size}.ts", size)
    ctx.journal.record(job)
    assert deliver(job, ctx) == Outcome.UPLOADED
    head = stack.s3.head_object(Bucket=stack.bucket, Key=job.key, ChecksumMode="ENABLED")
    stored = head.get("ChecksumSHA256")
    assert stored
    if size < ctx.multipart_threshold:
        data = (stack.spool / job.path).read_bytes()
        assert stored == base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_a_stale_playlist_task_never_overwrites_a_newer_one(stack: Stack) -> None:
    ctx = delivery(stack)
    old = spooled(stack, "p1.m3u8", 100).model_copy(update={"key": "live/p.m3u8", "version": 1})
    new = spooled(stack, "p2.m3u8", 120).model_copy(update={"key": "live/p.m3u8", "version": 2})
    ctx.journal.record(old)
    ctx.journal.record(new)
    assert deliver(new, ctx) == Outcome.UPLOADED
    assert deliver(old, ctx) == Outcome.STALE
    assert stack.s3.head_object(Bucket=stack.bucket, Key="live/p.m3u8")["ContentLength"] == 120


def test_a_file_changed_after_journaling_fails_permanently_and_stays(stack: Stack) -> None:
    ctx = delivery(stack)
    job = spooled(stack, "changed.ts", 5000)
    ctx.journal.record(job)
    (stack.spool / "changed.ts").write_bytes(b"y" * 5000)
    with pytest.raises(LocalFileError, match="changed since it was journaled"):
        deliver(job, ctx)
    row = ctx.journal.get(job.key)
    assert row is not None and row.state == State.FAILED and (stack.spool / "changed.ts").exists()


def test_symlinks_out_of_the_spool_are_refused_before_reading(stack: Stack, tmp_path: Path) -> None:
    ctx = delivery(stack)
    (stack.spool / "sub").mkdir()
    (stack.spool / "sub" / "up").symlink_to(tmp_path)
    job = UploadJob(path="sub/up/secret", key="live/secret", size=1, md5="0" * 32)
    with pytest.raises(UnsafePath, match="outside the spool"):
        deliver(job, ctx)
    assert ctx.journal.get("live/secret") is None


def test_abandoned_multipart_uploads_are_aborted_but_journaled_ones_kept(stack: Stack) -> None:
    settings = stack.settings()
    ctx = delivery(stack)
    orphan = stack.s3.create_multipart_upload(Bucket=stack.bucket, Key="live/orphan.bin")["UploadId"]
    kept = stack.s3.create_multipart_upload(Bucket=stack.bucket, Key="live/kept.bin")["UploadId"]
    outside = stack.s3.create_multipart_upload(Bucket=stack.bucket, Key="other/x.bin")["UploadId"]
    job = spooled(stack, "kept.bin", 100).model_copy(update={"key": "live/kept.bin"})
    ctx.journal.record(job)
    ctx.journal.set_multipart(job.key, kept, 5 * MIB)
    later = datetime.now(UTC) + timedelta(days=2)
    assert abort_abandoned_uploads(ctx.client, ctx.journal, settings, now=later) == 1
    left = {u["UploadId"] for u in stack.s3.list_multipart_uploads(Bucket=stack.bucket).get("Uploads", [])}
    assert left == {kept, outside} and orphan not in left


def test_a_multipart_upload_gone_before_completion_is_forgotten_and_the_next_attempt_delivers(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = delivery(stack)
    job = spooled(stack, "gone.bin", 11 * MIB)
    ctx.journal.record(job)
    real_complete = ctx.client.complete_multipart_upload

    def aborted_first(**kwargs: Any) -> Any:  # a twin delivery completed it, or someone aborted it
        ctx.client.abort_multipart_upload(Bucket=kwargs["Bucket"], Key=kwargs["Key"], UploadId=kwargs["UploadId"])
        return real_complete(**kwargs)

    monkeypatch.setattr(ctx.client, "complete_multipart_upload", aborted_first)
    with pytest.raises(UploadVanished):
        deliver(job, ctx)
    row = ctx.journal.get(job.key)
    assert row is not None and row.upload_id is None and row.state == State.QUEUED
    monkeypatch.undo()
    assert deliver(job, ctx) == Outcome.UPLOADED
    assert stack.stored_etag(job.key) is not None


def test_the_reconciler_leaves_a_backlog_alone_that_redis_still_holds(stack: Stack) -> None:
    settings = stack.settings()
    journal = stack.journal()
    jobs = [spooled(stack, f"held{i}.ts", 100) for i in range(3)]
    for job in jobs:
        journal.record(job)
    publisher = Publisher(settings)
    rows = [journal.get(j.key) for j in jobs]
    assert journal.publish_due(publisher.publish) == 3
    client = stack.redis.client()
    other_venue = Publisher(settings.model_copy(update={"worker": WorkerSection(queue="other-venue")}))
    other_venue.publish([r for r in rows if r])  # another venue's messages on the same Redis do not count
    assert messages_held(client, settings.worker.queue) == 3
    later = Journal(stack.spool, clock=lambda: time.time() + 3600)  # every file is long overdue
    reconciler = Reconciler(later, publisher, settings, clock=lambda: time.time() + 3600)
    assert reconciler.round(messages_held(client, "surecast")).lost == 0
    stack.redis.flushall()
    report = reconciler.round(messages_held(client, "surecast"))
    assert (report.lost, report.published) == (3, 3)
    assert messages_held(client, settings.worker.queue) == 3


def test_an_older_playlist_landing_after_a_newer_one_is_put_back_on_top(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = delivery(stack)
    key = "live/ev/720p/live.m3u8"
    v1 = spooled(stack, "live.1.m3u8", 100).model_copy(update={"key": key, "version": 1})
    v2 = spooled(stack, "live.2.m3u8", 120).model_copy(update={"key": key, "version": 2})
    ctx.journal.record(v1)
    real_put = ctx.client.put_object
    raced: list[bool] = []

    def put_after_the_newer_version(**kwargs: object) -> object:
        if kwargs["ContentLength"] == 100 and not raced:  # v1 is in flight: v2 is journaled and lands first
            raced.append(True)
            ctx.journal.record(v2)
            assert deliver(v2, ctx) == Outcome.UPLOADED
        return real_put(**kwargs)

    monkeypatch.setattr(ctx.client, "put_object", put_after_the_newer_version)
    assert deliver(v1, ctx) == Outcome.UPLOADED
    assert raced
    assert stack.s3.head_object(Bucket=stack.bucket, Key=key)["ContentLength"] == 120
    row = ctx.journal.get(key)
    assert row is not None and row.version == 2 and row.state == State.VERIFIED


@pytest.mark.parametrize(
    ("size", "verify_stored", "heads"), [(1000, False, 0), (11 * MIB, False, 0), (1000, True, 1), (11 * MIB, True, 1)]
)
def test_a_head_follows_an_upload_only_where_asked_or_its_etag_proves_nothing(
    stack: Stack, size: int, verify_stored: bool, heads: int
) -> None:
    """SURECAST_S3_VERIFY=etag (the default): the returned ETag proves the bytes (a single PUT's is the MD5 the
    server checked, a multipart one the MD5 of the checked parts' MD5s); =head: every file is read back too."""
    ctx = delivery(stack)
    ctx = Delivery(**{**ctx.__dict__, "verify_stored": verify_stored})
    seen: list[str] = []
    ctx.client.meta.events.register("before-call.s3.HeadObject", lambda **_: seen.append("HEAD"))
    job = spooled(stack, f"verify{size}{verify_stored}.ts", size)
    ctx.journal.record(job)
    assert deliver(job, ctx) == Outcome.UPLOADED
    assert len(seen) == heads
    assert stack.stored_etag(job.key) is not None


def test_the_workers_journal_commits_without_an_fsync_each_and_the_encoders_with_one(stack: Stack) -> None:
    assert Journal(stack.spool).connection.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert Journal(stack.spool, durable=False).connection.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


def test_a_file_demoted_since_its_message_was_sent_goes_back_unsent_to_go_out_behind_the_live_edge(
    stack: Stack,
) -> None:
    from core.contract import PRIORITY_BACKFILL, PRIORITY_LIVE

    ctx = delivery(stack)
    job = spooled(stack, "passed.ts", 5000)
    ctx.journal.record(job, priority=PRIORITY_LIVE)
    ctx.journal.claim_due()  # published at the live priority...
    ctx.journal.demote([job.key], PRIORITY_BACKFILL)  # ...then the live edge passed it
    assert deliver(job, ctx, sent_at=PRIORITY_LIVE) == Outcome.DEFERRED
    assert stack.stored_etag(job.key) is None
    row = ctx.journal.get(job.key)
    assert row is not None and row.state == State.QUEUED and row.published_at is None  # to be published again
    assert [r.key for r in ctx.journal.claim_due()] == [job.key]
    assert deliver(job, ctx, sent_at=PRIORITY_BACKFILL) == Outcome.UPLOADED


# The smallest file split into a task per part at 5 MiB parts: one part more than SPLIT_ABOVE_PARTS.
SPLIT_SIZE = SPLIT_ABOVE_PARTS * 5 * MIB + 2 * MIB
SPLIT_PARTS = SPLIT_ABOVE_PARTS + 1


def _sending_parts_at_once(ctx: Delivery, outcomes: list[Outcome]) -> Delivery:
    """``ctx`` whose fan-out sends each part the moment it is published, while the file is still being hashed."""

    def fan_out() -> int:
        rows = ctx.journal.claim_due_parts()
        outcomes.extend(deliver_part(r.job(), ctx) for r in rows)
        return len(rows)

    return dataclasses.replace(ctx, fan_out=fan_out)


def test_parts_sent_while_the_file_is_still_hashed_never_complete_it_early(stack: Stack) -> None:
    outcomes: list[Outcome] = []
    ctx = _sending_parts_at_once(delivery(stack), outcomes)
    job = spooled(stack, "early.bin", SPLIT_SIZE)
    ctx.journal.record(job)
    # No lease here (in-process): only the parts journaled before any is hashed keep the first ones from
    # completing the file; the last part's task completes it.
    assert deliver(job, ctx) == Outcome.SPLIT
    assert outcomes == [Outcome.PART_SENT] * (SPLIT_PARTS - 1) + [Outcome.UPLOADED]
    row = ctx.journal.get(job.key)
    assert row is not None and row.state == State.VERIFIED
    stored = stack.s3.get_object(Bucket=stack.bucket, Key=job.key)["Body"].read()
    assert hashlib.md5(stored).hexdigest() == job.md5


def test_a_big_file_changed_since_it_was_journaled_fails_and_its_parts_never_complete(stack: Stack) -> None:
    outcomes: list[Outcome] = []
    ctx = _sending_parts_at_once(delivery(stack), outcomes)
    job = spooled(stack, "changed.bin", SPLIT_SIZE).model_copy(update={"md5": "0" * 32})
    ctx.journal.record(job)
    with pytest.raises(LocalFileError):
        deliver(job, ctx)
    assert outcomes == [Outcome.PART_SENT] * (SPLIT_PARTS - 1), "the last part waits for the whole file's MD5"
    row = ctx.journal.get(job.key)
    assert row is not None and row.state == State.FAILED
    assert "Uploads" not in stack.s3.list_multipart_uploads(Bucket=stack.bucket, Prefix=job.key)
    with pytest.raises(stack.s3.exceptions.ClientError):
        stack.s3.head_object(Bucket=stack.bucket, Key=job.key)


def test_a_part_task_that_finds_its_file_sent_back_to_be_split_is_published_again_with_it(stack: Stack) -> None:
    published: list[list[int]] = []

    def fan_out() -> int:
        rows = ctx.journal.claim_due_parts()
        published.append([r.number for r in rows])
        return len(rows)

    ctx = dataclasses.replace(delivery(stack), fan_out=fan_out)
    job = spooled(stack, "resplit.bin", SPLIT_SIZE)
    ctx.journal.record(job)
    assert deliver(job, ctx) == Outcome.SPLIT
    first = ctx.journal.claim_due_parts()  # nothing left: every part was published as it was hashed
    assert first == [] and sorted(n for batch in published for n in batch) == list(range(1, SPLIT_PARTS + 1))
    row = ctx.journal.get(job.key)
    assert row is not None and row.upload_id
    # The splitting process died: its file went back to the queue, and part 1's message comes in meanwhile.
    ctx.journal.schedule_retry(job.key, "the splitting process died", 0, version=job.version)
    part1 = PartJob(
        key=job.key, path=job.path, version=job.version, md5=job.md5, upload_id=row.upload_id, part=1,
        first_byte=0, size=5 * MIB, part_md5=hashlib.md5((stack.spool / job.path).read_bytes()[: 5 * MIB]).hexdigest(),
    )  # fmt: skip
    assert deliver_part(part1, ctx) == Outcome.STALE
    published.clear()
    assert deliver(job, ctx) == Outcome.SPLIT  # split again, the same upload resumed
    assert sorted(n for batch in published for n in batch) == [1], "part 1 goes out again, the others are in Redis"


def test_a_multipart_file_of_few_parts_goes_from_its_own_task_even_in_a_worker(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At most SPLIT_ABOVE_PARTS parts: no part tasks (they cost more than they gain among many files); each part
    is still journaled as it lands and the whole passes its integrity test."""
    published: list[int] = []

    def fan_out() -> int:
        published.append(len(ctx.journal.claim_due_parts()))
        return published[-1]

    ctx = dataclasses.replace(delivery(stack), fan_out=fan_out)
    journaled: list[int] = []
    record_part = ctx.journal.record_part
    monkeypatch.setattr(
        ctx.journal, "record_part", lambda key, up, n, *a: (journaled.append(n), record_part(key, up, n, *a))
    )
    job = spooled(stack, "few-parts.bin", SPLIT_ABOVE_PARTS * 5 * MIB)  # exactly SPLIT_ABOVE_PARTS parts
    ctx.journal.record(job)
    assert deliver(job, ctx) == Outcome.UPLOADED
    assert published == [], "no part published as a task"
    assert journaled == list(range(1, SPLIT_ABOVE_PARTS + 1)), "each part journaled as it landed, in order"
    row = ctx.journal.get(job.key)
    assert row is not None and row.state == State.VERIFIED
    stored = stack.s3.get_object(Bucket=stack.bucket, Key=job.key)["Body"].read()
    assert hashlib.md5(stored).hexdigest() == job.md5
