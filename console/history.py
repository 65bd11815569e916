"""The console's last 30 minutes: one point every 2 s in a ring buffer of fixed size. Pure (no I/O, no clock).

A point holds what the page plots: upload rate against the stream's rate, live-edge lag per rendition,
the backlog, free disk and the hours it lasts at the stream's rate, workers online, FFmpeg restarts.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

WINDOW_SECONDS = 30 * 60.0
INTERVAL_SECONDS = 2.0


@dataclass(frozen=True)
class Point:
    t: float
    upload_rate: float  # bytes verified per second
    stream_rate: float | None  # bytes per second the stream makes (every rendition)
    backlog_bytes: int
    lag: dict[str, float] = field(default_factory=dict)
    disk_free: int | None = None
    hours_left: float | None = None
    workers: int | None = None
    ffmpeg_restarts: int | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def hours_left(disk_free: int | None, stream_rate: float | None) -> float | None:
    """Hours of recording the free disk holds at the stream's rate, if nothing were uploaded."""
    if disk_free is None or not stream_rate:
        return None
    return round(disk_free / stream_rate / 3600, 2)


class History:
    """Points of the last ``window`` seconds, oldest first; at most ``window / interval`` (+1) kept.

    Thread-safe: the sampler appends while the web server reads.
    """

    def __init__(self, window: float = WINDOW_SECONDS, interval: float = INTERVAL_SECONDS) -> None:
        self.window = window
        self._points: deque[Point] = deque(maxlen=math.ceil(window / interval) + 1)
        self._lock = threading.Lock()

    def append(self, point: Point) -> None:
        """Add ``point`` and drop what is older than the window before it (a sampler that ran fast, or a
        clock set back, cannot grow the buffer past its size either: the deque is bounded)."""
        with self._lock:
            self._points.append(point)
            while self._points and self._points[0].t < point.t - self.window:
                self._points.popleft()

    def points(self, since: float | None = None) -> list[Point]:
        """The points after ``since`` (all of them if None), oldest first."""
        with self._lock:
            return [p for p in self._points if since is None or p.t > since]

    def __len__(self) -> int:
        with self._lock:
            return len(self._points)

    @property
    def capacity(self) -> int:
        return self._points.maxlen or 0
