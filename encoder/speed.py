"""Is the encoder keeping up with real time? Media made per second of wall time, from its segments. Pure.

A live source arrives in real time: an encoder that makes less than a second of media per second falls
further behind with every segment, and viewers stall however good the uplink is (a ladder too heavy for the
PC). Measured over the last ``WINDOW`` seconds of one FFmpeg run, between segments' completion times: with
segments closing every 2 s that is exact to a few parts per thousand, so ``SLOW_RATIO`` sits just below 1.
"""

from __future__ import annotations

import logging
from collections import deque

log = logging.getLogger(__name__)
WINDOW = 30.0  # seconds of wall time the ratio is measured over; the warning needs a full window
SLOW_RATIO = 0.98  # below this the encoder is losing more than a second a minute


class SpeedWatch:
    """The top rendition's segments as they complete: (completion time, media seconds)."""

    def __init__(self) -> None:
        self._marks: deque[tuple[float, float]] = deque()
        self.slow_since: float | None = None  # since when it has been slow, as last checked

    def saw(self, completed_at: float, duration: float, new_run: bool) -> None:
        """A segment completed; ``new_run``: the first of an FFmpeg run (a restart says nothing of speed)."""
        if new_run:
            self._marks.clear()
        self._marks.append((completed_at, duration))
        while self._marks and completed_at - self._marks[0][0] > WINDOW:
            self._marks.popleft()

    def ratio(self) -> float | None:
        """Media seconds per wall second over the window; None until two segments are in it."""
        if len(self._marks) < 2:
            return None
        span = self._marks[-1][0] - self._marks[0][0]
        if span <= 0:
            return None
        return sum(d for _, d in list(self._marks)[1:]) / span

    def slow(self, now: float) -> bool:
        """Slower than real time over a full window that is still current (segments keep coming)."""
        ratio = self.ratio()
        if ratio is None or now - self._marks[-1][0] > WINDOW:
            return False
        full = self._marks[-1][0] - self._marks[0][0] >= WINDOW - 2 * self._marks[-1][1]
        return full and ratio < SLOW_RATIO

    def check(self, now: float) -> None:
        """Update ``slow_since``, saying once when the encoder falls behind and once when it keeps up again."""
        slow = self.slow(now)
        if slow and self.slow_since is None:
            self.slow_since = now
            log.error(
                "the encoder is too slow: %.2f s of video per second over the last %.0f s; viewers will stall. "
                "Use a lighter ladder (SURECAST_ENCODER_RENDITIONS), a faster SURECAST_ENCODER_PRESET or hardware "
                "encoding (SURECAST_ENCODER_HARDWARE=auto)",
                self.ratio() or 0.0,
                WINDOW,
            )
        elif not slow and self.slow_since is not None:
            log.warning("the encoder keeps up with real time again")
            self.slow_since = None
