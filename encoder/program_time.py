"""When each segment's first frame was captured: its EXT-X-PROGRAM-DATE-TIME. Pure.

Segment N is the same stretch of media in every rendition (one FFmpeg run cuts every rendition at the same
instants), so one time per segment number serves every rendition and destination. Within an FFmpeg run the
times follow the media: each segment starts where the one before ended. A run's first segment (after a
restart, a pause for a full disk, or a power cut: each a discontinuity) is anchored on the encoder's clock:
the moment FFmpeg closed it, less its duration. So the times are continuous and jump only where a
discontinuity says so, and a player, a delayed viewer or a latency probe can line them up with the wall clock.
"""

from __future__ import annotations

from collections.abc import Iterable

from journal.events import Segment


class ProgramClock:
    """The capture times of one event's segments by number, shared by its renditions' watchers."""

    def __init__(self, known: Iterable[Segment] = ()) -> None:
        self._times: dict[int, tuple[float, float]] = {}  # seq -> (capture time, duration)
        for segment in known:
            if segment.program_time is not None:
                self._times.setdefault(segment.seq, (segment.program_time, segment.duration))

    def time_of(self, seq: int, duration: float, completed_at: float, new_run: bool) -> float:
        """The capture time of segment ``seq``: the one already given to that number by another rendition,
        else the end of segment ``seq - 1`` if this run made it, else ``completed_at - duration``."""
        known = self._times.get(seq)
        if known is not None:
            return known[0]
        previous = None if new_run else self._times.get(seq - 1)
        moment = previous[0] + previous[1] if previous is not None else completed_at - duration
        self._times[seq] = (moment, duration)
        return moment
