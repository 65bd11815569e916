"""The console's history: 30 minutes of points in a ring buffer whose size never grows past its bound."""

from __future__ import annotations

import pytest

from console.figures import point_of
from console.history import History, Point, hours_left


def point(t: float, backlog: int = 0) -> Point:
    return Point(t=t, upload_rate=1.0, stream_rate=2.0, backlog_bytes=backlog)


@pytest.mark.parametrize(("window", "interval"), [(1800.0, 2.0), (60.0, 2.0), (10.0, 0.5)])
def test_the_buffer_keeps_the_window_and_no_more(window: float, interval: float) -> None:
    history = History(window=window, interval=interval)
    samples = int(window / interval) * 3
    for i in range(samples):
        history.append(point(i * interval))
    kept = history.points()
    assert len(history) <= history.capacity == int(window / interval) + 1
    assert kept[-1].t == (samples - 1) * interval
    assert kept[-1].t - kept[0].t <= window
    assert [p.t for p in kept] == sorted(p.t for p in kept)


def test_a_sampler_that_runs_fast_cannot_grow_the_buffer_past_its_bound() -> None:
    history = History(window=60.0, interval=2.0)
    for i in range(10_000):
        history.append(point(1000 + i * 0.001))  # all within the window: only the bound applies
    assert len(history) == history.capacity == 31


def test_a_clock_set_back_does_not_keep_points_from_the_future_forever() -> None:
    history = History(window=60.0, interval=2.0)
    for i in range(31):
        history.append(point(10_000 + i * 2))
    history.append(point(100.0))
    for i in range(40):
        history.append(point(100.0 + i * 2))
    assert len(history) <= history.capacity
    assert max(p.t for p in history.points()) >= 100.0


@pytest.mark.parametrize(
    ("since", "expected"), [(None, [0.0, 2.0, 4.0, 6.0]), (2.0, [4.0, 6.0]), (6.0, []), (-1, [0.0, 2.0, 4.0, 6.0])]
)
def test_points_after_a_time_are_what_the_page_has_not_seen(since: float | None, expected: list[float]) -> None:
    history = History()
    for t in (0.0, 2.0, 4.0, 6.0):
        history.append(point(t))
    assert [p.t for p in history.points(since)] == expected


@pytest.mark.parametrize(
    ("free", "rate", "hours"),
    [
        (3_600_000_000, 1_000_000, 1.0),
        (90_000_000_000, 125_000, 200.0),
        (None, 1.0, None),
        (10, None, None),
        (10, 0.0, None),
    ],
)
def test_hours_left_is_free_space_over_the_stream_rate(
    free: int | None, rate: float | None, hours: float | None
) -> None:
    assert hours_left(free, rate) == hours


def test_a_point_is_taken_from_the_figures_the_status_gives() -> None:
    figures = {
        "now": 12.5,
        "upload_rate": 1234.56,
        "stream_rate": None,
        "waiting_bytes": 99,
        "live_edge_lag": {"180p": 1.5},
        "disk_free_bytes": 1000,
        "hours_left": None,
        "workers_online": 2,
        "ffmpeg_restarts": 1,
    }
    p = point_of(figures)
    assert p == Point(12.5, 1234.6, None, 99, {"180p": 1.5}, 1000, None, 2, 1)
    assert p.as_json()["lag"] == {"180p": 1.5}
