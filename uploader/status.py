"""What `surecast status` reports: queue depth from Redis, everything else from the journal."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from uploader.celeryconfig import PRIORITY_STEPS
from uploader.journal import Journal

# kombu's Redis transport keeps one list per priority step, named queue + SEP + step (step 0 bare).
PRIORITY_SEP = "\x06\x16"
# ...and keeps messages delivered to a worker but not yet acknowledged in this hash.
UNACKED_KEY = "unacked"


def queue_depth(client: redis.Redis, queue: str) -> int:
    """Messages waiting in Redis for ``queue`` across its priority lists."""
    names = [queue] + [f"{queue}{PRIORITY_SEP}{step}" for step in PRIORITY_STEPS if step]
    return sum(int(client.llen(name)) for name in names)


def unacked_count(client: redis.Redis, queue: str) -> int:
    """Messages of ``queue`` delivered to a worker and not yet acknowledged (running or in a retry countdown).

    Entries are JSON ``[message, exchange, routing_key]``; several venues may share one Redis.
    """
    count = 0
    for _tag, raw in client.hscan_iter(UNACKED_KEY, count=500):
        try:
            routing_key = json.loads(raw)[2]
        except (ValueError, IndexError, TypeError):
            continue
        count += routing_key == queue
    return count


def messages_held(client: redis.Redis, queue: str) -> int:
    """Upload messages Redis holds for ``queue``: waiting, plus delivered but not yet acknowledged."""
    return queue_depth(client, queue) + unacked_count(client, queue)


ENCODER_STATUS = "encoder-status.json"


def encoder_status(spool_dir: Path) -> dict[str, Any] | None:
    """What the encoder last wrote about itself (event, FFmpeg, renditions, free disk), if it ran here."""
    try:
        data: dict[str, Any] = json.loads((spool_dir / ENCODER_STATUS).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return data


def collect_status(
    journal: Journal, redis_client: redis.Redis | None, queue: str, clock: Callable[[], float] = time.time
) -> dict[str, Any]:
    """Figures for operators; ``queue_depth`` is None when Redis cannot be reached."""
    totals = journal.totals()
    depth: int | None
    try:
        depth = queue_depth(redis_client, queue) if redis_client else None
    except redis.RedisError:
        depth = None
    oldest = totals.oldest_unverified_at
    return {
        "queue_depth": depth,
        "files": totals.files,
        "waiting_files": totals.waiting_files,
        "waiting_bytes": totals.waiting_bytes,
        "oldest_unverified_age_seconds": round(clock() - oldest, 1) if oldest else None,
        "retries": totals.retries,
        "integrity_reuploads": totals.integrity_reuploads,
        "failed": [{"key": r.key, "path": r.path, "reason": r.last_error} for r in journal.failed()],
        "encoder": encoder_status(journal.path.parent),
    }


def render_status(status: dict[str, Any]) -> str:
    """The human-readable form of ``collect_status``."""
    depth = status["queue_depth"]
    files = status["files"]
    age = status["oldest_unverified_age_seconds"]
    lines = []
    encoder = status.get("encoder")
    if encoder and encoder.get("low_disk"):
        free_mib = encoder.get("disk_free_bytes", 0) / 2**20
        lines.append(f"!!! DISK LOW on the spool: {free_mib:.0f} MiB free. Verified segments are being removed;")
        lines.append("!!! free space now or the encoder will have nowhere to write.")
    lines += [
        f"queue depth (Redis): {'unreachable' if depth is None else depth}",
        f"waiting: {status['waiting_files']} file(s), {status['waiting_bytes']} bytes",
        f"oldest unverified: {'none' if age is None else f'{age:.1f} s'}",
        "files: " + ", ".join(f"{state} {n}" for state, n in files.items()),
        f"retries: {status['retries']}, integrity re-uploads: {status['integrity_reuploads']}",
    ]
    if encoder:
        lines.append(
            f"encoder: event {encoder.get('event_id')} {encoder.get('state')}, "
            f"FFmpeg restarts {encoder.get('ffmpeg_restarts')}, waiting for Redis {encoder.get('waiting_for_redis')}"
        )
    if status["failed"]:
        lines.append(f"FAILED ({len(status['failed'])}), fix the cause then run `surecast retry-failed`:")
        lines += [f"  {f['key']}: {f['reason']}" for f in status["failed"]]
    return "\n".join(lines)
