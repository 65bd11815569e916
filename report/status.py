"""What `surecast status` (and `--watch`, the metrics) reports: queue depth from Redis, the backlog and
failures from the journal, and what the encoder last said about itself."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import redis

from core.settings import Settings
from encoder.status import read_encoder_status
from journal.figures import live_edge_lag
from journal.files import Journal
from uploader.queues import queue_depth

UNKNOWN_REASON = "unknown"  # what a failed file without a recorded error is grouped under


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
    failed = [{"key": r.key, "path": r.path, "reason": r.last_error or UNKNOWN_REASON} for r in journal.failed()]
    return {
        "queue_depth": depth,
        "files": totals.files,
        "waiting_files": totals.waiting_files,
        "waiting_bytes": totals.waiting_bytes,
        "oldest_unverified_age_seconds": round(clock() - oldest, 1) if oldest else None,
        "retries": totals.retries,
        "integrity_reuploads": totals.integrity_reuploads,
        "failed": failed,
        "failures": group_failures(failed),
        "encoder": read_encoder_status(journal.spool_dir),
    }


def destination_status(
    settings: Settings, redis_client: redis.Redis | None, clock: Callable[[], float] = time.time
) -> dict[str, dict[str, Any]]:
    """Per destination: backlog, queue depth, oldest unverified, failures, last success, live-edge lag."""
    spool = Path(settings.spool.dir)
    found: dict[str, dict[str, Any]] = {}
    for destination in settings.destinations():
        journal = Journal(spool, destination=destination.name)
        try:
            totals = journal.totals()
            try:
                depth = queue_depth(redis_client, destination.queue) if redis_client else None
            except redis.RedisError:
                depth = None
            success = journal.latest_success_at()
            now = clock()
            oldest = totals.oldest_unverified_at
            found[destination.name] = {
                "bucket": destination.s3.bucket,
                "queue_depth": depth,
                "waiting_files": totals.waiting_files,
                "waiting_bytes": totals.waiting_bytes,
                "oldest_unverified_age_seconds": round(now - oldest, 1) if oldest else None,
                "failed": totals.files.get("failed", 0),
                "last_success_at": success or None,
                "live_edge_lag": live_edge_lag(spool, now, destination.name),
            }
        finally:
            journal.close()
    return found


def render_status(status: dict[str, Any]) -> str:
    """The human-readable form of ``collect_status``."""
    depth = status["queue_depth"]
    files = status["files"]
    age = status["oldest_unverified_age_seconds"]
    lines = []
    encoder = status.get("encoder")
    if encoder and encoder.get("recording_paused_since") and encoder.get("state") != "stopped":
        since = time.strftime("%H:%M", time.localtime(encoder["recording_paused_since"]))
        waiting = encoder.get("waiting_bytes", status["waiting_bytes"]) / 2**20
        lines.append(f"!!! DISK FULL: recording paused since {since}, {waiting:.0f} MB waiting to upload.")
        lines.append("!!! Recording resumes by itself as uploads free space; the event stays open.")
    elif encoder and encoder.get("low_disk"):
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
        for warning in (encoder_speed_line(encoder), refused_pushes_line(encoder)):
            if warning:
                lines.append(warning)
    for name, d in (status.get("destinations") or {}).items():
        success = time.strftime("%H:%M:%S", time.localtime(d["last_success_at"])) if d["last_success_at"] else "never"
        lag = max(d["live_edge_lag"].values(), default=0.0)
        lines.append(
            f"destination {name} (s3://{d['bucket']}): waiting {d['waiting_files']} file(s), "
            f"{d['waiting_bytes'] / 2**20:.1f} MB; live edge {lag:.1f} s behind; last success {success}; "
            f"failed {d['failed']}"
        )
    if status["failed"]:
        lines.append(f"FAILED ({len(status['failed'])}), fix the cause then run `surecast retry-failed`:")
        for group in status["failures"]:
            if group["files"] == 1:
                lines.append(f"  1 file, {group['example']}: {group['reason']}")
            else:
                lines.append(f"  {group['files']} files: {group['reason']}, e.g. {group['example']}")
    return "\n".join(lines)


def encoder_speed_line(encoder: Mapping[str, Any]) -> str | None:
    """The encoder falling behind real time, in one line with what to do; None while it keeps up. Pure."""
    since = encoder.get("slow_since")
    if not since or encoder.get("state") == "stopped":
        return None
    ratio = float(encoder.get("speed") or 0.0)
    return (
        f"the encoder is too slow: {ratio:.2f} s of video per second since "
        f"{time.strftime('%H:%M', time.localtime(since))}, so viewers will stall — use a lighter ladder "
        "(SURECAST_ENCODER_RENDITIONS, e.g. 480p,360p), a faster SURECAST_ENCODER_PRESET, or hardware encoding "
        "(SURECAST_ENCODER_HARDWARE=auto)"
    )


def refused_pushes_line(encoder: Mapping[str, Any]) -> str | None:
    """The pushes the encoder's ingest gate refused, in one line for a volunteer; None if it refused none. Pure."""
    refused = encoder.get("refused_pushes") or {}
    count = int(refused.get("count") or 0)
    if not count:
        return None
    senders = list(refused.get("senders") or {})[::-1]  # the latest first
    where = ", ".join(senders[:3]) + (f" and {len(senders) - 3} other addresses" if len(senders) > 3 else "")
    last = time.strftime("%H:%M", time.localtime(refused["last_at"])) if refused.get("last_at") else "?"
    pushes = "push" if count == 1 else "pushes"
    return (
        f"refused {count} {pushes} with a wrong stream key from {where or 'an unknown address'} (last at {last}); "
        "if that was your OBS, correct its Stream Key (Settings > Stream)"
    )


def group_failures(failed: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Failed files grouped by reason, most files first: one line per cause, not per file. Pure."""
    groups: dict[str, list[str]] = {}
    for f in failed:
        groups.setdefault(f["reason"], []).append(f["key"])
    ranked = sorted(groups.items(), key=lambda item: -len(item[1]))
    return [{"reason": reason, "files": len(keys), "example": keys[0]} for reason, keys in ranked]
