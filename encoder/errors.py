"""Errors of the encoder, split by what the caller should do.

    EncoderError
    ├── SourceError         the source cannot be opened (no device, nothing there, unreadable file,
    │                       wrong URL): stop and tell the operator, restarting will not help
    ├── FFmpegNotFound      no FFmpeg binary at the configured path or in imageio-ffmpeg
    ├── ArchiveIncomplete   the event ended but some files were not verified in time; they stay
    │                       journaled and the workers keep delivering them
    └── NothingRecorded     an event to finish has no segment: there is no VOD to publish

An FFmpeg crash after the source worked is not an error: the encoder restarts it with backoff.
"""

from __future__ import annotations


class EncoderError(Exception):
    """Root of every error the encoder raises on purpose."""


class SourceError(EncoderError):
    pass


class FFmpegNotFound(EncoderError):
    pass


class NothingRecorded(EncoderError):
    pass


class ArchiveIncomplete(EncoderError):
    def __init__(self, message: str, archived: list[str] | None = None) -> None:
        super().__init__(message)
        self.archived = archived or []  # the destinations where the event was archived all the same
