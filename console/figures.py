"""What the console shows, read at one instant: `surecast status --json`'s figures and the console's own.

Reads the journal (``collect_status``, ``journal.figures``, the channel's current event), Redis's queue
depth and the encoder's status file; the workers online come in from the probe. ``point_of`` turns the
figures into a history point (pure).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import redis

from console.history import Point, hours_left
from journal.events import EventStore
from journal.figures import (
    latest_retry_reason,
    live_edge_lag,
    stream_bytes_per_second,
    verified_bytes_between,
    waiting_segments,
)
from journal.files import Journal
from report.status import collect_status, encoder_speed_line, refused_pushes_line

RATE_SECONDS = 10.0  # the upload rate: bytes verified over this long, per second
STREAM_SECONDS = 60.0  # the stream's rate: its segments of the last minute
FAILED_LISTED = 50  # failed files listed one by one; the groups count them all


def console_figures(
    journal: Journal,
    redis_client: redis.Redis | None,
    queue: str,
    channel: str,
    segment_seconds: float,
    workers: dict[str, int] | None,
    now: float,
) -> dict[str, Any]:
    """Every figure of ``/api/status`` but the big state (computed from these and the history)."""
    figures = collect_status(journal, redis_client, queue, clock=lambda: now)
    spool = journal.spool_dir
    row = EventStore(journal).current(channel)
    event = (
        None
        if row is None
        else {
            "id": row.event,
            "state": str(row.state),
            "started_at": row.started_at,
            "finish_requested_at": row.finish_requested_at,
            "ended_at": row.ended_at,
        }
    )
    encoder = figures["encoder"] or {}
    running = bool(encoder) and encoder.get("state") != "stopped"
    stream_rate = stream_bytes_per_second(spool, row.event, now - STREAM_SECONDS) if row else None
    disk_free = encoder.get("disk_free_bytes") if running else _disk_free(spool)
    failed = figures.pop("failed")
    figures.update(
        now=now,
        channel=channel,
        segment_seconds=segment_seconds,
        failed=failed[:FAILED_LISTED],
        failed_total=len(failed),
        workers=workers,
        workers_online=None if workers is None else len(workers),
        live_edge_lag=live_edge_lag(spool, now),
        event=event,
        last_verified_at=journal.latest_success_at() or None,
        waiting_segments=waiting_segments(spool),
        retry_reason=latest_retry_reason(spool),
        upload_rate=verified_bytes_between(spool, now - RATE_SECONDS, now) / RATE_SECONDS,
        stream_rate=stream_rate,
        disk_free_bytes=disk_free,
        hours_left=hours_left(disk_free, stream_rate),
        ffmpeg_restarts=encoder.get("ffmpeg_restarts"),
        ffmpeg_running=running and encoder.get("ffmpeg_pid") is not None,
        source_lost_since=encoder.get("source_lost_since") if running else None,
        recording_paused_since=encoder.get("recording_paused_since") if running else None,
        renditions=encoder.get("renditions") or {},
        refused_pushes_line=refused_pushes_line(encoder) if encoder else None,
        encoder_speed=encoder.get("speed") if running else None,
        encoder_slow_line=encoder_speed_line(encoder) if running else None,
    )
    return figures


def _disk_free(spool: Path) -> int | None:
    try:
        return shutil.disk_usage(spool).free
    except OSError:
        return None


def point_of(figures: dict[str, Any]) -> Point:
    """The history point of one set of figures. Pure."""
    return Point(
        t=float(figures["now"]),
        upload_rate=round(float(figures["upload_rate"]), 1),
        stream_rate=None if figures["stream_rate"] is None else round(float(figures["stream_rate"]), 1),
        backlog_bytes=int(figures["waiting_bytes"]),
        lag=dict(figures["live_edge_lag"]),
        disk_free=figures["disk_free_bytes"],
        hours_left=figures["hours_left"],
        workers=figures["workers_online"],
        ffmpeg_restarts=figures["ffmpeg_restarts"],
    )
