"""The slate: a segment that keeps the live edge moving while FFmpeg restarts.

When FFmpeg exits mid-event its unfinished segment is lost and a new run needs a moment to start and a whole
segment to finish: left alone, the live playlists would wait two or three target durations, and some players
(Shaka Player) give up on a live stream whose playlist is late. So while FFmpeg is not producing, each
rendition gets a slate segment (a still picture and silence, encoded once per event like that rendition) as
soon as the playlist would otherwise wait 1.25 target durations, and another every segment after that. A
slate is a segment like any other (journaled, verified, listed after a discontinuity), but the VOD leaves
it out: the archive holds only what the source sent.
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ffmpeg

from core.encoder_settings import EncoderSection
from core.ladder import Rendition
from encoder.command import GLOBAL_ARGS, h264_level
from encoder.keys import is_slate
from journal.events import Segment

log = logging.getLogger(__name__)
SLATE_AFTER_TARGETS = 1.25  # a live playlist waits this many segment durations at most before a slate
# Slates stop after this long without the source (OBS stopped for good, a camera unplugged): from then on the
# playlists wait, players say the stream paused, and nothing more is uploaded for it.
SLATE_LIMIT = 600.0
SLATE_TEXT = "The broadcast continues in a moment"
SLATE_COLOR = "0x1d2b3a"
RENDER_TIMEOUT = 60.0


def slate_due(lasts: Sequence[Segment], now: float, segment_seconds: float, recorded_at: float) -> float | None:
    """The capture time of a slate due now in every rendition (``lasts``: each one's last segment), or None.

    Due once the latest of them is SLATE_AFTER_TARGETS segments old (a slate's own length after a slate), and
    only within SLATE_LIMIT of the last segment the source gave (``recorded_at``); its time is where the
    furthest rendition ended, one time for the same slate everywhere. Pure.
    """
    if now - recorded_at > SLATE_LIMIT:
        return None
    last = max(lasts, key=lambda s: s.completed_at)
    wait = last.duration if is_slate(last.name) else SLATE_AFTER_TARGETS * segment_seconds
    if now - last.completed_at < wait:
        return None
    return max((s.program_time or s.completed_at - s.duration) + s.duration for s in lasts)


def slate_argv(executable: str, rendition: Rendition, cfg: EncoderSection, path: Path) -> list[str]:
    """One segment of a still picture with a line of text and silence, encoded like ``rendition``. Pure."""
    size = f"{rendition.width}x{rendition.height}"
    video = ffmpeg.input(f"color=c={SLATE_COLOR}:s={size}:r={cfg.framerate}", f="lavfi")
    video = video.drawtext(text=SLATE_TEXT, fontsize="h/16", fontcolor="white", x="(w-text_w)/2", y="(h-text_h)/2")
    audio = ffmpeg.input("anullsrc=channel_layout=stereo:sample_rate=48000", f="lavfi")
    options: dict[str, Any] = {
        "t": f"{cfg.segment_seconds:g}",
        "c:v": "libx264",
        "preset": "veryfast",
        "profile:v": "main",
        "level:v": h264_level(rendition, cfg.framerate),
        "pix_fmt": "yuv420p",
        "g": max(1, round(cfg.framerate * cfg.segment_seconds)),
        "b:v": f"{rendition.video_kbps // 4}k",
        "c:a": "aac",
        "b:a": f"{rendition.audio_kbps}k",
        "ar": 48000,
        "ac": 2,
        "f": "mpegts",
    }
    args: list[str] = ffmpeg.output(video, audio, str(path), **options).get_args()
    return [executable, *GLOBAL_ARGS, *args]


class Slates:
    """Each rendition's slate file for one event, rendered in the background once the event starts."""

    def __init__(self, executable: str, cfg: EncoderSection, folder: Path) -> None:
        self.cfg = cfg
        self.paths = {r.name: folder / f"{r.name}.ts" for r in cfg.ladder}
        self._executable = executable
        self._folder = folder
        self._ready = threading.Event()
        self.usable = cfg.segment_type == "mpegts"  # an fMP4 slate would need an init segment of its own

    def start(self) -> None:
        """Render the slates in a thread (a few hundred ms of CPU); ``ready`` says when they exist."""
        if self.usable:
            threading.Thread(target=self._render, name="surecast-slates", daemon=True).start()

    def ready(self) -> Mapping[str, Path] | None:
        return self.paths if self._ready.is_set() else None

    def _render(self) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        for rendition in self.cfg.ladder:
            path = self.paths[rendition.name]
            if path.is_file() and path.stat().st_size > 0:
                continue
            argv = slate_argv(self._executable, rendition, self.cfg, path.with_suffix(".tmp.ts"))
            try:
                done = subprocess.run(argv, capture_output=True, timeout=RENDER_TIMEOUT, check=False)  # noqa: S603
            except (OSError, subprocess.TimeoutExpired) as exc:
                log.warning("no slate for %s (the live edge waits for FFmpeg after a restart): %s", rendition.name, exc)
                return
            if done.returncode != 0:
                tail = done.stderr.decode(errors="replace")[-300:]
                log.warning(
                    "no slate for %s (the live edge waits for FFmpeg after a restart): %s", rendition.name, tail
                )
                return
            path.with_suffix(".tmp.ts").replace(path)
        self._ready.set()
