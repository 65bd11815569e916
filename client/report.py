"""What a playback did: the figures `surecast play` prints, and whether anything was lost. Pure."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from client.playout import Stall
from client.routes import Routes

EXIT_OK = 0
EXIT_LOSS = 1  # something was lost, or a segment kept failing its check
EXIT_UNREADABLE = 3  # the stream could not be read: wrong URL, 403, not HLS, origin silent
MAX_MESSAGES = 10


@dataclass(frozen=True)
class Refetch:
    segment: str
    attempt: int
    reason: str


@dataclass
class Report:
    url: str
    rendition: str | None = None
    buffer: float = 0.0
    segments_played: int = 0
    verified_metadata: int = 0
    verified_etag: int = 0
    unverified: list[str] = field(default_factory=list)
    media_seconds: float = 0.0
    gaps: list[str] = field(default_factory=list)
    gaps_filled: list[str] = field(default_factory=list)
    discontinuities: int = 0
    decode_errors: int = 0
    decode_messages: list[str] = field(default_factory=list)
    decoded_seconds: float | None = None
    decoded_frames: int | None = None
    stalls: list[Stall] = field(default_factory=list)
    integrity_refetches: list[Refetch] = field(default_factory=list)
    fetch_retries: int = 0
    longest_outage: float = 0.0
    ended: bool = False
    error: str | None = None
    error_kind: str | None = None
    # Where the master names several destinations: what each gave, and each turn from one to another.
    destinations: list[dict[str, Any]] = field(default_factory=list)
    failovers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def verified(self) -> int:
        return self.verified_metadata + self.verified_etag

    @property
    def stalled_seconds(self) -> float:
        return sum(s.seconds for s in self.stalls)

    @property
    def lost(self) -> bool:
        return bool(self.gaps or self.decode_errors or self.error_kind == "integrity")

    def exit_code(self) -> int:
        if self.error_kind not in (None, "integrity"):
            return EXIT_UNREADABLE
        return EXIT_LOSS if self.lost else EXIT_OK

    def add_routes(self, routes: Routes, now: float) -> None:
        """Each destination's figures (``last_success`` as seconds before ``now``) and the switches."""
        self.destinations = []
        for f in routes.figures:
            figures = asdict(f)
            figures["last_success"] = None if f.last_success is None else round(now - f.last_success, 3)
            self.destinations.append(figures)
        self.failovers = [
            {"seconds_before_end": round(now - s.at, 3), "from": s.source, "to": s.target, "reason": s.reason}
            for s in routes.switches
        ]

    def add_decode_errors(self, messages: list[str]) -> None:
        self.decode_errors += len(messages)
        room = MAX_MESSAGES - len(self.decode_messages)
        self.decode_messages.extend(messages[: max(0, room)])

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            segments_verified=self.verified,
            stalled_seconds=round(self.stalled_seconds, 3),
            lost=self.lost,
            exit_code=self.exit_code(),
        )
        return data

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)


def _names(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def render_report(r: Report) -> str:
    """The human report, one figure per line."""
    decoded = ""
    if r.decoded_seconds is not None:
        decoded = f", decoded {r.decoded_seconds:.1f} s ({r.decoded_frames or 0} frames)"
    lines = [
        f"stream            {r.url}" + (f" (rendition {r.rendition})" if r.rendition else ""),
        f"segments played   {r.segments_played} ({r.verified} verified by MD5: {r.verified_metadata} metadata,"
        f" {r.verified_etag} ETag; {len(r.unverified)} without a published checksum)",
        f"media             {r.media_seconds:.1f} s{decoded}",
        f"gaps              {len(r.gaps)}" + (f": {_names(r.gaps)}" if r.gaps else ""),
    ]
    if r.gaps_filled:
        lines.append(f"gaps filled       {len(r.gaps_filled)}: {_names(r.gaps_filled)}")
    lines += [
        f"discontinuities   {r.discontinuities}",
        f"decode errors     {r.decode_errors}" + (f": {r.decode_messages[0]}" if r.decode_messages else ""),
        f"stalls            {len(r.stalls)} ({r.stalled_seconds:.1f} s) with a {r.buffer:g} s delay buffer",
        f"integrity refetch {len(r.integrity_refetches)}" + _refetches(r),
        f"fetch retries     {r.fetch_retries} (longest outage {r.longest_outage:.1f} s)",
        f"end of stream     {'yes' if r.ended else 'no'}",
    ]
    if len(r.destinations) > 1:
        lines += [_destination_line(d) for d in r.destinations]
        lines.append(f"failovers         {len(r.failovers)}" + _failovers(r))
    if r.error:
        lines.append(f"error             {r.error}")
    verdict = "LOSS: " + _verdict(r) if r.lost else "FAILED: " + (r.error or "") if r.error else "OK: nothing lost"
    lines.append(f"result            {verdict}")
    return "\n".join(lines)


def _destination_line(d: dict[str, Any]) -> str:
    last = "never answered" if d["last_success"] is None else f"last answer {d['last_success']:.1f} s before the end"
    return (
        f"destination       {d['name']}: {d['segments']} segments, {d['playlists']} playlists, "
        f"{d['failures']} failures, left {d['left']} time(s), {last}"
    )


def _failovers(r: Report) -> str:
    if not r.failovers:
        return ""
    return ": " + _names([f"{f['from']} -> {f['to']} ({f['reason']})" for f in r.failovers], 3)


def _verdict(r: Report) -> str:
    parts = []
    if r.gaps:
        parts.append(f"{len(r.gaps)} gap(s)")
    if r.decode_errors:
        parts.append(f"{r.decode_errors} decode error(s)")
    if r.error_kind == "integrity":
        parts.append(r.error or "integrity failure")
    return ", ".join(parts)


def _refetches(r: Report) -> str:
    if not r.integrity_refetches:
        return ""
    return ": " + _names([f"{x.segment} ({x.reason})" for x in r.integrity_refetches], 3)
