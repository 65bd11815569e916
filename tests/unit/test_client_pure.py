"""Unit tests of the decoding client's pure logic: playlists, following, checksums, the delay buffer, reports."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field

import pytest

from client.errors import IntegrityFailure, Missing, NotHLS, OriginUnreachable, StreamNotFound, TransientError
from client.fetcher import Fetcher, Notice, Outage, RetryPolicy
from client.follow import Follower, reload_delay, start_seq
from client.integrity import Published, etag_md5, mismatch, published_md5
from client.items import GapItem, SegmentItem
from client.origin import Fetched, check_url
from client.outputs import parse_progress
from client.playlist import MasterPlaylist, MediaEntry, MediaPlaylist, Variant, choose_variant, parse_playlist, resolve
from client.playout import PlayoutClock, Stall
from client.report import EXIT_LOSS, EXIT_OK, EXIT_UNREADABLE, Refetch, Report, render_report
from client.serve import ServedEntry, ServedStream, local_name, served_playlist
from client.webserver import static_route

MD5_A = hashlib.md5(b"a").hexdigest()


def media(first: int, count: int, *, ended: bool = False, gaps: tuple[int, ...] = (), dur: float = 2.0) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:8", "#EXT-X-TARGETDURATION:2", f"#EXT-X-MEDIA-SEQUENCE:{first}"]
    for seq in range(first, first + count):
        lines.append(f"#EXTINF:{dur:.3f},")
        if seq in gaps:
            lines.append("#EXT-X-GAP")
        lines.append(f"seg_{seq}.ts")
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def parsed_media(text: str, url: str = "http://cdn/live/ev/180p/live.m3u8") -> MediaPlaylist:
    playlist = parse_playlist(text.encode(), url)
    assert isinstance(playlist, MediaPlaylist)
    return playlist


# ---------------------------------------------------------------------------------------------- playlists


@pytest.mark.parametrize(
    ("base", "ref", "expected"),
    [
        ("http://cdn/live/ev/master.m3u8", "180p/live.m3u8", "http://cdn/live/ev/180p/live.m3u8"),
        ("http://cdn/live/ev/180p/live.m3u8", "seg_1.ts", "http://cdn/live/ev/180p/seg_1.ts"),
        ("http://cdn/live/ev/180p/live.m3u8", "https://other/x.ts", "https://other/x.ts"),
        ("http://cdn/live/ev/180p/live.m3u8", "/abs/x.ts", "http://cdn/abs/x.ts"),
        ("s3://bucket/live/ev/master.m3u8", "180p/live.m3u8", "s3://bucket/live/ev/180p/live.m3u8"),
        ("s3://bucket/live/ev/180p/live.m3u8", "../other/seg_1.ts", "s3://bucket/live/ev/other/seg_1.ts"),
        ("s3://bucket/live/ev/180p/live.m3u8", "/top.ts", "s3://bucket/top.ts"),
    ],
)
def test_uris_resolve_against_the_playlist_address(base: str, ref: str, expected: str) -> None:
    assert resolve(base, ref) == expected


def test_a_media_playlist_keeps_sequence_numbers_gaps_and_discontinuities() -> None:
    gap = "#EXTINF:2.000,\n#EXT-X-GAP"
    text = media(5, 3, gaps=(6,)).replace(gap, "#EXT-X-DISCONTINUITY\n" + gap)
    playlist = parsed_media(text)
    assert [(e.seq, e.name, e.gap, e.discontinuity) for e in playlist.entries] == [
        (5, "seg_5.ts", False, False),
        (6, "seg_6.ts", True, True),
        (7, "seg_7.ts", False, False),
    ]
    assert playlist.entries[0].uri == "http://cdn/live/ev/180p/seg_5.ts"
    assert playlist.target_duration == 2 and not playlist.ended
    assert parsed_media(media(0, 1, ended=True)).ended


def test_an_init_segment_is_resolved_for_each_entry() -> None:
    text = '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MAP:URI="init_0.mp4"\n#EXTINF:2,\nseg_0.m4s\n'
    (entry,) = parsed_media(text).entries
    assert entry.init_uri == "http://cdn/live/ev/180p/init_0.mp4"


def test_a_master_playlist_lists_renditions_by_folder_name() -> None:
    text = (
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=3000000,RESOLUTION=1280x720\n720p/live.m3u8\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=400000,RESOLUTION=320x180\n180p/live.m3u8\n"
    )
    playlist = parse_playlist(text.encode(), "s3://b/live/ev/master.m3u8")
    assert isinstance(playlist, MasterPlaylist)
    assert [(v.name, v.uri, v.height) for v in playlist.variants] == [
        ("720p", "s3://b/live/ev/720p/live.m3u8", 720),
        ("180p", "s3://b/live/ev/180p/live.m3u8", 180),
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html><body>Welcome to nginx</body></html>", "but with '<html><body>Welcome to nginx"),
        (b"\x47\x40\x11\x10\x00\x42\xf0\x25\xff\xfe", "binary content"),
        (b"", "an empty body"),
        (b'{"error": "nope"}', "does not start with #EXTM3U"),
    ],
)
def test_a_body_that_is_not_hls_is_named_in_the_error(body: bytes, message: str) -> None:
    with pytest.raises(NotHLS, match="not an HLS playlist") as info:
        parse_playlist(body, "http://cdn/x.m3u8")
    assert message in str(info.value) and "http://cdn/x.m3u8" in str(info.value)


VARIANTS = [
    Variant("720p", "u720", 3_000_000, 1280, 720),
    Variant("180p", "u180", 400_000, 320, 180),
    Variant("480p", "u480", 1_300_000, 854, 480),
]


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [(None, "720p"), ("best", "720p"), ("lowest", "180p"), ("480p", "480p"), ("u180", "180p")],
)
def test_a_rendition_is_chosen_by_name_or_rank(wanted: str | None, expected: str) -> None:
    assert choose_variant(VARIANTS, wanted).name == expected


def test_an_unknown_rendition_lists_what_is_offered() -> None:
    with pytest.raises(ValueError, match=r"no rendition '1080p'.*720p 1280x720 3000 kbit/s.*180p"):
        choose_variant(VARIANTS, "1080p")


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("http://cdn/live/ev/master.m3u8", True),
        ("https://cdn/x.m3u8", True),
        ("s3://bucket/live/ev/master.m3u8", True),
        ("s3://bucket", False),
        ("ftp://host/x.m3u8", False),
        ("/local/x.m3u8", False),
    ],
)
def test_only_http_and_s3_addresses_are_accepted(url: str, ok: bool) -> None:
    if ok:
        assert check_url(url) == url
    else:
        with pytest.raises(ValueError, match="not a stream address"):
            check_url(url)


# ---------------------------------------------------------------------------------------------- following


@pytest.mark.parametrize(
    ("text", "buffer", "from_first", "expected"),
    [
        (media(10, 10), 6.0, False, 17),  # three 2 s segments behind the edge
        (media(10, 10), 5.0, False, 17),
        (media(10, 10), 0.0, False, 19),  # the edge itself
        (media(10, 10), 60.0, False, 10),  # the window is shorter than the buffer
        (media(10, 10), 6.0, True, 10),
        (media(10, 10, ended=True), 6.0, False, 10),  # an ended event plays from its start
        (media(10, 0), 6.0, False, None),
    ],
)
def test_a_viewer_starts_buffer_seconds_behind_the_live_edge(
    text: str, buffer: float, from_first: bool, expected: int | None
) -> None:
    assert start_seq(parsed_media(text), buffer, from_first) == expected


def test_the_follower_yields_each_segment_once_and_counts_what_left_the_window_unseen() -> None:
    f = Follower(buffer=0, from_first=True)
    step = f.step(parsed_media(media(0, 3)))
    assert [e.seq for e in step.new] == [0, 1, 2] and step.changed and not step.missed
    step = f.step(parsed_media(media(0, 3)))
    assert step.new == () and not step.changed
    step = f.step(parsed_media(media(1, 4)))
    assert [e.seq for e in step.new] == [3, 4]
    step = f.step(parsed_media(media(8, 3)))  # the viewer was away: 5, 6, 7 left the window
    assert step.missed == (5, 6, 7) and [e.seq for e in step.new] == [8, 9, 10]


def test_a_gap_the_encoder_backfills_is_offered_again() -> None:
    f = Follower(buffer=0, from_first=True)
    step = f.step(parsed_media(media(0, 3, gaps=(2,))))
    assert [(e.seq, e.gap) for e in step.new] == [(0, False), (1, False), (2, True)]
    step = f.step(parsed_media(media(0, 4)))
    assert [e.seq for e in step.filled] == [2] and [e.seq for e in step.new] == [3]
    assert f.step(parsed_media(media(0, 4))).filled == ()


@pytest.mark.parametrize(("changed", "expected"), [(True, 2.0), (False, 1.0)])
def test_playlists_reload_every_target_duration_or_half_when_unchanged(changed: bool, expected: float) -> None:
    assert reload_delay(parsed_media(media(0, 3)), changed) == expected


# ---------------------------------------------------------------------------------------------- checksums


@pytest.mark.parametrize(
    ("metadata", "etag", "verify", "expected"),
    [
        (MD5_A, f'"{"0" * 32}"', "auto", Published(MD5_A, "metadata")),  # metadata wins
        (MD5_A.upper(), None, "auto", Published(MD5_A, "metadata")),
        (None, f'"{MD5_A}"', "auto", Published(MD5_A, "etag")),
        (None, MD5_A, "auto", Published(MD5_A, "etag")),
        (None, f'"{MD5_A}-3"', "auto", None),  # multipart ETag: not an MD5 of the body
        (None, f'W/"{MD5_A}"', "auto", None),  # weak ETag
        (None, '"5f3c-1a2b"', "auto", None),  # a web server's own format
        ("not-a-md5", None, "auto", None),
        (None, f'"{MD5_A}"', "metadata", None),
        (MD5_A, f'"{MD5_A}"', "off", None),
    ],
)
def test_the_published_md5_comes_from_metadata_then_a_plain_etag(
    metadata: str | None, etag: str | None, verify: str, expected: Published | None
) -> None:
    assert published_md5(metadata, etag, verify) == expected  # type: ignore[arg-type]


def test_etag_md5_strips_quotes_and_case() -> None:
    assert etag_md5(f'"{MD5_A.upper()}"') == MD5_A
    assert etag_md5("") is None


@pytest.mark.parametrize(
    ("body", "published", "ok"),
    [(b"a", Published(MD5_A, "metadata"), True), (b"b", Published(MD5_A, "etag"), False), (b"b", None, True)],
)
def test_a_body_matches_its_published_md5(body: bytes, published: Published | None, ok: bool) -> None:
    problem = mismatch(body, published)
    assert (problem is None) == ok
    if not ok:
        assert problem is not None and MD5_A in problem and "etag" in problem


# ---------------------------------------------------------------------------------------------- delay buffer


def play(buffer: float, arrivals: list[tuple[float, float]], end_at: float | None = None) -> PlayoutClock:
    """Feed (arrival time, media seconds) to a playout clock, observing every 0.1 s."""
    clock = PlayoutClock(buffer)
    events = sorted(arrivals)
    t = 0.0
    last = (end_at or max(a for a, _ in arrivals)) + 0.05
    while t <= last:
        while events and events[0][0] <= t:
            clock.received(events.pop(0)[1], t)
        clock.observe(t)
        t = round(t + 0.1, 3)
    if end_at is not None:
        clock.finish(end_at)
    return clock


def steady(until: float, start: float = 0.0, seg: float = 2.0) -> list[tuple[float, float]]:
    return [(start + i * seg, seg) for i in range(int((until - start) / seg) + 1)]


def test_playback_waits_for_the_buffer_to_fill() -> None:
    clock = play(6.0, steady(10))
    assert clock.started_at == 4.0  # three 2 s segments at t=0, 2, 4


def test_an_outage_shorter_than_the_buffer_never_stalls() -> None:
    arrivals = steady(20) + [(35.0, 2.0 * 8)] + steady(60, 36)  # nothing from t=20 to t=35, then catch-up
    assert play(20.0, arrivals).stalls == []


def test_an_outage_longer_than_the_buffer_stalls_until_media_arrives() -> None:
    arrivals = steady(20) + [(35.0, 16.0)]
    clock = play(4.0, arrivals, end_at=40)
    # Started at t=2 with 4 s, held 22 s by t=20: ran out at t=24, media again at t=35.
    assert [(round(s.at), round(s.seconds, 1)) for s in clock.stalls] == [(22, 11.0)]


def test_an_announced_gap_is_skipped_not_waited_for() -> None:
    clock = PlayoutClock(2.0)
    clock.received(2.0, 0.0)
    clock.received(2.0, 0.5)  # a GapItem counts as received
    clock.observe(3.9)
    assert clock.stalls == [] and clock.position(3.9) == pytest.approx(3.9)


def test_an_ended_stream_starts_at_once_and_never_stalls() -> None:
    clock = PlayoutClock(30.0)
    clock.received(2.0, 0.0)
    clock.finish(0.1)
    clock.observe(100.0)
    assert clock.started_at == 0.1 and clock.stalls == []


def test_due_times_follow_the_wall_clock_from_the_start() -> None:
    clock = PlayoutClock(4.0)
    clock.received(2.0, 10.0)
    assert clock.due(0.0) is None
    clock.received(2.0, 11.0)
    assert clock.due(2.0) == 13.0 and clock.lead(12.0) == 3.0


# ---------------------------------------------------------------------------------------------- fetch and retry


@dataclass
class FakeTime:
    now: float = 0.0

    def clock(self) -> float:
        return self.now


class FakeStop(threading.Event):
    """A stop event whose waits advance the fake clock instead of sleeping."""

    def __init__(self, time: FakeTime) -> None:
        super().__init__()
        self.time = time

    def wait(self, timeout: float | None = None) -> bool:
        self.time.now += timeout or 0.0
        return self.is_set()


@dataclass
class ScriptedOrigin:
    """Answers from a script: an exception to raise, or a body (with its metadata MD5) to return."""

    script: list[Exception | tuple[bytes, str | None]]
    calls: list[bool] = field(default_factory=list)

    def get(self, url: str, revalidate: bool = False) -> Fetched:
        self.calls.append(revalidate)
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        body, md5 = step
        return Fetched(url, body, md5, None)

    def close(self) -> None:
        return None


POLICY = RetryPolicy(0.5, 4.0, origin_timeout=30.0, start_timeout=5.0, integrity_attempts=3, verify="auto")


def fetcher(script: list[Exception | tuple[bytes, str | None]]) -> tuple[Fetcher, list[Notice], ScriptedOrigin]:
    time = FakeTime()
    notices: list[Notice] = []
    origin = ScriptedOrigin(script)
    return Fetcher(origin, POLICY, notices.append, FakeStop(time), time.clock), notices, origin


def test_an_origin_that_answers_again_within_the_deadline_is_an_outage_not_an_error() -> None:
    f, notices, _ = fetcher([TransientError("reset")] * 4 + [(b"a", MD5_A)])
    assert f.fetch("http://o/seg_1.ts", "seg_1.ts").fetched.body == b"a"
    assert len(notices) == 1 and isinstance(notices[0], Outage) and notices[0].retries == 4


@pytest.mark.parametrize(("starting", "limit"), [(True, 5.0), (False, 30.0)])
def test_an_origin_silent_past_its_deadline_is_unreachable(starting: bool, limit: float) -> None:
    f, _, origin = fetcher([TransientError("no answer (read timed out)")])
    with pytest.raises(OriginUnreachable, match=f"no answer for {limit:.0f} s") as info:
        f.fetch("http://o/live.m3u8", "live.m3u8", starting=starting)
    assert "read timed out" in str(info.value)
    assert 2 < len(origin.calls) < 40  # backoff, not a busy loop


def test_a_404_at_start_is_a_wrong_url_at_once() -> None:
    f, _, origin = fetcher([Missing("http://o/x.m3u8: not found (HTTP 404)")])
    with pytest.raises(StreamNotFound, match="check the URL"):
        f.fetch("http://o/x.m3u8", "x.m3u8", starting=True)
    assert len(origin.calls) == 1


def test_a_404_mid_stream_is_retried_then_raised_as_missing() -> None:
    f, _, origin = fetcher([Missing("not found")])
    with pytest.raises(Missing):
        f.fetch("http://o/seg_9.ts", "seg_9.ts")
    assert len(origin.calls) > 2


def test_a_corrupt_download_is_fetched_again_revalidating_caches() -> None:
    f, notices, origin = fetcher([(b"x", MD5_A), (b"a", MD5_A)])
    got = f.fetch("http://o/seg_3.ts", "seg_3.ts")
    assert got.fetched.body == b"a" and got.published == Published(MD5_A, "metadata")
    assert origin.calls == [False, True]
    assert [(n.segment, n.attempt) for n in notices if isinstance(n, Refetch)] == [("seg_3.ts", 1)]


def test_a_segment_that_keeps_failing_its_check_is_named() -> None:
    f, notices, _ = fetcher([(b"x", MD5_A)])
    with pytest.raises(IntegrityFailure, match="seg_3.ts failed its integrity check 3 times") as info:
        f.fetch("http://o/seg_3.ts", "seg_3.ts")
    assert info.value.segment == "seg_3.ts"
    assert len([n for n in notices if isinstance(n, Refetch)]) == 3


# ---------------------------------------------------------------------------------------------- report


@pytest.mark.parametrize(
    ("changes", "code", "lost"),
    [
        ({}, EXIT_OK, False),
        ({"stalls": [Stall(3.0, 1.0)]}, EXIT_OK, False),  # late, not lost
        ({"gaps": ["seg_4.ts"]}, EXIT_LOSS, True),
        ({"decode_errors": 2}, EXIT_LOSS, True),
        ({"error": "seg_3.ts failed", "error_kind": "integrity"}, EXIT_LOSS, True),
        ({"error": "the origin stopped answering", "error_kind": "OriginUnreachable"}, EXIT_UNREADABLE, False),
    ],
)
def test_the_exit_code_is_non_zero_on_any_loss(changes: dict[str, object], code: int, lost: bool) -> None:
    report = Report("http://o/live.m3u8", **changes)  # type: ignore[arg-type]
    assert report.exit_code() == code and report.lost == lost
    data = json.loads(report.to_json())
    assert data["exit_code"] == code and data["lost"] == lost


def test_the_text_report_names_gaps_and_refetches() -> None:
    report = Report("http://o/live.m3u8", gaps=["seg_4.ts"], segments_played=9, verified_metadata=9)
    report.integrity_refetches.append(Refetch("seg_3.ts", 1, "MD5 x differs"))
    text = render_report(report)
    assert "gaps              1: seg_4.ts" in text and "seg_3.ts (MD5 x differs)" in text
    assert text.splitlines()[-1] == "result            LOSS: 1 gap(s)"


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["frame=10", "out_time_us=400000", "progress=continue", "frame=50", "out_time_us=2000000"], (50, 2.0)),
        (["out_time_us=N/A", "frame=0"], (0, 0.0)),
        ([], (0, 0.0)),
    ],
)
def test_ffmpeg_progress_gives_frames_and_seconds(lines: list[str], expected: tuple[int, float]) -> None:
    assert parse_progress(lines) == expected


# ---------------------------------------------------------------------------------------------- re-serve


def test_the_served_playlist_keeps_gaps_breaks_and_the_end() -> None:
    entries = [
        ServedEntry(4, "seg_4.ts", 2.0, False, False),
        ServedEntry(5, "seg_5.ts", 2.0, True, True),
        ServedEntry(6, "seg_6.ts", 2.002, False, True),
    ]
    text = served_playlist(entries, discontinuity_sequence=2, ended=True)
    assert text.splitlines() == [
        "#EXTM3U", "#EXT-X-VERSION:8", "#EXT-X-TARGETDURATION:2", "#EXT-X-MEDIA-SEQUENCE:4",
        "#EXT-X-DISCONTINUITY-SEQUENCE:2", "#EXT-X-INDEPENDENT-SEGMENTS",
        "#EXTINF:2.000,", "seg_4.ts",
        "#EXT-X-DISCONTINUITY", "#EXTINF:2.000,", "#EXT-X-GAP", "seg_5.ts",
        "#EXT-X-DISCONTINUITY", "#EXTINF:2.002,", "seg_6.ts",
        "#EXT-X-ENDLIST",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("http://o/a/seg_7.ts?token=1", "seg_7.ts"),
        ("s3://b/x/seg_7.m4s", "seg_7.m4s"),
        ("../../etc/passwd", "seg_7.ts"),
    ],
)
def test_served_names_come_from_the_sequence_number_never_the_remote_path(uri: str, expected: str) -> None:
    assert local_name("seg", 7, uri) == expected


def segment_item(seq: int, body: bytes = b"a", discontinuity: bool = False) -> SegmentItem:
    entry = MediaEntry(seq, f"http://o/seg_{seq}.ts", f"seg_{seq}.ts", 2.0, False, discontinuity, None)
    return SegmentItem(entry, body, Published(hashlib.md5(body).hexdigest(), "metadata"))


def test_the_served_window_slides_and_serves_each_segment_with_its_md5() -> None:
    stream = ServedStream(window=3)
    stream.add_segment(segment_item(0), breaks=True)
    stream.add_gap(GapItem(1, "seg_1.ts", 2.0, False, "EXT-X-GAP"))
    for seq in (2, 3):
        stream.add_segment(segment_item(seq), breaks=False)
    playlist = stream.route("/stream/live.m3u8")
    assert playlist is not None and playlist.headers["Cache-Control"] == "no-cache"
    text = playlist.body.decode()
    assert "#EXT-X-MEDIA-SEQUENCE:1" in text and "#EXT-X-DISCONTINUITY-SEQUENCE:1" in text
    assert stream.route("/stream/seg_0.ts") is None  # left the window
    served = stream.route("/stream/seg_3.ts")
    assert served is not None and served.body == b"a" and served.headers["x-amz-meta-md5"] == MD5_A
    assert stream.route("/elsewhere") is None


def test_the_player_page_and_its_config_are_served_and_nothing_else() -> None:
    route = static_route({"src": "http://cdn/live/ev/master.m3u8"})
    page = route("/")
    assert page is not None and b"hls.min.js" in page.body and page.content_type.startswith("text/html")
    config = route("/config.json")
    assert config is not None and json.loads(config.body) == {"src": "http://cdn/live/ev/master.m3u8"}
    script = route("/hls.min.js")
    assert script is not None and len(script.body) > 100_000
    failover = route("/failover.js")
    assert failover is not None and b"SurecastFailover" in failover.body and b"failover.js" in page.body
    assert route("/../pyproject.toml") is None and route("/player.py") is None


def test_a_login_is_checked_in_constant_time_from_the_basic_header() -> None:
    from client.webserver import authorized

    good = "Basic " + base64.b64encode(b"surecast:pw").decode()
    assert authorized(None, None) and authorized("junk", None)
    assert authorized(good, ("surecast", "pw"))
    assert authorized(good.replace("Basic", "basic"), ("surecast", "pw"))
    for header in (None, "", "Bearer x", "Basic !!!", "Basic " + base64.b64encode(b"surecast:px").decode()):
        assert not authorized(header, ("surecast", "pw")), header
