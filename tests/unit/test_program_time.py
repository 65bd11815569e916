"""Capture times of segments (EXT-X-PROGRAM-DATE-TIME): one per segment number, continuous within an FFmpeg run,
anchored on the encoder's clock where a run starts."""

from __future__ import annotations

from encoder.program_time import ProgramClock
from journal.events import Segment

T = 1_796_300_000.0


def segment(seq: int, program_time: float | None, duration: float = 2.0) -> Segment:
    name = f"seg_{seq}.ts"
    return Segment("720p", seq, seq, f"live/ev/720p/{name}", name, name, duration, False, 0.0, None, None, program_time)


def test_a_run_starts_at_its_first_segments_close_less_its_duration_and_follows_the_media() -> None:
    clock = ProgramClock()
    assert clock.time_of(0, 2.0, T + 2.1, new_run=True) == T + 0.1
    assert clock.time_of(1, 1.9, T + 4.5, new_run=False) == T + 2.1  # the media, not the file's mtime
    assert clock.time_of(2, 2.0, T + 9.0, new_run=False) == T + 4.0


def test_every_rendition_gets_the_time_the_first_one_gave_a_segment_number() -> None:
    clock = ProgramClock()
    top = [clock.time_of(n, 2.0, T + 2.0 * (n + 1), new_run=n == 0) for n in range(3)]
    late = [clock.time_of(n, 2.002, T + 2.0 * (n + 1) + 0.4, new_run=n == 0) for n in range(3)]
    assert late == top


def test_a_restart_jumps_to_the_encoders_clock_and_continues_from_there() -> None:
    clock = ProgramClock()
    clock.time_of(0, 2.0, T + 2.0, new_run=True)
    clock.time_of(1, 2.0, T + 4.0, new_run=False)
    assert clock.time_of(2, 2.0, T + 13.0, new_run=True) == T + 11.0  # FFmpeg was away 7 s
    assert clock.time_of(3, 2.0, T + 15.0, new_run=False) == T + 13.0


def test_a_resumed_event_continues_the_times_the_journal_kept() -> None:
    clock = ProgramClock([segment(0, T), segment(1, T + 2.0), segment(2, None)])
    assert clock.time_of(1, 2.0, T + 99.0, new_run=False) == T + 2.0
    assert clock.time_of(2, 2.0, T + 99.0, new_run=False) == T + 4.0  # adopted after a power cut: same run
    assert clock.time_of(3, 2.0, T + 60.0, new_run=True) == T + 58.0
