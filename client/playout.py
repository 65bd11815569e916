"""The delay buffer: a model of a player consuming media in real time. Pure: times are passed in.

Playback starts once ``buffer`` seconds of media are held (or the stream has ended). From then the
playhead advances with the wall clock; if it reaches the end of what has been received while the stream
is still live, that is a stall, which lasts until more media arrives. A gap the playlist announced
(EXT-X-GAP) counts as received: a player skips it, it does not wait for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Stall:
    at: float  # media position, seconds from the first segment played
    seconds: float


@dataclass
class PlayoutClock:
    buffer: float
    available: float = 0.0
    started_at: float | None = None
    ended: bool = False
    stalls: list[Stall] = field(default_factory=list)
    stalled_since: float | None = None
    _t0: float = 0.0
    _pos0: float = 0.0

    @property
    def playing(self) -> bool:
        return self.started_at is not None and self.stalled_since is None

    def received(self, seconds: float, now: float) -> None:
        """``seconds`` more media are held; ends a stall."""
        self.observe(now)
        self.available += seconds
        if self.stalled_since is not None and seconds > 0:
            self.stalls.append(Stall(self._pos0, now - self.stalled_since))
            self.stalled_since = None
            self._t0 = now
        self._maybe_start(now)

    def finish(self, now: float) -> None:
        """Everything has been received: no stall can happen any more."""
        self.observe(now)
        if self.stalled_since is not None:
            self.stalls.append(Stall(self._pos0, now - self.stalled_since))
            self.stalled_since = None
            self._t0 = now
        self.ended = True
        self._maybe_start(now)

    def observe(self, now: float) -> None:
        """Notice a stall that began since the last call (at the moment the held media ran out)."""
        if not self.playing or self.ended:
            return
        runout = self._t0 + (self.available - self._pos0)
        if now >= runout:
            self.stalled_since = runout
            self._pos0 = self.available

    def position(self, now: float) -> float:
        """The playhead: media seconds played so far."""
        if self.started_at is None:
            return 0.0
        if self.stalled_since is not None:
            return self._pos0
        return min(self.available, self._pos0 + max(0.0, now - self._t0))

    def due(self, offset: float) -> float | None:
        """Wall time at which the playhead reaches media ``offset``; None while not playing."""
        if not self.playing:
            return None
        return self._t0 + (offset - self._pos0)

    def lead(self, now: float) -> float:
        """Seconds of media held ahead of the playhead."""
        return self.available - self.position(now)

    def _maybe_start(self, now: float) -> None:
        if self.started_at is None and (self.available >= self.buffer or self.ended):
            self.started_at = self._t0 = now
