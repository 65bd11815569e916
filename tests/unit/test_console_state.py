"""The console's big state: one label and plain words for each situation a volunteer meets."""

from __future__ import annotations

import time
from typing import Any

import pytest

from console.history import Point
from console.state import ENCODER_STALE_SECONDS, State, advice_for, console_state, duration

NOW = 1_700_000_000.0
SEGMENT = 2.0


def hhmm(epoch: float) -> str:
    return time.strftime("%H:%M", time.localtime(epoch))


def figures(**changes: Any) -> dict[str, Any]:
    """The figures of a healthy live event, with ``changes``; ``encoder`` entries are merged."""
    base: dict[str, Any] = {
        "segment_seconds": SEGMENT,
        "queue_depth": 0,
        "workers": {"w1@pc": 2},
        "waiting_files": 0,
        "waiting_bytes": 0,
        "oldest_unverified_age_seconds": None,
        "last_verified_at": NOW - 1,
        "waiting_segments": 0,
        "retry_reason": None,
        "failures": [],
        "live_edge_lag": {"180p": 0.4, "360p": 0.0},
        "event": {"id": "ev1", "state": "live", "started_at": NOW - 600},
        "encoder": {"event_id": "ev1", "state": "live", "updated_at": NOW - 0.5, "recording_paused_since": None},
    }
    encoder = changes.pop("encoder", {})
    base.update(changes)
    if encoder is None:
        base["encoder"] = None
    else:
        base["encoder"] = {**base["encoder"], **encoder}
    return base


def rates(upload: float, stream: float) -> list[Point]:
    """Ten seconds of history at these rates (bytes per second)."""
    return [Point(t=NOW - s, upload_rate=upload, stream_rate=stream, backlog_bytes=0) for s in range(10, 0, -2)]


DOWN = {"waiting_files": 6, "waiting_bytes": 3_000_000, "waiting_segments": 5, "oldest_unverified_age_seconds": 7.0}


@pytest.mark.parametrize(
    ("situation", "given", "history", "label", "detail"),
    [
        ("healthy", figures(), [], "LIVE", "0 s behind the encoder"),
        (
            "a file in flight is normal",
            figures(waiting_files=1, oldest_unverified_age_seconds=1.5, live_edge_lag={"180p": 1.5}),
            [],
            "LIVE",
            "2 s behind the encoder",
        ),
        (
            "three seconds without a verification is not yet an outage",
            figures(**{**DOWN, "oldest_unverified_age_seconds": 3.0}, last_verified_at=NOW - 3.0),
            [],
            "LIVE",
            "",
        ),
        (
            "uplink cut",
            figures(**DOWN, last_verified_at=NOW - 7.5),
            [],
            "UPLINK DOWN",
            f"since {hhmm(NOW - 7.5)} (recording safe on this PC, 5 segments waiting, 3 MB)",
        ),
        (
            "uplink cut, with the workers' last error",
            figures(**DOWN, last_verified_at=NOW - 7.5, retry_reason="EndpointConnectionError: could not connect"),
            [],
            "UPLINK DOWN",
            "; last error: EndpointConnectionError: could not connect",
        ),
        (
            "nothing ever verified and files waiting",
            figures(**DOWN, last_verified_at=None),
            [],
            "UPLINK DOWN",
            f"since {hhmm(NOW - 7.0)}",
        ),
        (
            "verifications resumed, backlog draining faster than the stream",
            figures(waiting_files=20, waiting_bytes=4_000_000, oldest_unverified_age_seconds=30.0,
                    last_verified_at=NOW - 0.3, live_edge_lag={"180p": 25.0, "360p": 24.0}),
            rates(upload=300_000, stream=100_000),
            "CATCHING UP",
            "25 s behind, 4 MB to upload, about 20 s to catch up at the current upload rate",
        ),
        (
            "catching up but the uplink is slower than the stream",
            figures(waiting_files=20, waiting_bytes=4_000_000, oldest_unverified_age_seconds=30.0,
                    last_verified_at=NOW - 0.3, live_edge_lag={"180p": 25.0}),
            rates(upload=50_000, stream=100_000),
            "CATCHING UP",
            "not gaining at the current upload rate (0.4 Mbit/s for a 0.8 Mbit/s stream)",
        ),
        (
            "disk full",
            figures(waiting_bytes=5e7, encoder={"recording_paused_since": NOW - 120, "waiting_bytes": 52_000_000}),
            [],
            "DISK FULL",
            f"recording paused since {hhmm(NOW - 120)}, 52 MB waiting to upload",
        ),
        (
            "disk full wins over an uplink cut",
            figures(**DOWN, last_verified_at=NOW - 60, encoder={"recording_paused_since": NOW - 30}),
            [],
            "DISK FULL",
            "recording paused since",
        ),
        (
            "Redis unreachable",
            figures(queue_depth=None, workers=None),
            [],
            "PROBLEM",
            "Redis is unreachable — check that the redis service runs",
        ),
        (
            "the encoder stopped answering",
            figures(encoder={"updated_at": NOW - ENCODER_STALE_SECONDS - 1}),
            [],
            "PROBLEM",
            f"the encoder is not running (last heard from at {hhmm(NOW - ENCODER_STALE_SECONDS - 1)}) — restart it",
        ),
        (
            "no upload worker online",
            figures(workers={}),
            [],
            "PROBLEM",
            "no upload worker is online — start one",
        ),
        ("workers not known yet", figures(workers=None), [], "LIVE", ""),
        (
            "failed files, grouped by reason",
            figures(failures=[
                {"reason": "S3 said NoSuchBucket: The specified bucket does not exist", "files": 3, "example": "k1"},
                {"reason": "S3 said AccessDenied: Access Denied", "files": 1, "example": "k2"},
            ]),
            [],
            "PROBLEM",
            "3 files failed: S3 said NoSuchBucket: The specified bucket does not exist (and 1 other reason) — "
            + advice_for("NoSuchBucket"),
        ),
        (
            "the event ended cleanly",
            figures(encoder={"state": "stopped", "updated_at": NOW - 300}, event={"id": "ev1", "state": "archived"}),
            [],
            "OFF AIR",
            "event ev1 ended",
        ),
        (
            "no event on this PC yet",
            figures(encoder=None, event=None, last_verified_at=None, live_edge_lag={}),
            [],
            "OFF AIR",
            "no event on this PC yet",
        ),
    ],
)  # fmt: skip
def test_each_situation_has_its_state_in_plain_words(
    situation: str, given: dict[str, Any], history: list[Point], label: str, detail: str
) -> None:
    state = console_state(given, history, NOW)
    assert state.label == label, (situation, state)
    assert detail in state.detail, (situation, state)


@pytest.mark.parametrize(
    ("label", "level"),
    [("LIVE", "ok"), ("CATCHING UP", "warn"), ("UPLINK DOWN", "alert"), ("DISK FULL", "alert"),
     ("PROBLEM", "alert"), ("OFF AIR", "idle")],
)  # fmt: skip
def test_each_state_has_a_colour(label: str, level: str) -> None:
    assert State(label, "").level == level
    assert State(label, "d").as_json() == {"label": label, "detail": "d", "level": level}


@pytest.mark.parametrize(
    ("reason", "advice"),
    [
        ("S3 said NoSuchBucket: The specified bucket does not exist", "SURECAST_S3_BUCKET"),
        ("S3 said AccessDenied: Access Denied", "credentials"),
        ("no usable AWS credentials (Unable to locate credentials)", "SURECAST_S3_ACCESS_KEY_ID"),
        ("S3 said SignatureDoesNotMatch: x (6 times in a row)", "venue login page"),
        ("spool file events/ev/180p/seg_3.ts is missing", "cannot be sent again"),
        ("something new", "fix the cause, then press retry now"),
    ],
)
def test_a_failure_reason_comes_with_what_to_do(reason: str, advice: str) -> None:
    assert advice in advice_for(reason)


@pytest.mark.parametrize(("seconds", "text"), [(20, "20 s"), (89, "89 s"), (600, "10 min"), (7500, "2 h 5 min")])
def test_durations_read_plainly(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def timeline(cut: float, back: float, phase: float, until: float) -> list[tuple[float, str]]:
    """The state at each 2 s sample of an event whose uplink is cut at ``cut`` and back at ``back``.

    A segment completes every 2 s, its playlist just after; with the link up each file is verified 0.4 s
    after it completes. What waited drains, in order, at 5 files a second once the link is back.
    """
    created = sorted([float(t) for t in range(0, int(until), 2)] + [t + 0.01 for t in range(0, int(until), 2)])
    verified_at: dict[float, float] = {}
    free = back
    for c in created:
        done = c + 0.4
        if done <= cut:
            verified_at[c] = done
        else:
            free = max(free + 0.2, done)
            verified_at[c] = free
    samples = []
    t = phase
    while t < until:
        verified = [v for c, v in verified_at.items() if v <= t]
        waiting = [c for c, v in verified_at.items() if c <= t < v]
        given = figures(
            waiting_files=len(waiting),
            waiting_segments=len(waiting) // 2,
            waiting_bytes=len(waiting) * 100_000,
            oldest_unverified_age_seconds=t - min(waiting) if waiting else None,
            last_verified_at=max(verified) if verified else None,
            live_edge_lag={"180p": t - min(waiting) if waiting else 0.0},
            encoder={"updated_at": t - 0.5},
        )
        samples.append((t, console_state(given, rates(500_000, 100_000), t).label))
        t += 2.0
    return samples


@pytest.mark.parametrize("phase", [0.0, 0.5, 1.0, 1.5])
@pytest.mark.parametrize("cut", [20.0, 20.5, 21.0, 21.9])
def test_an_uplink_cut_shows_within_10_s_and_live_returns_after_the_link_does(phase: float, cut: float) -> None:
    back = cut + 20
    samples = timeline(cut, back, phase, until=back + 40)
    assert all(label == "LIVE" for t, label in samples if t < cut), samples
    first_down = next(t for t, label in samples if label == "UPLINK DOWN")
    # The page polls the snapshot every second: the sample plus one poll stays within 10 s of the cut.
    assert first_down + 1.0 - cut <= 10.0, samples
    assert all(label == "UPLINK DOWN" for t, label in samples if first_down <= t < back), samples
    assert samples[-1][1] == "LIVE", samples
    assert "UPLINK DOWN" not in {label for t, label in samples if t > back + 4}, samples


def _destination(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "bucket": "b",
        "queue_depth": 0,
        "waiting_files": 0,
        "waiting_bytes": 0,
        "oldest_unverified_age_seconds": None,
        "failed": 0,
        "last_success_at": NOW - 1,
        "live_edge_lag": {"180p": 0.5},
    }
    return {**base, **changes}


def test_each_destination_gets_its_word_beside_the_primarys_big_state() -> None:
    down = _destination(waiting_files=30, waiting_bytes=9_000_000, oldest_unverified_age_seconds=40.0,
                        last_success_at=NOW - 40)  # fmt: skip
    given = figures(destinations={"primary": _destination(), "b2": down, "b3": _destination(failed=2)})
    from console.state import destination_lines

    lines = {d["name"]: d for d in destination_lines(given, NOW)}
    assert [d["state"] for d in lines.values()] == ["LIVE", "DOWN", "PROBLEM"]
    assert lines["b2"]["detail"].startswith(f"nothing delivered since {hhmm(NOW - 40)}, 30 files waiting (9 MB)")
    assert console_state(given, [], NOW).label == "LIVE", "a backup's trouble is not the volunteer's uplink"
    assert destination_lines(figures(destinations={"primary": _destination()}), NOW) == []


def test_with_the_uplink_to_the_primary_down_the_state_says_which_backup_viewers_still_get() -> None:
    given = figures(**DOWN, last_verified_at=NOW - 30, destinations={
        "primary": _destination(waiting_files=6, oldest_unverified_age_seconds=30.0, last_success_at=NOW - 30),
        "b2": _destination(),
    })  # fmt: skip
    state = console_state(given, [], NOW)
    assert state.label == "UPLINK DOWN" and state.detail.endswith("viewers still get the stream from b2")
