"""Unit tests of the encoder's pure logic: FFmpeg arguments, key naming, playlist parsing and rendering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from core.encoder_settings import EncoderSection
from core.hls import (
    MasterPlaylist,
    MediaPlaylist,
    MediaSegment,
    Variant,
    parse_playlist,
    render_master_playlist,
    target_duration,
)
from core.hls import render_media_playlist as render_hls
from core.ladder import PRESETS, Rendition, parse_renditions
from encoder.command import EncodePlan, build_command, codecs_attribute, ffmpeg_argv, h264_level
from encoder.diskguard import stale_playlist_versions
from encoder.ingest import read_local_playlist as parse_local_playlist
from encoder.keys import EventLayout, event_id_for, segment_seq
from encoder.live import media_playlist as render_media_playlist
from encoder.sources import SourceKind, parse_source
from encoder.timeline import Entry, advance_frontier, discontinuities_before, live_window
from journal.events import Segment

# ---------------------------------------------------------------------------------------------- FFmpeg args


def _args(source: str = "testsrc", **settings: object) -> list[str]:
    cfg = EncoderSection.model_validate(settings)
    top = cfg.ladder[0]
    src = parse_source(source, cfg.audio, top.width, top.height, cfg.framerate)
    dirs = {r.name: Path(f"/spool/events/e/{r.name}") for r in cfg.ladder}
    args: list[str] = build_command(EncodePlan(src, cfg.ladder, dirs, 17, cfg)).get_args()
    return args


def _option(args: list[str], name: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == name]


@pytest.mark.parametrize(
    ("segment_seconds", "framerate", "gop", "expr"),
    [
        (2.0, 30, "60", "expr:gte(t,n_forced*2)"),
        (4.0, 25, "100", "expr:gte(t,n_forced*4)"),
        (1.5, 30, "45", "expr:gte(t,n_forced*1.5)"),
    ],
)
def test_keyframes_are_aligned_to_the_segment_duration(
    segment_seconds: float, framerate: int, gop: str, expr: str
) -> None:
    args = _args(segment_seconds=segment_seconds, framerate=framerate)
    assert _option(args, "-g") == [gop]
    assert _option(args, "-keyint_min") == [gop]
    assert _option(args, "-force_key_frames") == [expr]
    assert _option(args, "-sc_threshold") == ["0"]
    assert _option(args, "-hls_time") == [f"{segment_seconds:g}"]


def test_the_low_latency_profile_cuts_one_second_segments_with_one_second_gops() -> None:
    args = _args(profile="low-latency", framerate=30)
    assert _option(args, "-g") == ["30"]
    assert _option(args, "-force_key_frames") == ["expr:gte(t,n_forced*1)"]
    assert _option(args, "-hls_time") == ["1"]
    assert _option(args, "-tune") == ["zerolatency"]  # x264 holds no frames back
    assert _option(_args(), "-tune") == []
    # half a segment of buffer, as 2 s segments have: BANDWIDTH holds
    assert _option(args, "-bufsize") == [f"{round(PRESETS['720p'].maxrate_kbps / 2)}k"]
    assert _option(_args(), "-bufsize") == [f"{PRESETS['720p'].maxrate_kbps}k"]


@pytest.mark.parametrize("renditions", ["720p", "1080p,720p,480p", "640x360@800k,320x180@250k"])
def test_one_hls_output_per_rendition_numbered_from_the_start_number(renditions: str) -> None:
    ladder = parse_renditions(renditions)
    args = _args(renditions=renditions)
    outputs = [a for a in args if a.endswith("ffmpeg.m3u8")]
    assert outputs == [f"/spool/events/e/{r.name}/ffmpeg.m3u8" for r in ladder]
    assert _option(args, "-hls_segment_filename") == [f"/spool/events/e/{r.name}/seg_%d.ts" for r in ladder]
    assert _option(args, "-start_number") == ["17"] * len(ladder)
    assert _option(args, "-b:v") == [f"{r.video_kbps}k" for r in ladder]
    assert all("temp_file" in flags for flags in _option(args, "-hls_flags"))
    assert _option(args, "-f").count("hls") == len(ladder)
    graph = _option(args, "-filter_complex")[0]
    assert (f"split={len(ladder)}" in graph) == (len(ladder) > 1)
    for r in ladder:
        assert f"scale={r.width}:{r.height}" in graph


@pytest.mark.parametrize(
    ("source", "audio", "inputs", "maps_audio"),
    [
        (
            "testsrc",
            "none",
            ["testsrc2=size=1280x720:rate=30", "sine=frequency=1000:beep_factor=4:sample_rate=48000"],
            "1:a",
        ),
        ("file:/media/talk.mp4", "none", ["/media/talk.mp4"], "0:a?"),
        ("/media/talk.mp4", "none", ["/media/talk.mp4"], "0:a?"),
        ("rtmp://0.0.0.0:1935/live/key", "none", ["rtmp://0.0.0.0:1935/live/key"], "0:a?"),
        ("srt://0.0.0.0:9000", "none", ["srt://0.0.0.0:9000?mode=listener"], "0:a?"),
        ("srt-pull://10.0.0.5:9000", "none", ["srt://10.0.0.5:9000?mode=caller"], "0:a?"),
        ("v4l2:/dev/video0", "alsa:hw:1", ["/dev/video0", "hw:1"], "1:a"),
        ("v4l2:/dev/video0", "none", ["/dev/video0", "anullsrc=channel_layout=stereo:sample_rate=48000"], "1:a"),
        ("dshow:video=USB Camera:audio=Mic", "none", ["video=USB Camera:audio=Mic"], "0:a"),
        ("avfoundation:0:0", "none", ["0:0"], "0:a"),
    ],
)
def test_sources_become_inputs_and_every_output_gets_audio(
    source: str, audio: str, inputs: list[str], maps_audio: str
) -> None:
    args = _args(source, audio=audio)
    assert _option(args, "-i") == inputs
    assert maps_audio in _option(args, "-map")


@pytest.mark.parametrize(
    ("source", "before_input"),
    [
        ("testsrc", ["-f", "lavfi", "-re"]),
        ("file:/m.mp4", ["-re", "-stream_loop", "-1"]),
        ("rtmp://0.0.0.0/live/k", ["-listen", "1"]),
        ("https://example.com/live.m3u8", ["-rw_timeout", "5000000"]),
        ("v4l2:/dev/video2", ["-f", "v4l2", "-framerate", "30"]),
    ],
)
def test_input_options_precede_the_input(source: str, before_input: list[str]) -> None:
    args = _args(source)
    first_input = args.index("-i")
    assert args[first_input - len(before_input) : first_input] == before_input


@pytest.mark.parametrize(
    ("spec", "kind", "waits"),
    [
        ("testsrc", SourceKind.TESTSRC, False),
        ("rtmp://0.0.0.0:1935/live/x", SourceKind.LISTEN, True),
        ("srt://:9000?mode=caller", SourceKind.PULL, False),
        ("lavfi:smptebars", SourceKind.LAVFI, False),
    ],
)
def test_source_kinds(spec: str, kind: SourceKind, waits: bool) -> None:
    source = parse_source(spec, "none", 640, 360, 30)
    assert source.kind == kind
    assert source.waits_for_push == waits


@pytest.mark.parametrize(
    "spec", ["", "gopher://x", "v4l2:video0", "dshow:audio=Mic", "file:", "lavfi:", "avfoundation:"]
)
def test_bad_source_specs_are_refused_with_a_reason(spec: str) -> None:
    with pytest.raises(ValueError, match=r".+"):
        parse_source(spec, "none", 640, 360, 30)


def test_segment_type_fmp4_names_an_init_segment_per_run() -> None:
    args = _args(segment_type="fmp4")
    assert _option(args, "-hls_segment_type") == ["fmp4"]
    assert _option(args, "-hls_fmp4_init_filename") == ["init_17.mp4"]
    assert _option(args, "-hls_segment_filename") == ["/spool/events/e/720p/seg_%d.m4s"]


def test_clock_is_burnt_into_the_test_pattern_only() -> None:
    assert "drawtext" in _option(_args("testsrc"), "-filter_complex")[0]
    assert "drawtext" not in _option(_args("testsrc", clock=False), "-filter_complex")[0]
    assert "drawtext" not in _option(_args("file:/m.mp4"), "-filter_complex")[0]


def test_global_options_come_before_the_inputs() -> None:
    cfg = EncoderSection()
    src = parse_source("testsrc", "none", 1280, 720, 30)
    argv = ffmpeg_argv("/bin/ffmpeg", EncodePlan(src, cfg.ladder, {"720p": Path("/s")}, 0, cfg))
    assert argv[0] == "/bin/ffmpeg"
    assert argv.index("-nostdin") < argv.index("-i")
    assert argv.index("-y") < argv.index("-i")


@pytest.mark.parametrize(
    ("hardware", "codec", "extra"),
    [("nvenc", "h264_nvenc", "-forced-idr"), ("qsv", "h264_qsv", None), ("vaapi", "h264_vaapi", "-vaapi_device")],
)
def test_hardware_encoders(hardware: str, codec: str, extra: str | None) -> None:
    cfg = EncoderSection(hardware=hardware)  # type: ignore[arg-type]
    src = parse_source("testsrc", "none", 1280, 720, 30)
    argv = ffmpeg_argv("ffmpeg", EncodePlan(src, cfg.ladder, {"720p": Path("/s")}, 0, cfg, codec))
    assert _option(argv, "-c:v") == [codec]
    assert "-preset" not in argv or codec == "h264_nvenc"
    if extra:
        assert extra in argv


@pytest.mark.parametrize(
    ("name", "fps", "level", "codecs"),
    [
        ("1080p", 30, "4.0", "avc1.4d4028,mp4a.40.2"),
        ("720p", 30, "3.1", "avc1.4d401f,mp4a.40.2"),
        ("360p", 30, "3.0", "avc1.4d401e,mp4a.40.2"),
        ("1080p", 60, "4.2", "avc1.4d402a,mp4a.40.2"),
    ],
)
def test_h264_level_and_codecs_attribute(name: str, fps: int, level: str, codecs: str) -> None:
    assert h264_level(PRESETS[name], fps) == level
    assert codecs_attribute(PRESETS[name], fps) == codecs


# ---------------------------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("spec", "names"),
    [("720p", ["720p"]), ("1080p, 720p ,480p", ["1080p", "720p", "480p"]), ("640x360@800k", ["360p"])],
)
def test_rendition_ladder_parsing(spec: str, names: list[str]) -> None:
    assert [r.name for r in parse_renditions(spec)] == names


@pytest.mark.parametrize("spec", ["", "99p", "641x360@800k", "720p,720p", "640x360"])
def test_bad_ladders_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match=r".+"):
        parse_renditions(spec)


@pytest.mark.parametrize(("env", "field", "value"), [
    ({"SURECAST_ENCODER_SEGMENT_SECONDS": "4"}, "segment_seconds", 4.0),
    ({"SURECAST_ENCODER_POLICY": "live-edge"}, "policy", "live-edge"),
    ({"SURECAST_ENCODER_RENDITIONS": "720p,480p"}, "renditions", "720p,480p"),
    ({"SURECAST_ENCODER_PUBLISH_DELAY": "6"}, "publish_delay", 6.0),
])  # fmt: skip
def test_encoder_settings_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], field: str, value: object
) -> None:
    from core.settings import load_settings

    for name, raw in env.items():
        monkeypatch.setenv(name, raw)
    assert getattr(load_settings().encoder, field) == value


# ---------------------------------------------------------------------------------------------- keys


@pytest.mark.parametrize(
    ("prefix", "event", "key"),
    [
        ("live", "ev1", "live/ev1/720p/seg_42.ts"),
        ("", "ev1", "ev1/720p/seg_42.ts"),
        ("a/b/", "x", "a/b/x/720p/seg_42.ts"),
    ],
)
def test_segment_keys_are_unique_per_event_and_rendition(prefix: str, event: str, key: str) -> None:
    assert EventLayout(prefix, event).segment_key("720p", "seg_42.ts") == key


def test_event_layout_names_every_file() -> None:
    layout = EventLayout("live", "20250131T184500Z")
    assert layout.live_key("480p") == "live/20250131T184500Z/480p/live.m3u8"
    assert layout.vod_key("480p") == "live/20250131T184500Z/480p/vod.m3u8"
    assert layout.master_key() == "live/20250131T184500Z/master.m3u8"
    assert layout.master_key(vod=True) == "live/20250131T184500Z/master_vod.m3u8"
    assert layout.segment_path("480p", "seg_3.ts") == "events/20250131T184500Z/480p/seg_3.ts"
    assert layout.local_playlist("480p") == "events/20250131T184500Z/480p/ffmpeg.m3u8"


@pytest.mark.parametrize(
    ("key", "version", "path"),
    [
        ("live/e/720p/live.m3u8", 7, "events/e/playlists/720p-live.7.m3u8"),
        ("live/e/master.m3u8", 1, "events/e/playlists/master.1.m3u8"),
    ],
)
def test_each_playlist_version_gets_its_own_spool_file(key: str, version: int, path: str) -> None:
    assert EventLayout("live", "e").playlist_path(key, version) == path


@pytest.mark.parametrize(
    ("start", "event_id"),
    [
        (datetime(2025, 1, 31, 18, 45, 0, tzinfo=UTC), "20250131T184500Z"),
        (datetime(2025, 1, 31, 19, 45, 0, tzinfo=timezone(timedelta(hours=1))), "20250131T184500Z"),
    ],
)
def test_event_id_from_start_time_is_utc(start: datetime, event_id: str) -> None:
    assert event_id_for(start) == event_id


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "-x", "x" * 65])
def test_bad_event_ids_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="event id"):
        EventLayout("live", bad)


@pytest.mark.parametrize(
    ("name", "seq"),
    [("seg_0.ts", 0), ("seg_1234.m4s", 1234), ("seg_7.ts.tmp", None), ("init_3.mp4", None), ("x.ts", None)],
)
def test_segment_numbers_from_file_names(name: str, seq: int | None) -> None:
    assert segment_seq(name) == seq


# ---------------------------------------------------------------------------------------------- local playlist

FFMPEG_PLAYLIST = """#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXTINF:2.000000,
seg_7.ts
#EXTINF:1.966667,
/abs/dir/seg_8.ts
#EXTINF:2.000000,"""


def test_local_playlist_lists_complete_segments_only() -> None:
    parsed = parse_local_playlist(FFMPEG_PLAYLIST)
    assert [(s.name, s.seq, s.duration) for s in parsed.segments] == [("seg_7.ts", 7, 2.0), ("seg_8.ts", 8, 1.966667)]
    assert not parsed.ended


@pytest.mark.parametrize(
    ("text", "names", "init", "ended"),
    [
        ("", [], None, False),
        ("#EXTM3U\n#EXTINF:2.0,\nseg_1.ts\n#EXT-X-ENDLIST", ["seg_1.ts"], None, True),
        ('#EXTM3U\n#EXT-X-MAP:URI="init_5.mp4"\n#EXTINF:2.0,\nseg_5.m4s\n', ["seg_5.m4s"], "init_5.mp4", False),
        ("#EXTM3U\n#EXTINF:bad,\nseg_1.ts\n#EXTINF:2,\nother.ts\n", [], None, False),
    ],
)
def test_local_playlist_variants(text: str, names: list[str], init: str | None, ended: bool) -> None:
    parsed = parse_local_playlist(text)
    assert [s.name for s in parsed.segments] == names
    assert parsed.init_name == init
    assert parsed.ended == ended


# ---------------------------------------------------------------------------------------------- timeline


def _seg(msn: int, completed_at: float = 100.0, discontinuity: bool = False, duration: float = 2.0) -> Segment:
    name = f"seg_{msn + 10}.ts"
    return Segment(
        "720p",
        msn,
        msn + 10,
        f"live/e/720p/{name}",
        name,
        f"events/e/720p/{name}",
        duration,
        discontinuity,
        completed_at,
    )


SEGS = [_seg(i, completed_at=100.0 + 2 * i) for i in range(6)]


def _verified(*msns: int) -> set[str]:
    return {SEGS[i].key for i in msns}


@pytest.mark.parametrize(
    ("policy", "verified", "now", "delay", "frontier"),
    [
        ("complete", _verified(0, 1, 2), 200.0, 0.0, 3),
        ("complete", _verified(0, 2, 3), 200.0, 0.0, 1),  # 1 on its way (a backlog, a dead worker): the edge waits
        ("complete", _verified(0), 200.0, 0.0, 1),  # nothing later landed: the link is down, the edge waits
        ("complete", _verified(0, 1, 2, 3, 4, 5), 105.0, 0.0, 3),
        ("complete", _verified(0, 1, 2, 3, 4, 5), 105.0, 4.0, 1),  # publish delay: only segments 4 s old
        ("live-edge", _verified(0, 2, 3), 103.0, 0.0, 1),  # 1 is due at 102, the gap deadline is 104
        ("live-edge", _verified(0, 2, 3), 104.0, 0.0, 3),  # past the deadline: listed as a gap, edge moves on
        ("live-edge", _verified(0, 2, 3), 200.0, 0.0, 6),  # 4, 5 missing too and past their deadlines
        ("live-edge", set(), 101.0, 0.0, 0),
    ],
)
def test_live_frontier_by_policy(policy: str, verified: set[str], now: float, delay: float, frontier: int) -> None:
    got = advance_frontier(SEGS, 0, verified, policy, now, delay, gap_deadline=2.0)  # type: ignore[arg-type]
    assert got == frontier


@pytest.mark.parametrize(("now", "frontier"), [(103.0, 1), (104.0, 3), (200.0, 4)])
def test_under_complete_a_stuck_segment_holds_the_edge_only_until_its_deadline(now: float, frontier: int) -> None:
    stuck = {SEGS[1].key}  # its upload failed for good; 4 is merely on its way and holds the edge
    assert advance_frontier(SEGS, 0, _verified(0, 2, 3), "complete", now, 0.0, 2.0, stuck) == frontier


def test_frontier_never_moves_back() -> None:
    assert advance_frontier(SEGS, 4, set(), "complete", 0.0, 0.0, 2.0) == 4


@pytest.mark.parametrize(
    ("frontier", "window", "first", "count"), [(6, 3, 3, 3), (2, 3, 0, 2), (6, 0, 0, 6), (0, 3, 0, 0)]
)
def test_live_window_slides(frontier: int, window: int, first: int, count: int) -> None:
    entries, start = live_window(SEGS, frontier, window, _verified(*range(6)))
    assert start == first
    assert [e.segment.msn for e in entries] == list(range(first, first + count))


def test_missing_segments_in_the_window_are_gaps_until_they_land() -> None:
    entries, _ = live_window(SEGS, 4, 0, _verified(0, 2, 3))
    assert [e.gap for e in entries] == [False, True, False, False]
    entries, _ = live_window(SEGS, 4, 0, _verified(0, 1, 2, 3))
    assert not any(e.gap for e in entries)


def test_discontinuity_sequence_counts_breaks_before_the_window() -> None:
    segs = [_seg(0), _seg(1, discontinuity=True), _seg(2), _seg(3, discontinuity=True), _seg(4)]
    assert [discontinuities_before(segs, i) for i in range(5)] == [0, 0, 1, 1, 2]


# ---------------------------------------------------------------------------------------------- rendering


def test_live_playlist_lists_segments_in_order_with_sequence_numbers() -> None:
    text = render_media_playlist([Entry(s) for s in SEGS[2:5]], target=2, media_sequence=2)
    assert text == (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:2\n"
        "#EXT-X-INDEPENDENT-SEGMENTS\n"
        "#EXTINF:2.000,\nseg_12.ts\n#EXTINF:2.000,\nseg_13.ts\n#EXTINF:2.000,\nseg_14.ts\n"
    )


def test_discontinuity_and_gap_tags() -> None:
    entries = [Entry(_seg(0)), Entry(_seg(1, discontinuity=True), gap=True), Entry(_seg(2))]
    lines = render_media_playlist(entries, target=2, discontinuity_sequence=3).splitlines()
    assert "#EXT-X-VERSION:8" in lines
    assert "#EXT-X-DISCONTINUITY-SEQUENCE:3" in lines
    i = lines.index("seg_11.ts")
    assert lines[i - 3 : i] == ["#EXT-X-DISCONTINUITY", "#EXTINF:2.000,", "#EXT-X-GAP"]
    assert "#EXT-X-ENDLIST" not in lines


@pytest.mark.parametrize(
    ("vod", "ended", "type_tag", "endlist"),
    [(True, False, True, True), (False, True, False, True), (False, False, False, False)],
)
def test_vod_and_ended_playlists(vod: bool, ended: bool, type_tag: bool, endlist: bool) -> None:
    lines = render_media_playlist([Entry(s) for s in SEGS], target=2, vod=vod, ended=ended).splitlines()
    assert ("#EXT-X-PLAYLIST-TYPE:VOD" in lines) == type_tag
    assert (lines[-1] == "#EXT-X-ENDLIST") == endlist


def test_fmp4_playlists_name_the_init_segment_of_each_run() -> None:
    a = Segment("720p", 0, 0, "k0", "seg_0.m4s", "p0", 2.0, False, 0.0, "ki0", "init_0.mp4")
    b = Segment("720p", 1, 1, "k1", "seg_1.m4s", "p1", 2.0, False, 0.0, "ki0", "init_0.mp4")
    c = Segment("720p", 2, 5, "k5", "seg_5.m4s", "p5", 2.0, True, 0.0, "ki5", "init_5.mp4")
    lines = render_media_playlist([Entry(a), Entry(b), Entry(c)], target=2).splitlines()
    assert [line for line in lines if line.startswith("#EXT-X-MAP")] == [
        '#EXT-X-MAP:URI="init_0.mp4"',
        '#EXT-X-MAP:URI="init_5.mp4"',
    ]
    assert "#EXT-X-VERSION:6" in lines


@pytest.mark.parametrize(
    ("durations", "floor", "target"), [([2.0, 2.0], 2, 2), ([2.0, 2.49], 2, 2), ([2.0, 2.5], 2, 3), ([], 4, 4)]
)
def test_target_duration_covers_every_segment(durations: list[float], floor: int, target: int) -> None:
    assert target_duration(durations, floor) == target


def test_master_playlist_lists_the_ladder() -> None:
    ladder = [Rendition("720p", 1280, 720, 2800), Rendition("480p", 854, 480, 1200, 96)]
    variants = [
        Variant(f"{r.name}/live.m3u8", r.bandwidth, r.width, r.height, 30.0, "avc1.4d401f,mp4a.40.2") for r in ladder
    ]
    lines = render_master_playlist(variants).splitlines()
    assert lines[0] == "#EXTM3U"
    assert lines[4] == "720p/live.m3u8" and lines[6] == "480p/live.m3u8"
    assert lines[3].startswith("#EXT-X-STREAM-INF:BANDWIDTH=") and "RESOLUTION=1280x720" in lines[3]
    assert 'CODECS="avc1.4d401f,mp4a.40.2"' in lines[3]


# ---------------------------------------------------------------------------------------------- disk guard


@pytest.mark.parametrize(
    ("names", "stale"),
    [
        (["720p-live.1.m3u8", "720p-live.2.m3u8", "master.1.m3u8"], ["720p-live.1.m3u8"]),
        (["720p-live.9.m3u8", "720p-live.10.m3u8", ".720p-live.11.m3u8.tmp"], ["720p-live.9.m3u8"]),
        (["master.1.m3u8"], []),
    ],
)
def test_superseded_playlist_versions(names: list[str], stale: list[str]) -> None:
    assert stale_playlist_versions(names) == stale


def test_the_one_parser_reads_back_what_the_one_renderer_writes() -> None:
    written = MediaPlaylist(
        (
            MediaSegment("seg_4.m4s", 2.0, init_uri="init_4.mp4"),
            MediaSegment("seg_5.m4s", 1.5, discontinuity=True, gap=True, init_uri="init_5.mp4"),
        ),
        target_duration=2,
        media_sequence=4,
        discontinuity_sequence=1,
        ended=True,
    )
    assert parse_playlist(render_hls(written)) == written
    variants = (Variant("720p/live.m3u8", 3_000_000, 1280, 720, 30.0, "avc1.4d401f,mp4a.40.2"),)
    assert parse_playlist(render_master_playlist(variants)) == MasterPlaylist(variants)


def test_a_vod_master_gives_the_measured_peak_and_average_without_slates() -> None:
    from encoder.live import measured_bandwidth

    def seg(name: str, size: int, duration: float = 2.0) -> Segment:
        return Segment("360p", 0, 0, f"k/{name}", name, name, duration, False, 0.0, None, None, 0.0, size)

    recorded = [seg("seg_0.ts", 250_000), seg("seg_1.ts", 200_000), seg("seg_2.ts", 100_000, 1.0)]
    assert measured_bandwidth(recorded) == (1_000_000, 880_000)
    assert measured_bandwidth([*recorded, seg("slate_3.ts", 900_000)]) == (1_000_000, 880_000)
    assert measured_bandwidth([seg("seg_0.ts", 0)]) == (None, None)  # an older journal kept no sizes


@pytest.mark.parametrize("name", ["1080p", "720p", "480p", "360p", "240p", "180p"])
def test_a_rung_declares_its_peak_above_its_capped_rate_and_an_average_below_it(name: str) -> None:
    from core.ladder import PRESETS

    rung = PRESETS[name]
    capped = (rung.maxrate_kbps + rung.audio_kbps) * 1000
    assert rung.average_bandwidth < capped < rung.bandwidth


def test_a_slate_is_due_once_the_live_edge_would_wait_too_long() -> None:
    from encoder.slate import SLATE_LIMIT, slate_due

    def last(name: str, completed_at: float, program_time: float, duration: float = 2.0) -> Segment:
        return Segment("360p", 0, 0, f"k/{name}", name, name, duration, False, completed_at, None, None, program_time)

    real = [last("seg_9.ts", 100.0, 80.0), last("seg_9.ts", 100.1, 80.0)]
    assert slate_due(real, 102.5, 2.0, 100.1) is None  # 1.24 segments: FFmpeg may still deliver
    assert slate_due(real, 102.7, 2.0, 100.1) == 82.0  # 1.25 segments: a slate, where the media ended
    lagging = [last("seg_9.ts", 100.0, 80.0), last("seg_8.ts", 99.0, 78.0)]
    assert slate_due(lagging, 103.0, 2.0, 100.0) == 82.0  # one time for the slate everywhere: the furthest end
    slate = [last("slate_10.ts", 103.0, 82.0), last("slate_10.ts", 103.0, 82.0)]
    assert slate_due(slate, 104.9, 2.0, 100.0) is None and slate_due(slate, 105.0, 2.0, 100.0) == 84.0
    assert slate_due(slate, 100.0 + SLATE_LIMIT + 1, 2.0, 100.0) is None  # the source is gone for good
