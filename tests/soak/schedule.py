"""The fault schedule of a soak run, and its scaling to shorter runs. Pure: no I/O.

The reference schedule is written for a 600 s event. A run of ``duration`` seconds scales every start
and every window by ``duration / 600``, so a 2-minute smoke keeps every fault, each shorter. Two things do
not scale: the flapping period (always 1 s down / 1 s up) and how long a fault takes to heal (a killed
worker's task comes back after the Redis visibility timeout, whatever the run's length).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

REFERENCE_SECONDS = 600.0
FLAP_PERIOD = 1.0  # seconds down, then seconds up
MIN_WINDOW = 2.0  # no scaled window is shorter than this


class Kind(StrEnum):
    FLAPPING = "flapping"
    OUTAGE = "outage"
    THROTTLE = "throttle"
    KILL_ONE_WORKER = "kill-one-worker"
    CORRUPT = "corrupt-bodies"
    SLOWDOWN = "503-slowdown"
    REDIS_RESTART = "redis-restart"
    KILL_ALL_WORKERS = "kill-all-workers"
    DISK_LOW = "disk-low"


# Faults that act on the link between the uploader and S3 (the only ones FFmpeg's direct upload has).
LINK_KINDS = frozenset({Kind.FLAPPING, Kind.OUTAGE, Kind.THROTTLE, Kind.CORRUPT, Kind.SLOWDOWN})


@dataclass(frozen=True)
class Fault:
    """One fault: it starts at ``start`` seconds into the event and is healed ``window`` seconds later.

    For a killed worker, ``window`` is the time until it is started again; for a Redis restart it is 0
    (the restart itself takes what it takes).
    """

    kind: Kind
    start: float
    window: float
    description: str

    @property
    def end(self) -> float:
        return self.start + self.window


# Spaced so that each fault's backlog can drain before the next one starts (on a 20 Mbit/s uplink with a
# 6.4 Mbit/s stream); a killed worker's task needs the visibility timeout (33 s with the test limits).
REFERENCE: tuple[Fault, ...] = (
    Fault(Kind.FLAPPING, 30, 30, "link flapping: 1 s down (connections reset), 1 s up"),
    Fault(Kind.OUTAGE, 80, 120, "link down: every connection reset, new ones refused"),
    Fault(Kind.THROTTLE, 280, 60, "link throttled below the stream bitrate"),
    Fault(Kind.KILL_ONE_WORKER, 395, 10, "SIGKILL of one worker's process group; started again after the window"),
    Fault(Kind.CORRUPT, 440, 15, "one byte flipped in the body of every request"),
    Fault(Kind.SLOWDOWN, 470, 25, "every request answered 503 SlowDown"),
    Fault(Kind.REDIS_RESTART, 515, 0, "SIGKILL of Redis, started again on its AOF"),
    Fault(Kind.KILL_ALL_WORKERS, 525, 5, "SIGKILL of every worker; started again after the window"),
    Fault(Kind.DISK_LOW, 565, 25, "spool disk below the encoder's free-space floor"),
)


def scaled(duration: float, reference: tuple[Fault, ...] = REFERENCE) -> list[Fault]:
    """The schedule for an event of ``duration`` seconds: every start and window scaled alike."""
    if duration <= 0:
        raise ValueError("duration must be positive")
    factor = duration / REFERENCE_SECONDS
    faults = []
    for fault in reference:
        window = fault.window * factor
        if fault.window:
            window = max(MIN_WINDOW, window)
        faults.append(replace(fault, start=round(fault.start * factor, 2), window=round(window, 2)))
    return faults


def flap_phases(window: float, period: float = FLAP_PERIOD) -> list[tuple[float, bool]]:
    """(offset, link up?) steps of a flapping window: down first, alternating every ``period``."""
    steps = []
    offset, up = 0.0, False
    while offset < window - 1e-9:
        steps.append((round(offset, 6), up))
        offset += period
        up = not up
    return steps


def describe(faults: list[Fault]) -> list[str]:
    """One line per fault: ``  30.0 s - 60.0 s  flapping: ...``."""
    lines = []
    for f in faults:
        span = f"{f.start:6.1f} s" + (f" - {f.end:6.1f} s" if f.window else " " * 11)
        lines.append(f"{span}  {f.kind.value}: {f.description}")
    return lines
