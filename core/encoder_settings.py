"""Encoder settings (``SURECAST_ENCODER_*``). Pure: no I/O.

``SURECAST_ENCODER_RENDITIONS`` is a ladder spec (see core.ladder). ``SURECAST_ENCODER_PROFILE`` picks the
defaults a latency profile implies: ``low-latency`` makes segments (and so the GOP) 1 s long instead of 2 s.
A segment length set explicitly (``SURECAST_ENCODER_SEGMENT_SECONDS``, ``--segment-seconds``) wins over the
profile's; the players are tuned by the profile and the target duration they read.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from core.contract import check_event_id
from core.ladder import Rendition, parse_renditions

Policy = Literal["complete", "live-edge"]
SegmentType = Literal["mpegts", "fmp4"]
HardwareEncoder = Literal["none", "auto", "nvenc", "qsv", "vaapi"]
Profile = Literal["standard", "low-latency"]
# The segment length (and GOP) of each profile when SURECAST_ENCODER_SEGMENT_SECONDS is not set. One second is
# the floor from a static bucket: LL-HLS parts need blocking playlist reloads, which S3 cannot serve.
PROFILE_SEGMENT_SECONDS: dict[str, float] = {"standard": 2.0, "low-latency": 1.0}
INGEST_KEY_SETTING = "SURECAST_ENCODER_INGEST_KEY"
MIN_PASSPHRASE, MAX_PASSPHRASE = 10, 79  # libsrt's limits on an SRT passphrase
_INGEST_KEY_CHARACTERS = re.compile(r"[A-Za-z0-9._~-]+")


class EncoderSection(BaseModel):
    """Settings of `surecast encode`; every field is ``SURECAST_ENCODER_<FIELD>``."""

    # testsrc | file:PATH (or a plain path) | rtmp://HOST:PORT/APP/KEY (listen) | srt://HOST:PORT (listen)
    # | http(s)://, rtmp-pull://, srt-pull:// (pull) | v4l2:/dev/videoN | dshow:video=... | avfoundation:V:A
    source: str = "testsrc"
    # The RTMP stream key and SRT passphrase of a listener source whose URL names none; empty = the stack's
    # generated key (`surecast credentials`) for a listener beyond loopback, none on loopback.
    ingest_key: SecretStr = SecretStr("")
    # Audio for device sources: alsa:hw:0 | pulse:default | none.
    audio: str = "none"
    event_id: str = Field(default="", description="empty = generated from the start time")
    duration: float = Field(default=0.0, ge=0, description="seconds; 0 = until SIGTERM or Ctrl-C")
    # standard | low-latency: the latency the stream and its players are built for (see the module's docstring).
    profile: Profile = "standard"
    segment_seconds: float = Field(default=PROFILE_SEGMENT_SECONDS["standard"], ge=1.0, le=30.0)
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
    # A source that yields no segment this long after FFmpeg starts is reported as bad (listeners wait).
    source_timeout: float = Field(default=15.0, gt=0)
    # After the event ends, wait this long for every file to be verified before giving up (exit 3).
    final_wait: float = Field(default=600.0, gt=0)
    # The reserve kept free on the spool for the journal and the uploads: below it recording pauses (the
    # event stays open), verified copies are removed whatever the retention, and recording resumes by
    # itself once free space is back above the floor plus the margin.
    min_free_mb: int = Field(default=1024, ge=0)
    resume_margin_mb: int = Field(default=256, ge=0)
    # The stable address of this venue's stream: <prefix>/<channel>/master.m3u8 leads to the current event.
    channel: str = "main"
    # A restart (no event id given) continues an event interrupted less than this long ago.
    resume_within: float = Field(default=1800.0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _profile_defaults(cls, data: Any) -> Any:
        """The profile's segment length where none is given; a length given explicitly is kept."""
        if isinstance(data, dict) and data.get("segment_seconds") is None:
            length = PROFILE_SEGMENT_SECONDS.get(str(data.get("profile", "standard")))
            if length is not None:  # an unknown profile is refused by the field's own check
                data = {**data, "segment_seconds": length}
        return data

    @field_validator("renditions")
    @classmethod
    def _ladder(cls, value: str) -> str:
        parse_renditions(value)
        return value

    @field_validator("ingest_key")
    @classmethod
    def _ingest_key(cls, value: SecretStr) -> SecretStr:
        key = value.get_secret_value()
        if key and not (MIN_PASSPHRASE <= len(key) <= MAX_PASSPHRASE and _INGEST_KEY_CHARACTERS.fullmatch(key)):
            raise ValueError(
                f"must be {MIN_PASSPHRASE} to {MAX_PASSPHRASE} letters, digits, '-', '_', '.' or '~' "
                "(it is the RTMP stream key and the SRT passphrase)"
            )
        return value

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        return check_event_id(value)

    @field_validator("event_id")
    @classmethod
    def _event(cls, value: str) -> str:
        return check_event_id(value) if value else value

    @model_validator(mode="after")
    def _event_apart_from_channel(self) -> EncoderSection:
        if self.event_id and self.event_id == self.channel:
            raise ValueError("SURECAST_ENCODER_EVENT_ID must differ from SURECAST_ENCODER_CHANNEL")
        return self

    @property
    def ladder(self) -> tuple[Rendition, ...]:
        return parse_renditions(self.renditions)

    @property
    def gap_deadline(self) -> float:
        """Seconds a missing segment keeps the live edge waiting under ``live-edge`` (DASH-IF: one segment)."""
        return self.gap_after or self.segment_seconds

    @property
    def target_duration(self) -> int:
        return math.ceil(self.segment_seconds)
