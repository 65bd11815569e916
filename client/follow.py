"""Follow a live media playlist from one version to the next. Pure: no I/O, no clock.

A media sequence number only grows (RFC 8216 6.2.2), so the follower keeps the next number it expects.
Each new version yields the entries not seen before, the numbers that left the window unseen (lost to
this viewer), and segments formerly announced as ``EXT-X-GAP`` that the encoder has since uploaded
(the ``live-edge`` policy backfills them): the delay buffer may still have room to play those.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from client.playlist import MediaEntry, MediaPlaylist


@dataclass(frozen=True)
class Step:
    """What one playlist version brings."""

    new: tuple[MediaEntry, ...]
    missed: tuple[int, ...]
    filled: tuple[MediaEntry, ...]
    changed: bool


def start_seq(playlist: MediaPlaylist, buffer: float, from_first: bool) -> int | None:
    """Where a viewer starts: ``buffer`` seconds behind the live edge, or the oldest segment listed.

    Starting behind the edge fills the delay buffer with segments that already exist, so playback
    begins as soon as they are downloaded instead of after waiting ``buffer`` seconds.
    """
    entries = playlist.entries
    if not entries:
        return None
    if from_first or playlist.ended:
        return entries[0].seq
    total = 0.0
    for entry in reversed(entries):
        total += entry.duration
        if total >= buffer:
            return entry.seq
    return entries[0].seq


def reload_delay(playlist: MediaPlaylist, changed: bool) -> float:
    """Seconds between playlist loads: the target duration, half of it after an unchanged version (RFC 8216 6.3.4)."""
    return playlist.target_duration if changed else playlist.target_duration / 2


@dataclass
class Follower:
    buffer: float
    from_first: bool
    next_seq: int | None = None
    open_gaps: set[int] = field(default_factory=set)
    _signature: tuple[object, ...] | None = None

    def step(self, playlist: MediaPlaylist) -> Step:
        signature = (playlist.ended, *((e.seq, e.gap) for e in playlist.entries))
        changed = signature != self._signature
        self._signature = signature
        if self.next_seq is None:
            self.next_seq = start_seq(playlist, self.buffer, self.from_first)
            if self.next_seq is None:
                return Step((), (), (), changed)
        listed = {e.seq for e in playlist.entries}
        filled = tuple(e for e in playlist.entries if e.seq in self.open_gaps and not e.gap)
        self.open_gaps = {s for s in self.open_gaps if s in listed} - {e.seq for e in filled}
        first = playlist.entries[0].seq if playlist.entries else self.next_seq
        missed = tuple(range(self.next_seq, first)) if first > self.next_seq else ()
        new = tuple(e for e in playlist.entries if e.seq >= self.next_seq)
        if new:
            self.next_seq = new[-1].seq + 1
        elif missed:
            self.next_seq = first
        self.open_gaps |= {e.seq for e in new if e.gap}
        return Step(new, missed, filled, changed)
