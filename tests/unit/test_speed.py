"""The encoder's speed against real time, from its segments' completion times."""

from __future__ import annotations

import pytest

from encoder.speed import SLOW_RATIO, WINDOW, SpeedWatch


def fed(every: float, duration: float, count: int, start: float = 1000.0) -> SpeedWatch:
    watch = SpeedWatch()
    for n in range(count):
        watch.saw(start + n * every, duration, new_run=n == 0)
    return watch


@pytest.mark.parametrize(("every", "expected"), [(2.0, 1.0), (2.2, 2.0 / 2.2), (1.9, 2.0 / 1.9), (2.5, 0.8)])
def test_the_ratio_is_media_per_wall_second(every: float, expected: float) -> None:
    assert fed(every, 2.0, 20).ratio() == pytest.approx(expected)


def test_real_time_with_jitter_is_not_slow() -> None:
    watch = SpeedWatch()
    t = 0.0
    for n in range(40):
        t += 2.0 + (0.04 if n % 2 else -0.04)
        watch.saw(t, 2.0, new_run=n == 0)
    assert not watch.slow(t)


def test_slower_than_real_time_for_a_whole_window_is_slow() -> None:
    slow = fed(2.2, 2.0, 20)
    assert slow.ratio() is not None and slow.ratio() < SLOW_RATIO  # type: ignore[operator]
    assert slow.slow(1000.0 + 19 * 2.2)


def test_a_short_spell_is_not_yet_slow() -> None:
    assert not fed(2.2, 2.0, 5).slow(1000.0 + 4 * 2.2)  # 8.8 s of a 30 s window


def test_a_restart_starts_the_measure_again() -> None:
    watch = fed(2.4, 2.0, 20)
    watch.saw(2000.0, 2.0, new_run=True)
    assert watch.ratio() is None and not watch.slow(2000.0)


def test_no_segments_for_a_window_is_not_a_speed() -> None:
    watch = fed(2.2, 2.0, 20)
    assert not watch.slow(1000.0 + 19 * 2.2 + WINDOW + 1)
