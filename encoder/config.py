"""Encoder settings (``SURECAST_ENCODER_*``) and the rendition ladder. Pure: no I/O.

``SURECAST_ENCODER_RENDITIONS`` is a comma-separated list of presets (``1080p,720p,480p``) or
custom entries ``WIDTHxHEIGHT@VIDEOk`` (``640x360@800k``); the first entry is the top of the ladder.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

Policy = Literal["complete", "live-edge"]
SegmentType = Literal["mpegts", "fmp4"]
HardwareEncoder = Literal["none", "auto", "nvenc", "qsv", "vaapi"]


@dataclass(frozen=True)
class Rendition:
    """One rung of the ladder: a name used in keys and paths, a frame size and bitrates in kbit/s."""

    name: str
    width: int
    height: int
    video_kbps: int
    audio_kbps: int = 128

    @property
    def bandwidth(self) -> int:
        """Peak bits per second for the master playlist: the encoder's maxrate plus audio and TS overhead."""
        return int((self.video_kbps * 1.1 + self.audio_kbps) * 1000 * 1.05)


PRESETS: dict[str, Rendition] = {
    "1080p": Rendition("1080p", 1920, 1080, 5000),
    "720p": Rendition("720p", 1280, 720, 2800),
    "480p": Rendition("480p", 854, 480, 1200, 96),
    "360p": Rendition("360p", 640, 360, 800, 96),
    "240p": Rendition("240p", 426, 240, 400, 64),
    "180p": Rendition("180p", 320, 180, 250, 64),
}
_CUSTOM = re.compile(r"^(?P<w>\d{2,4})x(?P<h>\d{2,4})@(?P<kbps>\d{2,6})k$")


def parse_renditions(spec: str) -> tuple[Rendition, ...]:
    """Parse a ladder spec into renditions, raising ValueError that names the bad entry."""
    ladder: list[Rendition] = []
    for raw in spec.split(","):
        item = raw.strip().lower()
        if not item:
            continue
        if item in PRESETS:
            ladder.append(PRESETS[item])
            continue
        match = _CUSTOM.match(item)
        if not match:
            raise ValueError(f"rendition {raw.strip()!r} is neither a preset ({', '.join(PRESETS)}) nor WxH@NNNk")
        width, height, kbps = int(match["w"]), int(match["h"]), int(match["kbps"])
        if width % 2 or height % 2:
            raise ValueError(f"rendition {item!r}: width and height must be even for H.264 4:2:0")
        ladder.append(Rendition(f"{height}p", width, height, kbps, 128 if height >= 720 else 96))
    if not ladder:
        raise ValueError("at least one rendition is required")
    names = [r.name for r in ladder]
    if len(set(names)) != len(names):
        raise ValueError(f"renditions must have distinct heights, got {', '.join(names)}")
    return tuple(ladder)


class EncoderSection(BaseModel):
    """Settings of `surecast encode`; every field is ``SURECAST_ENCODER_<FIELD>``."""

    # testsrc | file:PATH (or a plain path) | rtmp://HOST:PORT/APP/KEY (listen) | srt://HOST:PORT (listen)
    # | http(s)://, rtmp-pull://, srt-pull:// (pull) | v4l2:/dev/videoN | dshow:video=... | avfoundation:V:A
    source: str = "testsrc"
    # Audio for device sources: alsa:hw:0 | pulse:default | none.
    audio: str = "none"
    event_id: str = Field(default="", description="empty = generated from the start time")
    duration: float = Field(default=0.0, ge=0, description="seconds; 0 = until SIGTERM or Ctrl-C")
    segment_seconds: float = Field(default=2.0, ge=1.0, le=30.0)
    renditions: str = "720p"
    framerate: int = Field(default=30, ge=1, le=120)
    preset: str = "veryfast"
    hardware: HardwareEncoder = "none"
    vaapi_device: str = "/dev/dri/renderD128"
    segment_type: SegmentType = "mpegts"
    clock: bool = Field(default=True, description="burn a wall clock into the test pattern")
    ffmpeg_path: str = Field(default="", description="empty = the binary shipped by imageio-ffmpeg")
    policy: Policy = "complete"
    # Seconds a complete segment waits before the live playlist may list it: hides short outages.
    publish_delay: float = Field(default=0.0, ge=0)
    # live-edge: seconds past its listing time before a missing segment becomes EXT-X-GAP; 0 = one segment.
    gap_after: float = Field(default=0.0, ge=0)
    live_window: int = Field(default=30, ge=0, description="segments in the live playlist; 0 = all")
    # How often the encoder looks at FFmpeg's playlists and the journal; an idle look costs a few stat calls.
    poll_interval: float = Field(default=0.025, gt=0, le=1.0)
    republish_interval: float = Field(default=1.0, gt=0)
    restart_backoff_base: float = Field(default=1.0, gt=0)
    restart_backoff_cap: float = Field(default=30.0, gt=0)
    # A source that yields no segment this long after FFmpeg starts is reported as bad (listeners wait).
    source_timeout: float = Field(default=15.0, gt=0)
    # FFmpeg alive but silent this long (0 = 3 segments + 10 s) is killed and restarted.
    stall_timeout: float = Field(default=0.0, ge=0)
    # After the event ends, wait this long for every file to be verified before giving up (exit 3).
    final_wait: float = Field(default=600.0, gt=0)
    min_free_mb: int = Field(default=1024, ge=0, description="below this the status warns loudly")

    @field_validator("renditions")
    @classmethod
    def _ladder(cls, value: str) -> str:
        parse_renditions(value)
        return value

    @field_validator("event_id")
    @classmethod
    def _event(cls, value: str) -> str:
        if value and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", value):
            raise ValueError("must be 1-64 letters, digits, '_' or '-', starting with a letter or digit")
        return value

    @model_validator(mode="after")
    def _backoff(self) -> EncoderSection:
        if self.restart_backoff_cap < self.restart_backoff_base:
            raise ValueError("restart_backoff_cap must be at least restart_backoff_base")
        return self

    @property
    def ladder(self) -> tuple[Rendition, ...]:
        return parse_renditions(self.renditions)

    @property
    def gap_deadline(self) -> float:
        """Seconds a missing segment keeps the live edge waiting under ``live-edge`` (DASH-IF: one segment)."""
        return self.gap_after or self.segment_seconds

    @property
    def stall_deadline(self) -> float:
        return self.stall_timeout or 3 * self.segment_seconds + 10

    @property
    def target_duration(self) -> int:
        return math.ceil(self.segment_seconds)
