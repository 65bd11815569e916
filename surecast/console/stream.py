"""The preview's address: the channel's master playlist as viewers fetch it from the bucket. Pure."""

from __future__ import annotations

from core.console_settings import ConsoleSection
from core.settings import S3Section


def preview_url(console: ConsoleSection, s3: S3Section, channel: str) -> str:
    """``SURECAST_CONSOLE_STREAM_URL``, else ``<endpoint>/<bucket>/<prefix>/<channel>/master.m3u8`` path-style
    (AWS's regional endpoint when no endpoint is set). The key is the encoder's channel master
    (``encoder.keys.EventLayout.channel_master_key``; a unit test keeps the two equal)."""
    if console.stream_url:
        return console.stream_url
    endpoint = s3.endpoint_url.rstrip("/") or f"https://s3.{s3.region}.amazonaws.com"
    key = "/".join(p for p in (s3.prefix, channel, "master.m3u8") if p)
    return f"{endpoint}/{s3.bucket}/{key}"
