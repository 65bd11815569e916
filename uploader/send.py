"""`surecast send`: place existing files in the spool, journal them, and queue them like encoder output."""

from __future__ import annotations

import mimetypes
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from core.contract import (
    IMMUTABLE_CACHE_CONTROL,
    PRIORITY_BACKFILL,
    FileKind,
    UploadJob,
    check_object_key,
    content_type_of,
)
from core.files import copy_with_md5
from core.publisher import Publisher
from core.settings import Settings
from journal.files import FileRow, Journal, State

SENT_DIR = "sent"


def sent_content_type(name: str) -> str:
    """HLS types first, then the system's MIME table."""
    return content_type_of(name) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def copy_into_spool(source: Path, spool_dir: Path) -> tuple[Path, str]:
    """Copy ``source`` to a new file in ``spool/sent`` (fsynced, renamed into place); return it and its MD5.

    A name already taken gets a numeric suffix: an earlier file is never overwritten.
    """
    folder = spool_dir / SENT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{source.name}.{os.getpid()}.part"
    md5 = copy_with_md5(source, tmp)
    stem, suffix = Path(source.name).stem, Path(source.name).suffix
    for n in range(10_000):
        dest = folder / (source.name if n == 0 else f"{stem}-{n}{suffix}")
        try:
            os.link(tmp, dest)  # fails if taken, unlike rename
        except FileExistsError:
            continue
        tmp.unlink()
        return dest, md5
    tmp.unlink()
    raise ValueError(f"no free name for {source.name} in {folder}")


def send_files(settings: Settings, files: list[Path], key_prefix: str) -> Iterator[tuple[str, str, FileRow, bool]]:
    """Spool each file once, then journal and publish it for every destination; yield (destination, bucket,
    journal row, whether it was published) for each."""
    spool = Path(settings.spool.dir)
    outboxes = []
    for found in settings.destinations():
        served = settings.for_destination(found.name)
        outboxes.append((served, Journal(spool, destination=found.name), Publisher(served)))
    try:
        for source in files:
            if not source.is_file():
                raise ValueError(f"{source} is not a readable file")
            placed, md5 = copy_into_spool(source, spool)
            for served, journal, publisher in outboxes:
                folder = "/".join(p for p in (served.s3.prefix, key_prefix.strip("/")) if p)
                key = check_object_key(f"{folder}/{placed.name}")
                job = UploadJob(
                    path=placed.relative_to(spool).as_posix(),
                    key=key,
                    size=placed.stat().st_size,
                    md5=md5,
                    content_type=sent_content_type(placed.name),
                    cache_control=IMMUTABLE_CACHE_CONTROL,
                    kind=FileKind.OTHER,
                    destination=served.destination,
                )
                journal.record(job, priority=PRIORITY_BACKFILL)
                journal.publish_due(publisher.publish)
                row = journal.get(key)
                assert row is not None
                yield served.destination, served.s3.bucket, row, row.published_at is not None
    finally:
        for _, journal, publisher in outboxes:
            publisher.close()
            journal.close()


def render_progress(done: int, total: int, elapsed: float) -> str:
    """One line of a delivery's progress: bytes verified, the rate so far and the time left at that rate.

    Only verified bytes count (a single PUT when it is verified, a big file's parts as each is verified),
    never bytes merely in flight: with parts going out in parallel the figure moves in steps, but it never
    runs ahead of what is in the bucket."""
    mib = 1024 * 1024
    rate = done / elapsed if elapsed > 0 else 0.0
    left = f"{(total - done) / rate:.0f} s left" if rate > 0 and done < total else "time left unknown"
    if done >= total:
        left = "done"
    return f"{done / mib:.1f} of {total / mib:.1f} MiB verified, {rate * 8 / 1e6:.1f} Mbit/s, {left}"


def follow(
    settings: Settings,
    keys: list[str],
    report: Callable[[str], None],
    every: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    """Report the progress of ``keys`` on the primary destination every ``every`` seconds until each is
    verified (True) or one failed (False)."""
    journal = Journal(Path(settings.spool.dir), destination=settings.destination)
    started = clock()
    try:
        while True:
            rows = [journal.get(key) for key in keys]
            if any(r is None or r.state == State.FAILED for r in rows):
                return False
            done = total = 0
            for row in rows:
                assert row is not None
                total += row.size
                done += row.size if row.state == State.VERIFIED else journal.parts_progress(row.key)[0]
            report(render_progress(done, total, clock() - started))
            if done >= total:
                return True
            time.sleep(every)
    finally:
        journal.close()
