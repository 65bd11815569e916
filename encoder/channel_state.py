"""``channel.json``: the channel's state as the viewers' page reads it. Pure.

    {"schema": 1, "channel": "main", "live_window_seconds": 60, "segment_seconds": 2,
     "current": {"event": "20250511T083000Z", "state": "live" | "ended", "started_at": "2025-05-11T08:30:00Z",
                 "ended_at": null, "live": "../20250511T083000Z/master.m3u8", "replay": null, "duration": null},
     "past": [{"event": "...", "started_at": "...", "duration": 3725.0, "replay": "../<event>/master_vod.m3u8"}]}

No ``current`` (null) before the channel's first event. Addresses are relative to the channel's folder
(where the page and this file are). ``replay`` is set once the event's VOD master is verified on this
destination; ``past`` lists only events whose replay is there, the latest first. ``duration`` is what was
recorded (slates left out), in seconds, once the event ended.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from encoder.keys import master_uri_from_channel

SCHEMA = 1
PAST_EVENTS = 10  # replays listed


@dataclass(frozen=True)
class EventSummary:
    event: str
    started_at: float
    ended_at: float | None
    ended: bool  # recording stopped (the encoder may still be finishing the archive)
    duration: float | None  # recorded seconds; None while live or not known
    replay: bool  # its VOD master is verified on this destination


def iso(moment: float | None) -> str | None:
    return None if moment is None else datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def channel_state(
    channel: str,
    current: EventSummary | None,
    past: Sequence[EventSummary],
    live_window_seconds: float | None,
    segment_seconds: float,
) -> dict[str, Any]:
    """The document; ``past`` may include ``current`` and events without a replay (both are left out)."""
    now: dict[str, Any] | None = None
    if current is not None:
        now = {
            "event": current.event,
            "state": "ended" if current.ended else "live",
            "started_at": iso(current.started_at),
            "ended_at": iso(current.ended_at) if current.ended else None,
            "live": master_uri_from_channel(current.event, vod=False),
            "replay": master_uri_from_channel(current.event, vod=True) if current.replay else None,
            "duration": _seconds(current.duration) if current.ended else None,
        }
    earlier = [e for e in past if e.replay and (current is None or e.event != current.event)]
    earlier.sort(key=lambda e: e.started_at, reverse=True)
    return {
        "schema": SCHEMA,
        "channel": channel,
        "live_window_seconds": live_window_seconds,
        "segment_seconds": segment_seconds,
        "current": now,
        "past": [
            {
                "event": e.event,
                "started_at": iso(e.started_at),
                "duration": _seconds(e.duration),
                "replay": master_uri_from_channel(e.event, vod=True),
            }
            for e in earlier[:PAST_EVENTS]
        ],
    }


def render_channel_state(document: dict[str, Any]) -> bytes:
    """Stable bytes (sorted keys): the same state is the same file, and is not sent again."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode() + b"\n"
