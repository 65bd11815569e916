"""Settings of `surecast play` and `surecast player` (``SURECAST_CLIENT_*``). Pure: no I/O."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

Verify = Literal["auto", "metadata", "off"]


class ClientSection(BaseModel):
    """Every field is ``SURECAST_CLIENT_<FIELD>``; command-line options override some of them."""

    # Seconds of media held between download and playback, so outages shorter than this never stall.
    buffer: float = Field(default=10.0, ge=0)
    connect_timeout: float = Field(default=3.0, gt=0)
    read_timeout: float = Field(default=5.0, gt=0)
    # Give up on an origin that has answered nothing for this long (mid-stream) ...
    origin_timeout: float = Field(default=60.0, gt=0)
    # ... or for this long when the stream is first opened (a wrong port fails fast).
    start_timeout: float = Field(default=10.0, gt=0)
    # A live playlist unchanged this long, without EXT-X-ENDLIST, means the stream has stopped.
    stale_timeout: float = Field(default=120.0, gt=0)
    backoff_base: float = Field(default=0.25, gt=0)
    backoff_cap: float = Field(default=4.0, gt=0)
    # auto: x-amz-meta-md5 (object metadata), else an ETag that is a plain MD5; metadata: only the former.
    verify: Verify = "auto"
    serve_bind: str = "127.0.0.1"
    serve_port: int = Field(default=8088, ge=0, le=65535)
    player_bind: str = "127.0.0.1"
    player_port: int = Field(default=8089, ge=0, le=65535)
    ffmpeg_path: str = Field(default="", description="empty = the binary shipped by imageio-ffmpeg")
    ffplay_path: str = Field(default="", description="empty = ffplay on PATH")

    @model_validator(mode="after")
    def _cap_above_base(self) -> ClientSection:
        if self.backoff_cap < self.backoff_base:
            raise ValueError("SURECAST_CLIENT_BACKOFF_CAP must be at least SURECAST_CLIENT_BACKOFF_BASE")
        return self
