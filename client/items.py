"""What the downloader hands to the playout, in order, through a queue. Pure data."""

from __future__ import annotations

from dataclasses import dataclass

from client.errors import ClientError
from client.fetcher import Outage
from client.integrity import Published
from client.playlist import MediaEntry
from client.report import Refetch


@dataclass(frozen=True)
class Init:
    """An fMP4 init segment (EXT-X-MAP), verified like a segment."""

    uri: str
    name: str
    body: bytes


@dataclass(frozen=True)
class SegmentItem:
    entry: MediaEntry
    body: bytes
    published: Published | None
    init: Init | None = None

    @property
    def seq(self) -> int:
        return self.entry.seq

    @property
    def duration(self) -> float:
        return self.entry.duration


@dataclass(frozen=True)
class GapItem:
    """Media the viewer will not get unless it is filled before the playhead reaches it."""

    seq: int
    name: str
    duration: float
    discontinuity: bool
    reason: str


@dataclass(frozen=True)
class FillItem:
    """A segment announced as a gap earlier, now in the bucket (the encoder backfilled it)."""

    segment: SegmentItem


@dataclass(frozen=True)
class EndItem:
    ended: bool  # EXT-X-ENDLIST reached (False: stopped early)


@dataclass(frozen=True)
class FailItem:
    error: ClientError


Item = SegmentItem | GapItem | FillItem | EndItem | FailItem | Outage | Refetch
