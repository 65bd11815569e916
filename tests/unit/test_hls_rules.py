"""The conformance rules of tests/support/hls_rules.py catch each violation planted in a good playlist: a
rule that cannot fail would let the conformance test pass whatever the encoder wrote."""

from __future__ import annotations

import pytest

from tests.support.hls_rules import (
    EdgeWaits,
    Media,
    ProgramTimes,
    Reloads,
    bandwidth_violations,
    master_violations,
    media_violations,
    minimum_version,
    parse_strict,
    read_media,
    version_violations,
    vod_violations,
    warm_violations,
)

LIVE = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:5
#EXT-X-DISCONTINUITY-SEQUENCE:1
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-PROGRAM-DATE-TIME:2025-06-01T18:00:00.000Z
#EXTINF:2.000,
seg_5.ts
#EXT-X-PROGRAM-DATE-TIME:2025-06-01T18:00:02.000Z
#EXTINF:1.467,
seg_6.ts
#EXT-X-DISCONTINUITY
#EXT-X-PROGRAM-DATE-TIME:2025-06-01T18:00:09.500Z
#EXTINF:2.000,
slate_7.ts
#EXT-X-PROGRAM-DATE-TIME:2025-06-01T18:00:11.500Z
#EXTINF:2.000,
seg_9.ts
"""
MASTER = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-STREAM-INF:BANDWIDTH=1268800,AVERAGE-BANDWIDTH=940800,RESOLUTION=640x360,FRAME-RATE=15.000,CODECS="avc1.4d401e,mp4a.40.2"
360p/live.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=440700,AVERAGE-BANDWIDTH=329700,RESOLUTION=320x180,FRAME-RATE=15.000,CODECS="avc1.4d401e,mp4a.40.2"
180p/live.m3u8
"""


def media(text: str) -> Media:
    return read_media(parse_strict(text))


def live_problems(text: str) -> list[str]:
    return version_violations(text) + media_violations(media(text))


def test_a_good_live_playlist_keeps_every_rule() -> None:
    read = media(LIVE)
    assert live_problems(LIVE) == []
    assert [s.msn for s in read.segments] == [5, 6, 7, 8]
    assert [s.discontinuity_number for s in read.segments] == [1, 1, 2, 2]
    assert read.listed_seconds == pytest.approx(7.467) and read.last_msn == 8


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("#EXT-X-INDEPENDENT-SEGMENTS\n", "", "no EXT-X-INDEPENDENT-SEGMENTS"),
        ("#EXTINF:1.467,", "#EXTINF:2.500,", "seg_6.ts: EXTINF 2.500 above TARGETDURATION 2"),
        ("#EXT-X-PROGRAM-DATE-TIME:2025-06-01T18:00:02.000Z\n", "", "seg_6.ts: no EXT-X-PROGRAM-DATE-TIME"),
        ("18:00:02.000Z", "18:00:02.006Z", "seg_6.ts: PROGRAM-DATE-TIME +0.006 s off the end of seg_5.ts"),
        ("18:00:11.500Z", "18:00:11.400Z", "seg_9.ts: PROGRAM-DATE-TIME -0.100 s off the end of slate_7.ts"),
        ("#EXT-X-VERSION:3", "#EXT-X-VERSION:3\n#EXT-X-VERSION:3", "EXT-X-VERSION appears 2 times"),
        ("seg_9.ts", 'seg_9.ts\n#EXT-X-MAP:URI="init_10.mp4"\n#EXTINF:2.000,\nseg_10.m4s', "the tags used need 6"),
    ],
)
def test_each_rule_of_one_version_catches_its_planted_violation(old: str, new: str, says: str) -> None:
    planted = LIVE.replace(old, new, 1)
    assert planted != LIVE
    assert any(says in p for p in live_problems(planted)), live_problems(planted)


def test_an_extinf_is_within_the_target_while_it_rounds_to_it() -> None:
    """RFC 8216 4.3.3.1: EXTINF rounded to the nearest integer (2.499 is within 2; 2.500, planted above, is not)."""
    assert live_problems(LIVE.replace("#EXTINF:1.467,", "#EXTINF:2.499,")) == []


@pytest.mark.parametrize(
    "text",
    [
        LIVE.replace("#EXT-X-VERSION:3", "#EXT-X-VERSION:2"),  # floating-point EXTINF needs 3
        LIVE.replace("#EXTINF:1.467,", "#EXTINF:1.467"),  # no comma
        LIVE.replace("#EXT-X-INDEPENDENT-SEGMENTS", "#EXT-X-INDEPENDENT-SEGMENT"),  # no such tag
        LIVE.replace("#EXTINF:2.000,\nseg_9.ts", "seg_9.ts"),  # a URI without its EXTINF
    ],
)
def test_the_strict_parser_refuses_a_malformed_playlist(text: str) -> None:
    with pytest.raises(ValueError, match="strict"):
        parse_strict(text)


@pytest.mark.parametrize(
    ("line", "needed"),
    [
        ("#EXTINF:2,", 1),
        ("#EXTINF:2.000,", 3),
        ('#EXT-X-KEY:METHOD=AES-128,URI="k",IV=0x1', 2),
        ("#EXT-X-BYTERANGE:100@0", 4),
        ('#EXT-X-KEY:METHOD=SAMPLE-AES,URI="k"', 5),
        ('#EXT-X-MAP:URI="init.mp4"', 6),
        ('#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID="cc",NAME="a",INSTREAM-ID="SERVICE1"', 7),
        ('#EXT-X-DEFINE:NAME="a",VALUE="b"', 8),
    ],
)
def test_the_version_a_tag_needs(line: str, needed: int) -> None:
    assert minimum_version(f"#EXTM3U\n{line}\n") == needed


def test_reloads_catch_sequences_going_back_and_a_number_changing_its_segment() -> None:
    reloads = Reloads()
    assert reloads.observe(media(LIVE)) == []
    grown = LIVE.replace("MEDIA-SEQUENCE:5", "MEDIA-SEQUENCE:6").replace(
        "#EXT-X-PROGRAM-DATE-TIME:2025-06-01T18:00:00.000Z\n#EXTINF:2.000,\nseg_5.ts\n", ""
    )
    assert reloads.observe(media(grown)) == []
    back = reloads.observe(media(LIVE.replace("DISCONTINUITY-SEQUENCE:1", "DISCONTINUITY-SEQUENCE:0")))
    assert any("EXT-X-MEDIA-SEQUENCE went back from 6 to 5" in p for p in back), back
    assert any("EXT-X-DISCONTINUITY-SEQUENCE went back from 1 to 0" in p for p in back), back
    assert any("seg_5.ts: discontinuity number 1, now 0" in p for p in back), back
    renamed = reloads.observe(media(LIVE.replace("seg_9.ts", "seg_10.ts")))
    assert any("media sequence number 8 was seg_9.ts, now seg_10.ts" in p for p in renamed), renamed


def test_segment_n_has_one_program_date_time_in_every_rendition() -> None:
    times = ProgramTimes()
    assert times.observe("360p/live.m3u8", media(LIVE).segments) == []
    assert times.observe("180p/live.m3u8", media(LIVE).segments) == []
    moved = LIVE.replace("18:00:11.500Z", "18:00:11.501Z")
    assert times.observe("180p/vod.m3u8", media(moved).segments) == [
        "seg_9: PROGRAM-DATE-TIME +0.001 s in 180p/vod.m3u8 from 360p/live.m3u8"
    ]
    slate = LIVE.replace("18:00:09.500Z", "18:00:09.900Z")  # slates are named by their place, not their time
    assert times.observe("240p/live.m3u8", media(slate).segments[:3]) == []


def test_a_master_names_every_variant_attribute_and_an_average_below_the_peak() -> None:
    assert version_violations(MASTER) + master_violations(MASTER, parse_strict(MASTER)) == []


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("AVERAGE-BANDWIDTH=329700,", "", "180p/live.m3u8: no AVERAGE-BANDWIDTH"),
        (',CODECS="avc1.4d401e,mp4a.40.2"\n180p', "\n180p", "180p/live.m3u8: no CODECS"),
        ("RESOLUTION=640x360,FRAME-RATE=15.000,", "", "360p/live.m3u8: no RESOLUTION, FRAME-RATE"),
        ("AVERAGE-BANDWIDTH=329700", "AVERAGE-BANDWIDTH=440701", "AVERAGE-BANDWIDTH 440701 above BANDWIDTH 440700"),
        ("#EXT-X-INDEPENDENT-SEGMENTS\n", "", "no EXT-X-INDEPENDENT-SEGMENTS"),
    ],
)
def test_each_master_rule_catches_its_planted_violation(old: str, new: str, says: str) -> None:
    planted = MASTER.replace(old, new, 1)
    assert planted != MASTER
    problems = master_violations(planted, parse_strict(planted))
    assert any(says in p for p in problems), problems


def test_a_master_may_name_only_playlists_holding_three_target_durations() -> None:
    warm = media(LIVE)  # 7.467 s listed, at least 3 x 2
    two = media(LIVE.split("#EXT-X-DISCONTINUITY\n")[0])  # 3.467 s listed: cold
    assert warm_violations({"a": warm}) == []
    assert warm_violations({"a": two, "b": None}) == [
        "a: 3.467 s listed when the master appeared, under 3 x TARGETDURATION 2",
        "b: not there when the master was",
    ]
    assert warm_violations({"a": media(LIVE.split("#EXT-X-DISCONTINUITY\n")[0] + "#EXT-X-ENDLIST\n")}) == []


def test_a_vod_has_its_type_an_end_and_no_slate() -> None:
    vod = LIVE.replace("#EXT-X-INDEPENDENT", "#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT") + "#EXT-X-ENDLIST\n"
    assert vod_violations(media(vod.replace("slate_7.ts", "seg_7.ts"))) == []
    assert vod_violations(media(vod)) == ["slate_7.ts: a slate in the VOD"]
    assert vod_violations(media(LIVE.replace("slate_7.ts", "seg_7.ts"))) == [
        "no EXT-X-PLAYLIST-TYPE:VOD",
        "no EXT-X-ENDLIST",
    ]


def test_bandwidth_holds_every_segment_and_the_average() -> None:
    assert bandwidth_violations(1000, {"seg_1.ts": 1000.0, "seg_2.ts": 200.0}, 600) == []
    assert bandwidth_violations(1000, {"seg_1.ts": 1000.5}, 1001) == [
        "seg_1.ts: 1000 bit/s, above BANDWIDTH 1000",
        "AVERAGE-BANDWIDTH 1001 above BANDWIDTH 1000",
    ]


def test_the_longest_wait_for_a_new_segment_counts_until_endlist() -> None:
    waits = EdgeWaits()
    first = media(LIVE)
    grown = media(LIVE + "#EXT-X-PROGRAM-DATE-TIME:2025-06-01T18:00:13.500Z\n#EXTINF:2.000,\nseg_10.ts\n")
    waits.observe(first, 10.0)
    waits.observe(first, 11.0)  # a reload with nothing new
    waits.observe(grown, 13.1)
    assert waits.longest == pytest.approx(3.1) and waits.longest_before == 9
    ended = media(
        LIVE + "#EXT-X-PROGRAM-DATE-TIME:2025-06-01T18:00:13.500Z\n#EXTINF:0.600,\nseg_10.ts\n"
        "#EXT-X-PROGRAM-DATE-TIME:2025-06-01T18:00:14.100Z\n#EXTINF:0.600,\nseg_11.ts\n#EXT-X-ENDLIST\n"
    )
    waits.observe(ended, 17.0)  # the end of the event: measured apart
    waits.observe(ended, 40.0)
    assert waits.ended and waits.longest == pytest.approx(3.1) and waits.into_end == pytest.approx(3.9)
