"""HLS conformance of a real live event with an FFmpeg restart, read by an independent parser (issue 20).

A three-rung ladder at 15 fps in 2 s segments runs for about 40 s; its FFmpeg is killed (SIGKILL) mid-event.
A watcher (tests/support/hls_watch.py) reads the event's master, the channel's master and every live playlist
over HTTP every 100 ms, as a viewer does, and checks each new version with `m3u8` in strict mode and the rules
of tests/support/hls_rules.py (their unit tests plant a violation of each). After the event the VOD playlists
and the VOD master are checked the same way, their bit rates measured and FFmpeg decodes the VOD.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

from core.destinations import channel_master_key
from core.ffmpeg import find_ffmpeg
from tests.integration.test_encoder_live import ENCODER_ENV, EVENT, PREFIX, Encoder, start_encoder
from tests.support.client_streams import public_read
from tests.support.hls_rules import (
    bandwidth_violations,
    describe,
    master_violations,
    media_violations,
    parse_strict,
    read_media,
    variant_attributes,
    version_violations,
    vod_violations,
)
from tests.support.hls_watch import PlaylistWatch
from tests.support.procs import wait_until
from tests.support.stack import Stack

RENDITIONS = ("360p", "240p", "180p")
SEGMENT_SECONDS = 2
EVENT_SECONDS = 40
CONFORMANCE_ENV = {
    **ENCODER_ENV,
    "SURECAST_ENCODER_RENDITIONS": ",".join(RENDITIONS),
    "SURECAST_ENCODER_FRAMERATE": "15",
    "SURECAST_ENCODER_SEGMENT_SECONDS": str(SEGMENT_SECONDS),
}
# How long a live playlist may go without a new segment, through the restart: 1.5 target durations, and the
# watcher's poll interval (a version is seen up to one interval late) with a little room.
EDGE_WAIT_TARGETS = 1.5
KILL_INTO_SEGMENT = 1.4  # seconds into a 2 s segment
POLL_TOLERANCE = 0.3


def kill_ffmpeg_late_in_a_segment(stack: Stack, encoder: Encoder) -> None:
    """SIGKILL the event's FFmpeg 1.4 s into a segment, and wait for the next run. The new run's first segment
    is then more than 1.25 target durations away: the playlists go through a slate as well as the
    discontinuity."""
    local = stack.spool / "events" / EVENT / RENDITIONS[0] / "ffmpeg.m3u8"
    done = local.read_text().count("#EXTINF")
    wait_until(lambda: local.read_text().count("#EXTINF") > done, 10, 0.02, "no segment from FFmpeg")
    time.sleep(KILL_INTO_SEGMENT)
    pid = encoder.status()["ffmpeg_pid"]
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: encoder.status().get("ffmpeg_pid") not in (None, pid), 20, message="FFmpeg not restarted")


def test_every_playlist_version_of_a_live_event_with_a_restart_conforms(stack: Stack) -> None:
    started = time.monotonic()
    public_read(stack.s3, stack.bucket)
    base = f"{stack.s3_server.endpoint_url}/{stack.bucket}"
    live = [f"{base}/{PREFIX}/{r}/live.m3u8" for r in RENDITIONS]
    master, channel = f"{base}/{PREFIX}/master.m3u8", f"{base}/{channel_master_key('live', 'main')}"
    watch = PlaylistWatch(live, [master, channel])
    stack.start_worker(concurrency=2)
    encoder = start_encoder(stack, EVENT_SECONDS, CONFORMANCE_ENV)
    with watch.running():
        wait_until(lambda: watch.masters[channel].versions, 40, 0.2, "no channel master")
        wait_until(lambda: encoder.segments() >= 7 * len(RENDITIONS), 30, 0.2, "too few segments before the kill")
        kill_ffmpeg_late_in_a_segment(stack, encoder)
        assert encoder.wait(120) == 0, encoder.output()[-3000:]
        wait_until(lambda: all(watch.media[u].waits.ended for u in live), 10, 0.2, "a live playlist never ended")
    assert encoder.status()["ffmpeg_restarts"] == 1

    # What the watcher saw: enough versions, the restart's discontinuity, and a bounded wait for each segment.
    limits = {}
    for url in live:
        seen = watch.media[url]
        assert seen.versions >= 15, f"{url}: only {seen.versions} versions seen"
        assert seen.media is not None and seen.media.segments[-1].discontinuity_number >= 1, f"{url}: no discontinuity"
        name, w = url.rsplit("/", 2)[-2], seen.waits
        limits[name] = (w.longest, EDGE_WAIT_TARGETS * seen.media.target + POLL_TOLERANCE)
        print(
            f"\n{name}: {seen.versions} versions; longest wait for a new segment {w.longest:.2f} s (until msn "
            f"{w.longest_before}), limit {limits[name][1]:.2f} s; into the final playlist {w.into_end:.2f} s",
            end="",
        )
    worst = max(limits, key=lambda name: limits[name][0])
    print(
        f"\nFIGURE the longest live-playlist wait for a new segment through an FFmpeg restart: "
        f"{limits[worst][0]:.2f} s ({worst}; {EDGE_WAIT_TARGETS:g} target durations are "
        f"{EDGE_WAIT_TARGETS * SEGMENT_SECONDS:g} s, polled every {watch.interval * 1000:.0f} ms)"
    )
    slates = sorted({"/".join(u.rsplit("/", 2)[-2:]) for u in watch.durations if "/slate_" in u})
    print(f"slates listed live: {slates or 'none'}; {watch.rounds} polls")
    assert len(slates) >= len(RENDITIONS), "no slate: the restart did not keep a playlist waiting"

    # After the event: the VOD, read the same way; its PDTs the ones the live playlists gave.
    vod_problems, figures = check_vod(watch, f"{base}/{PREFIX}")
    print("\n".join(f"FIGURE {f}" for f in figures))
    vod_master_url = f"{base}/{PREFIX}/master_vod.m3u8"

    # Every rendition decoded. At the restart's discontinuity FFmpeg offsets the timestamps by the video's,
    # and the old run's last audio frame reaches ~20 ms past its last picture (AAC frames straddle a cut): the
    # null muxer would say "non monotonically increasing dts". A player drops that overlap; aresample's async
    # mode does the same here, so what is left to print is an error in the stream itself.
    decode = subprocess.run(
        [find_ffmpeg(""), "-hide_banner", "-nostdin", "-v", "error", "-i", vod_master_url, "-map", "0",
         "-af", "aresample=async=1", "-f", "null", "-"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    print(f"\nconformance test: {time.monotonic() - started:.0f} s")
    assert watch.violations == [], "\n".join(watch.violations[:40])
    assert vod_problems == [], "\n".join(vod_problems)
    assert all(longest <= limit for longest, limit in limits.values()), limits
    assert decode.returncode == 0 and decode.stderr == "", decode.stderr[-3000:]


def check_vod(watch: PlaylistWatch, root: str) -> tuple[list[str], list[str]]:
    """(violations, bit rate figures) of the VOD playlists and VOD master under ``root``, and of the live
    master's BANDWIDTH against every segment the live playlists listed."""
    problems: list[str] = []
    vod_rates: dict[str, dict[str, float]] = {}
    for name in RENDITIONS:
        url = f"{root}/{name}/vod.m3u8"
        text = watch.http.text(url)
        assert text is not None, f"no {url}"
        media = read_media(parse_strict(text))
        uris = [f"{root}/{name}/{s.uri}" for s in media.segments]
        found = version_violations(text) + media_violations(media) + vod_violations(media)
        found += watch.programs.observe(url, media.segments) + watch.missing(uris)
        problems += describe(found, url, text)
        durations = dict(zip(uris, (s.duration for s in media.segments), strict=True))
        vod_rates[f"{name}/vod.m3u8"] = {u: watch.sizes[u] * 8 / d for u, d in durations.items() if u in watch.sizes}
    master_url = f"{root}/master_vod.m3u8"
    master = watch.http.text(master_url)
    assert master is not None, "no VOD master"
    found = version_violations(master) + master_violations(master, parse_strict(master))
    figures = []
    live_master = watch.masters[f"{root}/master.m3u8"].text or ""
    for text, rates in ((master, vod_rates), (live_master, None)):
        for attributes, uri in variant_attributes(text):
            measured = rates[uri] if rates is not None else watch.rates(f"{root}/{uri}")
            declared, average = int(attributes["BANDWIDTH"]), int(attributes["AVERAGE-BANDWIDTH"])
            found += [f"{uri}: {p}" for p in bandwidth_violations(declared, measured, average)]
            figures.append(
                f"{uri}: BANDWIDTH {declared}, AVERAGE-BANDWIDTH {average}; measured peak "
                f"{max(measured.values()):.0f} bit/s over {len(measured)} segments"
            )
    return problems + describe(found, master_url, master), figures
