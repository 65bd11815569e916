"""The preview's address: the channel's master playlist as viewers fetch it from the bucket. Pure."""

from __future__ import annotations

from core.console_settings import ConsoleSection
from core.destinations import channel_url
from core.s3_section import S3Section


def preview_url(console: ConsoleSection, s3: S3Section, channel: str) -> str:
    """``SURECAST_CONSOLE_STREAM_URL``, else the channel's master playlist where viewers read the bucket
    (SURECAST_S3_PUBLIC_URL, or the bucket's path-style address)."""
    if console.stream_url:
        return console.stream_url
    return channel_url(s3, channel)


def viewers_link(s3: S3Section, channel: str) -> str:
    """The viewers' link the fleet page shows for this venue: for now the channel's master playlist where
    viewers read the bucket. The one place to change when the viewers' page gives a link of its own."""
    return channel_url(s3, channel)
