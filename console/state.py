"""The console's one big state, in plain words for an AV volunteer: what is happening and what to do. Pure.

In order of precedence (the first that holds is shown; the alerts consider every one that holds):

    DISK FULL     the encoder paused recording: the spool reached its reserve
    PROBLEM       Redis unreachable, the encoder not running, no upload worker online, the encoder slower
                  than real time, the source lost (FFmpeg makes nothing), FFmpeg restarting in a loop
    UPLINK DOWN   files wait and nothing was verified for about two segments: recording is safe here
    PROBLEM       files failed permanently (the largest group of one reason, with what to do)
    OFF AIR       no event running (none yet, or it ended cleanly)
    CATCHING UP   the bucket's live edge trails the encoder
    LIVE          everything reaches the bucket on time

"Down" is read from the journal, the record of what was verified: it switches within a few seconds of
the link being cut and back once verifications resume, whatever the cause (uplink, S3, a proxy).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from console.history import Point

ENCODER_STALE_SECONDS = 10.0  # the encoder writes its status every second
MIN_SLACK_SECONDS = 4.0
RATE_SECONDS = 20.0  # the upload rate used for "time to catch up": the mean over this long
MB = 1_000_000
SOURCE_LOST_SECONDS = 10.0  # the source silent this long (at least three segments) is lost
LOOP_SECONDS = 300.0  # FFmpeg restarting LOOP_RESTARTS times within this long is a loop
LOOP_RESTARTS = 3

LEVELS = {
    "LIVE": "ok",
    "CATCHING UP": "warn",
    "OFF AIR": "idle",
    "STARTING": "idle",
    "UPLINK DOWN": "alert",
    "DISK FULL": "alert",
    "PROBLEM": "alert",
}


@dataclass(frozen=True)
class State:
    label: str
    detail: str
    # What it is about, for the alerts (console.incidents): one word per check, "" for the calm states.
    cause: str = field(default="", compare=False)

    @property
    def level(self) -> str:
        """ok, warn, alert or idle: the colour the page shows it in."""
        return LEVELS.get(self.label, "alert")

    def as_json(self) -> dict[str, str]:
        return {"label": self.label, "detail": self.detail, "level": self.level}


def console_state(figures: Mapping[str, Any], history: Sequence[Point], now: float) -> State:
    """The big state from the console's figures (``/api/status``) and the recent history."""
    found = alert_states(figures, history, now)
    if found:
        return found[0]
    encoder: Mapping[str, Any] | None = figures.get("encoder")
    waiting_mb = figures["waiting_bytes"] / MB
    if not _running(figures):
        return State("OFF AIR", off_air_detail(figures, encoder, waiting_mb))
    lag: Mapping[str, float] = figures.get("live_edge_lag") or {}
    behind = max(lag.values(), default=0.0)
    if behind > _slack(figures):
        eta = catch_up(figures, history, now)
        return State("CATCHING UP", f"{behind:.0f} s behind, {waiting_mb:.0f} MB to upload, {eta}")
    return State("LIVE", f"{behind:.0f} s behind the encoder")


def alert_states(figures: Mapping[str, Any], history: Sequence[Point], now: float) -> list[State]:
    """Every state of level alert that holds now, in the page's order of precedence: the page shows the
    first, the alerts consider them all (a disk that fills during an outage does not end the outage)."""
    found = (check(figures, history, now) for check in CHECKS)
    return [state for state in found if state is not None]


def _slack(figures: Mapping[str, Any]) -> float:
    return max(MIN_SLACK_SECONDS, 2 * float(figures["segment_seconds"]))


def _running(figures: Mapping[str, Any]) -> bool:
    encoder: Mapping[str, Any] | None = figures.get("encoder")
    return encoder is not None and encoder.get("state") != "stopped"


def _disk_full(figures: Mapping[str, Any], history: Sequence[Point], now: float) -> State | None:
    encoder = figures.get("encoder") or {}
    if not _running(figures) or not encoder.get("recording_paused_since"):
        return None
    since = clock_time(encoder["recording_paused_since"])
    waiting = encoder.get("waiting_bytes", figures["waiting_bytes"]) / MB
    return State("DISK FULL", f"recording paused since {since}, {waiting:.0f} MB waiting to upload", "disk_full")


def _redis_unreachable(figures: Mapping[str, Any], history: Sequence[Point], now: float) -> State | None:
    if figures["queue_depth"] is not None:
        return None
    return State(
        "PROBLEM",
        "Redis is unreachable — check that the redis service runs (docker compose ps); "
        "recording goes on and files wait on this PC",
        "redis",
    )


def _encoder_stopped(figures: Mapping[str, Any], history: Sequence[Point], now: float) -> State | None:
    encoder = figures.get("encoder") or {}
    if not _running(figures) or now - float(encoder.get("updated_at") or 0) <= ENCODER_STALE_SECONDS:
        return None
    return State(
        "PROBLEM",
        f"the encoder is not running (last heard from at {clock_time(encoder.get('updated_at') or 0)}) — "
        "restart it (docker compose restart encoder, or surecast up); it resumes the event",
        "encoder_stopped",
    )


def _no_worker(figures: Mapping[str, Any], history: Sequence[Point], now: float) -> State | None:
    if figures.get("workers") != {}:
        return None
    return State(
        "PROBLEM",
        "no upload worker is online — start one (docker compose up -d uploader, or surecast worker); "
        "files wait safely on this PC",
        "no_worker",
    )


def _encoder_slow(figures: Mapping[str, Any], history: Sequence[Point], now: float) -> State | None:
    if not _running(figures) or not figures.get("encoder_slow_line"):
        return None
    return State("PROBLEM", str(figures["encoder_slow_line"]), "encoder_slow")


def _source_lost(figures: Mapping[str, Any], history: Sequence[Point], now: float) -> State | None:
    since = figures.get("source_lost_since")
    if not _running(figures) or not since or now - float(since) < source_lost_after(figures):
        return None
    return State(
        "PROBLEM",
        f"no picture from the source since {clock_time(since)} (viewers see a still picture) — check that OBS "
        "is streaming (Start Streaming), or the camera and its cable; the stream resumes by itself",
        "source_lost",
    )


def source_lost_after(figures: Mapping[str, Any]) -> float:
    """FFmpeg between two runs is not a lost source: only a silence longer than this is."""
    return max(SOURCE_LOST_SECONDS, 3 * float(figures["segment_seconds"]))


def _ffmpeg_loop(figures: Mapping[str, Any], history: Sequence[Point], now: float) -> State | None:
    counts = [p.ffmpeg_restarts for p in history if p.t >= now - LOOP_SECONDS and p.ffmpeg_restarts is not None]
    latest = figures.get("ffmpeg_restarts")
    if not _running(figures) or latest is None or not counts or int(latest) - min(counts) < LOOP_RESTARTS:
        return None
    restarts = int(latest) - min(counts)
    return State(
        "PROBLEM",
        f"FFmpeg restarted {restarts} times in the last {LOOP_SECONDS / 60:.0f} min — the source keeps dropping "
        "(a loose cable, a camera going to sleep, a pull URL that fails): see the encoder's log "
        "(docker compose logs encoder)",
        "ffmpeg_loop",
    )


def _uplink_down(figures: Mapping[str, Any], history: Sequence[Point], now: float) -> State | None:
    down = uplink_down_since(figures, now, _slack(figures))
    if down is None:
        return None
    waiting_mb = figures["waiting_bytes"] / MB
    detail = (
        f"since {clock_time(down)} (recording safe on this PC, "
        f"{figures['waiting_segments']} segments waiting, {waiting_mb:.0f} MB)"
    )
    if figures.get("retry_reason"):
        detail += f"; last error: {figures['retry_reason']}"
    live = [d["name"] for d in destination_lines(figures, now)[1:] if d["state"] == "LIVE"]
    if live:
        detail += f"; viewers still get the stream from {', '.join(live)}"
    return State("UPLINK DOWN", detail, "uplink")


def _failed_files(figures: Mapping[str, Any], history: Sequence[Point], now: float) -> State | None:
    failures: Sequence[Mapping[str, Any]] = figures.get("failures") or []
    if not failures:
        return None
    top = failures[0]
    files = f"{top['files']} file{'s' if top['files'] != 1 else ''} failed"
    more = f" (and {len(failures) - 1} other reason{'s' if len(failures) > 2 else ''})" if len(failures) > 1 else ""
    return State("PROBLEM", f"{files}: {top['reason']}{more} — {advice_for(str(top['reason']))}", "failed_files")


Check = Callable[[Mapping[str, Any], Sequence[Point], float], "State | None"]
# In the page's order of precedence: the first that holds is the big state.
CHECKS: tuple[Check, ...] = (
    _disk_full,
    _redis_unreachable,
    _encoder_stopped,
    _no_worker,
    _encoder_slow,
    _source_lost,
    _ffmpeg_loop,
    _uplink_down,
    _failed_files,
)


def uplink_down_since(figures: Mapping[str, Any], now: float, slack: float) -> float | None:
    """When delivery stopped, if it has: files wait, the oldest for over a segment, and nothing was verified
    for ``slack`` seconds (about two segments)."""
    return _down_since(figures["waiting_files"], figures.get("oldest_unverified_age_seconds"),
                       figures.get("last_verified_at"), now, slack)  # fmt: skip


def _down_since(waiting: int, oldest_age: float | None, last: float | None, now: float, slack: float) -> float | None:
    if not waiting or (oldest_age or 0.0) <= slack / 2:
        return None
    silent_since = float(last) if last else now - (oldest_age or 0.0)
    return silent_since if now - silent_since > slack else None


def destination_lines(figures: Mapping[str, Any], now: float) -> list[dict[str, str]]:
    """Where the master names several destinations: each one's state in a word and a line (the big state
    is the primary's, the volunteer's own uplink; a backup's trouble is shown here, beside it)."""
    found: Mapping[str, Mapping[str, Any]] = figures.get("destinations") or {}
    if len(found) < 2:
        return []
    slack = max(MIN_SLACK_SECONDS, 2 * float(figures["segment_seconds"]))
    lines = []
    for name, d in found.items():
        waiting = f"{d['waiting_files']} files waiting ({d['waiting_bytes'] / MB:.0f} MB)"
        lag = max((d.get("live_edge_lag") or {}).values(), default=0.0)
        last = d.get("last_success_at")
        down = _down_since(d["waiting_files"], d.get("oldest_unverified_age_seconds"), last, now, slack)
        if down is not None:
            word, line = "DOWN", f"nothing delivered since {clock_time(down)}, {waiting}; it catches up by itself"
        elif d.get("failed"):
            word, line = "PROBLEM", f"{d['failed']} files failed: see the failed files"
        elif lag > slack:
            word, line = "CATCHING UP", f"{lag:.0f} s behind, {waiting}"
        else:
            word, line = "LIVE", f"{lag:.0f} s behind the encoder"
        when = f"; last delivery {clock_time(last)}" if last else ""
        lines.append({"name": name, "bucket": str(d.get("bucket", "")), "state": word, "detail": line + when})
    return lines


def catch_up(figures: Mapping[str, Any], history: Sequence[Point], now: float) -> str:
    """How long the backlog takes to drain at the recent upload rate, beside the stream's own rate."""
    recent = [p for p in history if p.t >= now - RATE_SECONDS]
    upload = sum(p.upload_rate for p in recent) / len(recent) if recent else 0.0
    stream = next((p.stream_rate for p in reversed(recent) if p.stream_rate is not None), None) or 0.0
    gain = upload - stream
    if gain <= 0:
        return f"not gaining at the current upload rate ({mbit(upload)} for a {mbit(stream)} stream)"
    return f"about {duration(figures['waiting_bytes'] / gain)} to catch up at the current upload rate"


def off_air_detail(figures: Mapping[str, Any], encoder: Mapping[str, Any] | None, waiting_mb: float) -> str:
    event = figures.get("event")
    if encoder is None and event is None:
        text = "no event on this PC yet — start the encoder (docker compose up, or surecast up)"
    else:
        name = (event or {}).get("id") or (encoder or {}).get("event_id")
        text = f"event {name} ended"
    if figures["waiting_files"]:
        text += f"; {figures['waiting_files']} files ({waiting_mb:.0f} MB) still to upload"
    return text


ADVICE = (
    ("NoSuchBucket", "check SURECAST_S3_BUCKET (create it: surecast bucket-setup --create), then press retry now"),
    ("no usable AWS credentials", "set the S3 credentials (SURECAST_S3_ACCESS_KEY_ID/_SECRET_ACCESS_KEY), then retry"),
    ("AccessDenied", "check the S3 credentials and the bucket policy, then press retry now"),
    ("InvalidAccessKeyId", "check the S3 access key (SURECAST_S3_ACCESS_KEY_ID), then press retry now"),
    ("times in a row", "something between this PC and S3 answers instead of it (a venue login page?): fix it, retry"),
    ("spool file", "the local copy is gone or changed and cannot be sent again: that part of the archive is lost"),
)


def advice_for(reason: str) -> str:
    """What to do about a failure, by its reason; failed files are retried by themselves on a slow schedule."""
    for marker, text in ADVICE:
        if marker in reason:
            return text
    return "fix the cause, then press retry now (failed files are also retried by themselves, slowly)"


def clock_time(epoch: float) -> str:
    return time.strftime("%H:%M", time.localtime(epoch))


def mbit(bytes_per_second: float) -> str:
    return f"{bytes_per_second * 8 / 1e6:.1f} Mbit/s"


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds // 3600:.0f} h {seconds % 3600 / 60:.0f} min"
