"""Apply a fault schedule at its times, in a thread, to whatever the run exposes (``Targets``).

Each fault becomes timed steps (flapping becomes one step per second). Steps run in order; a step that
starts late runs at once, and its real time is what gets recorded, so the analysis measures from when
a fault was really applied and really healed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from tests.soak.schedule import LINK_KINDS, Fault, Kind, flap_phases

log = logging.getLogger(__name__)
JOIN_TIMEOUT = 30.0


class Targets(Protocol):
    """What the faults act on. A run without workers, Redis or spool (FFmpeg's direct upload) sets
    ``link_only`` and only link faults are applied to it."""

    link_only: bool

    def link_up(self) -> None: ...
    def link_down(self) -> None: ...
    def link_throttle(self) -> None: ...
    def corrupt(self, on: bool) -> None: ...
    def slowdown(self, on: bool) -> None: ...
    def kill_workers(self, count: int | None) -> None: ...
    def start_workers(self) -> None: ...
    def restart_redis(self) -> None: ...
    def disk_low(self, on: bool) -> None: ...


@dataclass
class Applied:
    """A fault as it really happened, in seconds since the event started."""

    fault: Fault
    started: float | None = None
    healed: float | None = None
    skipped: bool = False


@dataclass(order=True)
class _Step:
    at: float
    order: int
    action: Callable[[], None] = field(compare=False)
    applied: Applied = field(compare=False)
    marks: str = field(compare=False, default="")  # "start", "heal", or both


def _steps(fault: Fault, targets: Targets, applied: Applied, order: int) -> list[_Step]:
    k = fault.kind
    starts: list[tuple[float, Callable[[], None]]] = []
    if k == Kind.FLAPPING:
        for offset, up in flap_phases(fault.window):
            starts.append((fault.start + offset, targets.link_up if up else targets.link_down))
        heal: Callable[[], None] = targets.link_up
    elif k == Kind.OUTAGE:
        starts, heal = [(fault.start, targets.link_down)], targets.link_up
    elif k == Kind.THROTTLE:
        starts, heal = [(fault.start, targets.link_throttle)], targets.link_up
    elif k == Kind.CORRUPT:
        starts, heal = [(fault.start, lambda: targets.corrupt(True))], lambda: targets.corrupt(False)
    elif k == Kind.SLOWDOWN:
        starts, heal = [(fault.start, lambda: targets.slowdown(True))], lambda: targets.slowdown(False)
    elif k == Kind.KILL_ONE_WORKER:
        starts, heal = [(fault.start, lambda: targets.kill_workers(1))], targets.start_workers
    elif k == Kind.KILL_ALL_WORKERS:
        starts, heal = [(fault.start, lambda: targets.kill_workers(None))], targets.start_workers
    elif k == Kind.REDIS_RESTART:
        return [_Step(fault.start, order, targets.restart_redis, applied, "start heal")]
    elif k == Kind.DISK_LOW:
        starts, heal = [(fault.start, lambda: targets.disk_low(True))], lambda: targets.disk_low(False)
    else:
        raise ValueError(f"no steps for fault {k}")
    steps = [_Step(at, order, action, applied, "start" if i == 0 else "") for i, (at, action) in enumerate(starts)]
    steps.append(_Step(fault.end, order, heal, applied, "heal"))
    return steps


@dataclass
class FaultRunner:
    """Runs ``schedule`` against ``targets``; times are seconds after ``t0`` (epoch seconds)."""

    schedule: list[Fault]
    targets: Targets
    t0: float
    applied: list[Applied] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="soak-faults", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(JOIN_TIMEOUT)

    @property
    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    def _run(self) -> None:
        steps: list[_Step] = []
        for order, fault in enumerate(self.schedule):
            applied = Applied(fault)
            self.applied.append(applied)
            if self.targets.link_only and fault.kind not in LINK_KINDS:
                applied.skipped = True
                continue
            steps += _steps(fault, self.targets, applied, order)
        for step in sorted(steps):
            if self._stop.wait(max(0.0, self.t0 + step.at - time.time())):
                return
            if "start" in step.marks:
                step.applied.started = time.time() - self.t0
            try:
                step.action()
            except (OSError, RuntimeError, AssertionError, ValueError) as exc:
                log.error("fault %s: step failed: %s", step.applied.fault.kind, exc)
                self.errors.append(f"{step.applied.fault.kind}: {exc}")
            if "heal" in step.marks:
                step.applied.healed = time.time() - self.t0
            log.info("t=%.1f s fault %s %s", time.time() - self.t0, step.applied.fault.kind, step.marks or "step")
