"""The HLS renderer and parser (core/hls.py): PROGRAM-DATE-TIME and AVERAGE-BANDWIDTH, read back by the
`m3u8` package in strict mode, an independent parser."""

from __future__ import annotations

import m3u8
import pytest

from core.hls import (
    MasterPlaylist,
    MediaPlaylist,
    MediaSegment,
    Variant,
    parse_playlist,
    program_date_time,
    render_master_playlist,
    render_media_playlist,
)

T0 = 1_796_300_000.0  # 2026-12-03T12:13:20Z


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (T0, "2026-12-03T12:13:20.000Z"),
        (T0 + 0.0004, "2026-12-03T12:13:20.000Z"),
        (T0 + 0.0006, "2026-12-03T12:13:20.001Z"),
        (T0 + 1.9995, "2026-12-03T12:13:22.000Z"),
        (T0 + 59.25, "2026-12-03T12:14:19.250Z"),
    ],
)
def test_program_date_time_is_utc_to_the_millisecond(seconds: float, text: str) -> None:
    assert program_date_time(seconds) == text


def test_every_segment_carries_its_program_date_time_and_reads_back() -> None:
    segments = (
        MediaSegment("seg_0.ts", 2.0, program_time=T0),
        MediaSegment("seg_1.ts", 2.0, program_time=T0 + 2.0),
        MediaSegment("seg_2.ts", 2.0, discontinuity=True, program_time=T0 + 9.5),
    )
    text = render_media_playlist(MediaPlaylist(segments, 2, media_sequence=4))
    lines = text.splitlines()
    assert lines.count("#EXT-X-PROGRAM-DATE-TIME:2026-12-03T12:13:20.000Z") == 1
    for i, line in enumerate(lines):  # each right before its EXTINF, after a discontinuity
        if line.startswith("#EXTINF"):
            assert lines[i - 1].startswith("#EXT-X-PROGRAM-DATE-TIME:")
    strict = m3u8.M3U8(text, strict=True)
    times = [s.program_date_time.timestamp() for s in strict.segments]
    assert times == [T0, T0 + 2.0, T0 + 9.5]
    parsed = parse_playlist(text)
    assert isinstance(parsed, MediaPlaylist)
    assert [s.program_time for s in parsed.segments] == [T0, T0 + 2.0, T0 + 9.5]


def test_a_segment_without_a_time_gets_no_tag() -> None:
    text = render_media_playlist(MediaPlaylist((MediaSegment("seg_0.ts", 2.0),), 2))
    assert "PROGRAM-DATE-TIME" not in text


def test_average_bandwidth_is_announced_beside_the_peak() -> None:
    variants = [
        Variant("720p/live.m3u8", 3_500_000, 1280, 720, 30.0, "avc1.64001f,mp4a.40.2", average_bandwidth=2_900_000),
        Variant("360p/live.m3u8", 1_100_000, 640, 360, 30.0, "avc1.64001e,mp4a.40.2"),
    ]
    text = render_master_playlist(variants)
    strict = m3u8.M3U8(text, strict=True)
    assert strict.playlists[0].stream_info.average_bandwidth == 2_900_000
    assert strict.playlists[1].stream_info.average_bandwidth is None
    parsed = parse_playlist(text)
    assert isinstance(parsed, MasterPlaylist)
    assert [v.average_bandwidth for v in parsed.variants] == [2_900_000, None]
