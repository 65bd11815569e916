"""Which segments the remote live playlist may list, by policy. Pure.

A rendition's segments form an append-only list; a segment's index in it is its media sequence number.
The *frontier* is how many of them the live playlist has reached. It only moves forward:

- ``complete``: through segments verified in the bucket, contiguously, once each is ``publish_delay``
  old. A missing segment holds the live edge while it is on its way (the link is down, a backlog drains
  in whatever order, its worker died and its lease has to run out: seconds), so viewers see every
  segment; only a segment *stuck* (its upload failed for good and waits for the slow retry) holds it no
  longer than ``gap_deadline``: it is passed with ``EXT-X-GAP`` as under ``live-edge`` and listed
  normally once it lands.
- ``live-edge``: like ``complete``, but a segment still missing ``gap_deadline`` seconds after it was
  due is passed with ``EXT-X-GAP``; it keeps uploading (at backfill priority) and the playlist lists it
  normally once it lands, while the window still shows it.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass

from core.encoder_settings import Policy
from journal.events import Segment


@dataclass(frozen=True)
class Entry:
    """One line of a media playlist: a segment, maybe marked as a gap."""

    segment: Segment
    gap: bool = False


def is_ready(segment: Segment, verified: Container[str]) -> bool:
    return all(key in verified for key in segment.object_keys())


def advance_frontier(
    segments: Sequence[Segment],
    frontier: int,
    verified: Container[str],
    policy: Policy,
    now: float,
    publish_delay: float,
    gap_deadline: float,
    stuck: Container[str] = (),
) -> int:
    """The new frontier: how many leading segments the live playlist may list now (``stuck``: keys whose
    upload failed for good)."""
    index = frontier
    while index < len(segments):
        segment = segments[index]
        due = segment.completed_at + publish_delay
        if now < due:
            break
        if is_ready(segment, verified):
            index += 1
            continue
        late = now >= due + gap_deadline
        if late and (policy == "live-edge" or any(key in stuck for key in segment.object_keys())):
            index += 1
            continue
        break
    return index


def live_window(
    segments: Sequence[Segment], frontier: int, window: int, verified: Container[str]
) -> tuple[list[Entry], int]:
    """The entries of the live playlist and the media sequence number of the first one.

    ``window`` = 0 keeps every listed segment (an EVENT-style playlist).
    """
    start = 0 if window == 0 else max(0, frontier - window)
    entries = [Entry(s, gap=not is_ready(s, verified)) for s in segments[start:frontier]]
    return entries, start


def discontinuities_before(segments: Sequence[Segment], index: int) -> int:
    """EXT-X-DISCONTINUITY-SEQUENCE for a window starting at ``index``."""
    return sum(1 for s in segments[:index] if s.discontinuity)


def all_ready(segments: Sequence[Segment], verified: Container[str]) -> bool:
    return all(is_ready(s, verified) for s in segments)
