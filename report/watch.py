"""`surecast status --watch`: a live terminal view of delivery. Rendering is pure; the loop is in the CLI."""

from __future__ import annotations

from typing import Any

from report.status import render_status

BAR_WIDTH = 30


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """A text progress bar, e.g. ``[#######.......]``; fraction is clamped to 0..1."""
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "[" + "#" * filled + "." * (width - filled) + "]"


def render_watch(
    status: dict[str, Any], lag: dict[str, float], workers: dict[str, int] | None, peak_waiting: int
) -> str:
    """One screen: backlog drain, live-edge lag per rendition, workers online, then the plain status."""
    waiting = status["waiting_files"]
    drained = 1.0 if peak_waiting == 0 else 1 - waiting / peak_waiting
    lines = [f"backlog  {bar(drained)} {waiting} of {peak_waiting} file(s) still to verify"]
    if lag:
        worst = max(max(lag.values()), 1.0)
        for rendition, seconds in sorted(lag.items()):
            lines.append(f"lag {rendition:>8} {bar(seconds / worst)} {seconds:6.1f} s behind the encoder")
    else:
        lines.append("lag: no live event on this spool")
    if workers is None:
        lines.append("workers: Redis unreachable")
    else:
        processes = sum(workers.values())
        names = ", ".join(sorted(workers)) or "none"
        lines.append(f"workers online: {len(workers)} ({processes} upload processes): {names}")
    return "\n".join(lines) + "\n\n" + render_status(status)
