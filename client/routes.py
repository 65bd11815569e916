"""The destinations one rendition can be read from, and which one to read now. Pure: no I/O, no clock.

A master playlist that names several destinations (the HLS redundant-stream form: one variant per
rendition and destination, the same BANDWIDTH, another URI) offers one media playlist per destination
for each rendition. The viewer reads the first (the destination whose master it opened) and turns to the
next when the one it reads stops answering, loses a segment, or falls behind; it goes back to the first as
soon as that one answers and is as far along, checked every ``PROBE_EVERY`` seconds. The downloader does
the fetching; this keeps the choice and each destination's figures for the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# With several destinations, the viewer turns to the next after this many seconds without an answer (or
# with a segment missing) instead of waiting out the origin timeout ...
FAILOVER_AFTER = 4.0
# ... and checks this often, while reading another, whether the first answers and is as far along.
PROBE_EVERY = 15.0


@dataclass
class RouteFigures:
    """What one destination gave this viewer."""

    name: str
    url: str
    segments: int = 0
    playlists: int = 0
    failures: int = 0
    left: int = 0  # times playback turned away from it
    last_success: float | None = None  # on the playback's clock
    last_failure: str | None = None


@dataclass(frozen=True)
class Switch:
    at: float
    source: str
    target: str
    reason: str


@dataclass
class Routes:
    figures: list[RouteFigures]
    probe_every: float
    current: int = 0
    switches: list[Switch] = field(default_factory=list)
    _probed_at: float = 0.0

    @classmethod
    def of(cls, alternates: list[tuple[str, str]], probe_every: float) -> Routes:
        """``alternates``: (name, media playlist URL) in preference order."""
        if not alternates:
            raise ValueError("a rendition needs at least one media playlist")
        return cls([RouteFigures(name, url) for name, url in alternates], probe_every)

    @property
    def redundant(self) -> bool:
        return len(self.figures) > 1

    @property
    def url(self) -> str:
        return self.figures[self.current].url

    @property
    def name(self) -> str:
        return self.figures[self.current].name

    def others(self) -> list[int]:
        """The other destinations in the order to try them: preference order after the current one."""
        n = len(self.figures)
        return [(self.current + k) % n for k in range(1, n)]

    def succeeded(self, index: int, now: float, segment: bool) -> None:
        figures = self.figures[index]
        figures.last_success = now
        if segment:
            figures.segments += 1
        else:
            figures.playlists += 1

    def failed(self, index: int, reason: str) -> None:
        self.figures[index].failures += 1
        self.figures[index].last_failure = reason

    def switch(self, to: int, now: float, reason: str) -> None:
        if to == self.current:
            return
        self.figures[self.current].left += 1
        self.switches.append(Switch(now, self.name, self.figures[to].name, reason))
        self.current = to
        self._probed_at = now

    def probe_due(self, now: float) -> bool:
        """Time to ask the first destination whether it is back (only while reading another)."""
        if self.current == 0 or now - self._probed_at < self.probe_every:
            return False
        self._probed_at = now
        return True
