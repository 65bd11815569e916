"""The soak in 100 s: every fault of the schedule, shorter, against the real stack (see `tests/soak/`).

A small ladder (about 0.6 Mbit/s) through Redis, two workers, moto behind the fault proxies and
`surecast encode`, while the link flaps, goes down, is throttled below the stream bitrate, corrupts
bodies and answers 503; a worker, then every worker, is SIGKILLed; Redis is SIGKILLed and restarted;
the spool disk falls below the encoder's floor. Nothing may be lost, corrupted or listed before it landed.
The full 10-minute run is `python -m tests.soak --minutes 10 --compare`.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.soak.config import SMOKE
from tests.soak.fliprelay import RequestCorrupter
from tests.soak.report import surecast_lines
from tests.soak.schedule import REFERENCE, Kind, flap_phases, scaled
from tests.soak.surecast_run import run_surecast


@pytest.mark.slow
@pytest.mark.timeout(270)
def test_soak_smoke_loses_nothing_corrupts_nothing_and_never_lists_a_missing_segment(tmp_path: Path) -> None:
    result = run_surecast(SMOKE, tmp_path)
    report = "\n".join(surecast_lines(result))
    print(report)
    assert result.encoder_exit == 0, report
    assert result.fault_errors == [], report
    assert {a.fault.kind.value for a in result.applied if a.started is not None} == {k.value for k in Kind}, report
    per_rendition = SMOKE.duration / SMOKE.segment_seconds
    (disk,) = [a for a in result.applied if a.fault.kind == Kind.DISK_LOW]
    paused = (disk.healed or 0.0) - (disk.started or 0.0) + 2 * SMOKE.segment_seconds  # recording pauses there
    assert all(n >= per_rendition - 3 - paused / SMOKE.segment_seconds for n in result.produced.values()), report
    assert result.lost == [] and result.corrupted == [], report
    assert result.intact == result.journal_verified == result.produced_total, report
    assert result.unjournaled == [] and result.numbering_contiguous, report
    assert result.polls > 100 and result.miss_polls == 0, report
    assert result.flips_injected > 0 and result.integrity_reuploads > 0, "the corruption window corrupted nothing"
    assert result.low_disk_seen[0] > 0, "the encoder never saw the disk low (nor paused recording)"
    assert result.cadence.late == 0 and result.ffmpeg_restarts == 0, report
    for name, vod in result.vods.items():
        assert vod is not None, f"no VOD playlist for {name}"
        assert vod.entries == result.produced[name] - result.slates[name] and vod.gaps == 0 and vod.ended, report
        assert vod.exit_code == 0 and vod.decode_errors == 0, report
        assert abs(vod.decoded_seconds - vod.listed_seconds) <= 2 * SMOKE.segment_seconds, report


def test_schedule_scales_every_fault_and_keeps_the_flapping_period() -> None:
    smoke = scaled(120)
    assert [f.kind for f in smoke] == [f.kind for f in REFERENCE]
    outage = next(f for f in smoke if f.kind == Kind.OUTAGE)
    assert (outage.start, outage.window) == (16.0, 24.0)
    flapping = next(f for f in smoke if f.kind == Kind.FLAPPING)
    assert flap_phases(flapping.window) == [
        (0.0, False),
        (1.0, True),
        (2.0, False),
        (3.0, True),
        (4.0, False),
        (5.0, True),
    ]
    assert all(f.window >= 2 for f in smoke if f.window)


@pytest.mark.parametrize(
    ("request_bytes", "flipped_at"),
    [
        (b"PUT /b/k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n", 55),
        (b"PUT /b/k HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 43),
    ],
)
def test_flip_relay_corrupts_one_body_byte_of_chunked_and_sized_requests(request_bytes: bytes, flipped_at: int) -> None:
    armed = threading.Event()
    armed.set()
    corrupter = RequestCorrupter(armed, offset=3)
    out = b"".join(corrupter.feed(request_bytes[i : i + 4]) for i in range(0, len(request_bytes), 4))
    assert [i for i, (a, b) in enumerate(zip(out, request_bytes, strict=True)) if a != b] == [flipped_at]
    assert corrupter.flipped == ["PUT /b/k HTTP/1.1"]
    armed.clear()
    assert RequestCorrupter(armed).feed(request_bytes) == request_bytes
