"""Figures from what a soak run recorded. Pure: rows and polls in, numbers out.

Live-edge lag at time t: t minus the completion time (FFmpeg's mtime) of the newest segment the remote
live playlist lists, the worst over renditions. The live edge has caught up after a fault at the first
poll after the fault was healed with a lag of at most ``segment_seconds + LAG_SLACK``: the newest
segment is listed, give or take the one being encoded.

The physical minimum of a catch-up is the backlog when the fault was healed (bytes of segments
journaled but not yet verified), less the few seconds of stream the caught-up criterion leaves unlisted,
divided by the spare uplink capacity (uplink minus stream bitrate): no uploader can drain it faster
while the stream keeps adding to it. The *ideal* backlog is what an uploader that used every byte the
link let through during the fault would have had at the end (e.g. for a throttle: stream rate minus
throttled rate, times the window); its minimum is the best catch-up any uploader could achieve.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tests.soak.faults import Applied
from tests.soak.observe import Poll
from tests.soak.schedule import Kind

LAG_SLACK = 1.5  # seconds beyond one segment: FFmpeg's rename, the journal, one upload, one poll


@dataclass(frozen=True)
class SegmentRow:
    """A segment as the encoder's table and the journal know it."""

    rendition: str
    seq: int
    key: str
    size: int
    md5: str
    duration: float
    completed_at: float
    created_at: float
    verified_at: float | None
    state: str
    discontinuity: bool = False  # recording resumed here (FFmpeg restarted, or the disk had room again)


@dataclass(frozen=True)
class FaultOutcome:
    kind: str
    started: float  # seconds into the event
    healed: float
    backlog_bytes: int
    minimum: float  # seconds, for the backlog there was
    ideal_backlog: int
    ideal_minimum: float  # seconds, for the backlog an uploader using every byte of the link would have had
    catch_up: float | None  # seconds after healing; None if the edge never caught up in the run
    max_lag: float
    overlaps_next: bool


@dataclass(frozen=True)
class Cadence:
    """How steadily FFmpeg finished segments, per rendition, worst of them."""

    max_gap: float
    late: int  # gaps above 1.5 segment durations
    media_seconds: float
    wall_seconds: float


def stream_rate(rows: Sequence[SegmentRow]) -> float:
    """Bytes per second the encoder produced (all renditions), over the span of its segments."""
    if not rows:
        return 0.0
    media = max(sum(r.duration for r in rows if r.rendition == name) for name in {r.rendition for r in rows})
    return sum(r.size for r in rows) / media if media else 0.0


def backlog_at(rows: Iterable[SegmentRow], at: float) -> int:
    """Bytes journaled by ``at`` (epoch) and not verified by then."""
    return sum(r.size for r in rows if r.created_at <= at and (r.verified_at is None or r.verified_at > at))


def lag_timeline(
    polls: Sequence[Poll], completed: dict[str, float], media_keys: Sequence[str]
) -> list[tuple[float, float]]:
    """(time, live-edge lag) at every poll once every rendition's playlist has been seen.

    A playlist that lists its rendition's last segment has no lag left: the event is over and complete.
    """
    last = {}
    for key in media_keys:
        folder = key.rsplit("/", 1)[0] + "/"
        times = [done for k, done in completed.items() if k.startswith(folder)]
        last[key] = max(times, default=0.0)
    newest: dict[str, float] = {}
    timeline = []
    for poll in sorted(polls, key=lambda p: p.at):
        if poll.key not in media_keys or poll.newest is None or poll.corrupt:
            continue
        folder = poll.key.rsplit("/", 1)[0]
        done = completed.get(f"{folder}/{poll.newest}")
        if done is None:
            continue
        newest[poll.key] = float("inf") if done >= last[poll.key] else done
        if len(newest) == len(media_keys):
            timeline.append((poll.at, max(0.0, poll.at - min(newest.values()))))
    return timeline


def catch_up(
    timeline: Sequence[tuple[float, float]], start: float, healed: float, threshold: float
) -> tuple[float | None, float]:
    """(seconds from ``healed`` to the first poll with lag <= threshold, max lag from ``start`` until then)."""
    worst = 0.0
    for at, lag in timeline:
        if at < start:
            continue
        worst = max(worst, lag)
        if at >= healed and lag <= threshold:
            return at - healed, worst
    return None, worst


def ideal_backlog(kind: Kind, window: float, rate: float, uplink: float, throttle: float) -> float:
    """Bytes an uploader wasting nothing would still hold after ``window`` seconds of this fault."""
    if kind in (Kind.OUTAGE, Kind.CORRUPT, Kind.SLOWDOWN):
        return rate * window
    if kind == Kind.FLAPPING:
        return max(0.0, rate - uplink / 2) * window
    if kind == Kind.THROTTLE:
        return max(0.0, rate - throttle) * window
    return 0.0


def minimum_catch_up(backlog: float, rate: float, uplink: float, threshold: float) -> float:
    """Seconds to drain ``backlog`` to what the caught-up criterion allows, at the spare uplink capacity."""
    spare = uplink - rate
    if spare <= 0:
        return float("inf")
    return max(0.0, backlog - rate * threshold) / spare


def fault_outcomes(
    applied: Sequence[Applied],
    t0: float,
    rows: Sequence[SegmentRow],
    timeline: Sequence[tuple[float, float]],
    uplink: float,
    throttle: float,
    segment_seconds: float,
) -> list[FaultOutcome]:
    """Backlog, physical minimum and measured catch-up for every fault that was applied."""
    rate = stream_rate(rows)
    threshold = segment_seconds + LAG_SLACK
    done = [a for a in applied if a.started is not None and a.healed is not None and not a.skipped]
    outcomes = []
    for i, a in enumerate(done):
        assert a.started is not None and a.healed is not None
        healed = t0 + a.healed
        backlog = backlog_at(rows, healed)
        ideal = ideal_backlog(a.fault.kind, a.healed - a.started, rate, uplink, throttle)
        seconds, worst = catch_up(timeline, t0 + a.started, healed, threshold)
        nxt = done[i + 1].started if i + 1 < len(done) else None
        overlaps = seconds is None or (nxt is not None and a.healed + seconds > nxt)
        outcomes.append(
            FaultOutcome(
                a.fault.kind.value,
                a.started,
                a.healed,
                backlog,
                minimum_catch_up(backlog, rate, uplink, threshold),
                int(ideal),
                minimum_catch_up(ideal, rate, uplink, threshold),
                seconds,
                worst,
                overlaps,
            )
        )
    return outcomes


def cadence(rows: Sequence[SegmentRow], segment_seconds: float) -> Cadence:
    """Gaps between consecutive segment completions: FFmpeg stalled if one is far above a segment (a gap
    before a discontinuity is a pause or a restart, counted elsewhere)."""
    worst = Cadence(0.0, 0, 0.0, 0.0)
    for name in sorted({r.rendition for r in rows}):
        mine = sorted((r for r in rows if r.rendition == name), key=lambda r: r.seq)
        # A gap before a discontinuity is recording paused on purpose (the disk reserve), not a stall.
        gaps = [b.completed_at - a.completed_at for a, b in zip(mine, mine[1:], strict=False) if not b.discontinuity]
        if not gaps:
            continue
        current = Cadence(
            max(gaps),
            sum(1 for g in gaps if g > 1.5 * segment_seconds),
            sum(r.duration for r in mine[1:]),
            mine[-1].completed_at - mine[0].completed_at,
        )
        if current.max_gap > worst.max_gap:
            worst = current
    return worst


def contiguous(seqs: Iterable[int]) -> bool:
    ordered = sorted(seqs)
    return ordered == list(range(ordered[0], ordered[0] + len(ordered))) if ordered else True


def median_lag(timeline: Sequence[tuple[float, float]], before: float) -> float | None:
    early = [lag for at, lag in timeline if at < before]
    return statistics.median(early) if early else None
