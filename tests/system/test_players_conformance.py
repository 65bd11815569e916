"""Independent players play a real event, live and then as VOD (issue 20 item 7).

One event for the whole module: the ladder of the conformance test (tests/integration/test_hls_conformance.py)
delivered to SeaweedFS by real workers, read anonymously over HTTP as viewers read a bucket, its FFmpeg killed
once as the channel's master appears (a discontinuity and a slate early in the event). The live tests play
the channel's master (the venue's stable address) while the event runs; then the event is ended (SIGINT, as
Ctrl-C) and the VOD tests play the VOD master, across the restart's discontinuity, to its end. Players:

- GStreamer with hlsdemux (gstreamer1.0-plugins-bad; ``playbin`` live) and with hlsdemux2
  (gstreamer1.0-plugins-good; ``playbin3``), decoding with gstreamer1.0-libav (tests/support/gstreamer.py);
- Shaka Player (a vendored build, tests/support/web/README.md) and hls.js (the web player's copy) in headless
  Chromium, on a test page served over loopback (tests/support/chromium.py).

Each is skipped with the reason where it is absent. First each web player is shown a master that is not there,
for the page's report of a fatal error to be seen working (tests/unit/test_gstreamer_run.py does the same for
what GStreamer prints). The tests of the module run in one xdist worker, in order.
"""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from core.destinations import channel_master_key
from stack.bucket_setup import cors_rule
from tests.integration.test_encoder_live import PREFIX, Encoder, start_encoder
from tests.integration.test_hls_conformance import CONFORMANCE_ENV, kill_ffmpeg_late_in_a_segment
from tests.support.chromium import CHROMIUM, DevTools, StaticSite, start_chromium
from tests.support.client_streams import public_read
from tests.support.gstreamer import GstRun, missing, play_live, play_to_end
from tests.support.hls_rules import parse_strict, read_media
from tests.support.hls_watch import Http
from tests.support.procs import terminate, wait_until
from tests.support.seaweed import SeaweedServer
from tests.support.stack import Stack, running_stack

pytestmark = [
    pytest.mark.xdist_group("players"),
    pytest.mark.slow,  # minutes of live events in a browser: `pytest -m slow` (CI runs it after the default suite)
]

LONGEST_EVENT = 240  # seconds: the VOD tests end it sooner
LIVE_SECONDS = 10.0
RESTART_MARGIN = 1.0  # seconds of capture time past the kill that the playhead reaches before a live test ends
VOD_RATE = 8  # the browsers play the VOD at eight times real time
FRAMERATE = int(CONFORMANCE_ENV["SURECAST_ENCODER_FRAMERATE"])
WEB = Path(__file__).resolve().parents[1] / "support" / "web"
CLIENT_WEB = Path(__file__).resolve().parents[2] / "core" / "web"  # hls.js, which every page shares


@dataclass
class Event:
    stack: Stack
    encoder: Encoder
    base: str  # the bucket, as viewers read it

    @property
    def root(self) -> str:
        return f"{self.base}/{PREFIX}"

    @property
    def channel(self) -> str:
        return f"{self.base}/{channel_master_key('live', 'main')}"

    def assert_live(self) -> None:
        assert self.encoder.proc.poll() is None, "the event has ended: the live tests run before the VOD ones"


@dataclass(frozen=True)
class Vod:
    master: str
    seconds: float  # the top rendition's length, by its EXTINFs


@pytest.fixture(scope="module")
def event(tmp_path_factory: pytest.TempPathFactory, s3_server: SeaweedServer) -> Iterator[Event]:
    """A live event, running until the ``vod`` fixture ends it; its channel master in the bucket."""
    with running_stack(tmp_path_factory.mktemp("players"), s3_server) as stack:
        public_read(stack.s3, stack.bucket)
        stack.s3.put_bucket_cors(Bucket=stack.bucket, CORSConfiguration={"CORSRules": [cors_rule([])]})
        stack.start_worker(concurrency=2)
        encoder = start_encoder(stack, LONGEST_EVENT, CONFORMANCE_ENV)
        played = Event(stack, encoder, f"{stack.s3_server.endpoint_url}/{stack.bucket}")
        try:
            http = Http()
            wait_until(lambda: http.text(played.channel), 60, 0.5, "no channel master")
            kill_ffmpeg_late_in_a_segment(stack, encoder)
            yield played
        finally:
            terminate(encoder.proc)


@pytest.fixture(scope="module")
def vod(event: Event) -> Vod:
    """The event ended as Ctrl-C ends it, and its VOD master published."""
    event.encoder.proc.send_signal(signal.SIGINT)
    assert event.encoder.wait(120) == 0, event.encoder.output()[-3000:]
    http = Http()
    master = f"{event.root}/master_vod.m3u8"
    wait_until(lambda: http.text(master), 30, 0.5, "no VOD master")
    top = http.text(f"{event.root}/{CONFORMANCE_ENV['SURECAST_ENCODER_RENDITIONS'].split(',')[0]}/vod.m3u8")
    assert top is not None
    return Vod(master, read_media(parse_strict(top)).listed_seconds)


def vod_layout(vod: Vod) -> str:
    """Each rendition's VOD as a player lays it out: seconds listed, discontinuities, program-date-time span."""
    http, root, said = Http(), vod.master.rsplit("/", 1)[0], []
    for name in CONFORMANCE_ENV["SURECAST_ENCODER_RENDITIONS"].split(","):
        text = http.text(f"{root}/{name}/vod.m3u8")
        if text is None:
            said.append(f"{name}: no vod.m3u8")
            continue
        media = read_media(parse_strict(text))
        dated = [s for s in media.segments if s.program_time is not None]
        span = dated[-1].program_time + dated[-1].duration - dated[0].program_time if dated else 0.0  # type: ignore[operator]
        breaks = [f"#{s.msn} {s.program_time:.1f}" for s in media.segments if s.discontinuity and s.program_time]
        said.append(
            f"{name}: {len(media.segments)} entries, {media.listed_seconds:.1f} s listed, program dates span "
            f"{span:.1f} s, discontinuities at {breaks}"
        )
    return "the VOD: " + "; ".join(said)


@pytest.fixture(scope="module")
def site() -> Iterator[StaticSite]:
    pages = StaticSite({"web": WEB, "client": CLIENT_WEB})
    yield pages
    pages.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevTools]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    chromium = start_chromium(tmp_path_factory.mktemp("chromium"))
    yield chromium
    chromium.close()


def gstreamer(demuxer: str) -> Any:
    """``demuxer`` as a test parameter, skipped with the reason where GStreamer cannot play with it here (a mark,
    not a skip in the test: the event is not started for nothing)."""
    reason = missing(demuxer)
    return pytest.param(demuxer, marks=pytest.mark.skipif(reason is not None, reason=reason or ""))


DEMUXERS = [gstreamer("hlsdemux"), gstreamer("hlsdemux2")]
ENGINES = pytest.mark.parametrize("engine", ["shaka", "hls.js"])
NEEDS_CHROMIUM = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")


def describe(run: GstRun) -> str:
    return (
        f"{len(run.pictures)} pictures, {run.played:.1f} s of media, exit {run.returncode}, "
        f"{', '.join(sorted(run.demuxers))}, {len(run.warnings)} warnings, {len(run.errors)} errors"
    )


def open_player(browser: DevTools, site: StaticSite, engine: str, src: str, rate: float = 1) -> None:
    query = urlencode({"engine": engine, "src": src, "rate": rate, "run": uuid.uuid4().hex[:8]})
    browser.navigate(f"{site.url}/web/players.html?{query}")


def probe(browser: DevTools) -> dict[str, Any] | None:
    raw = browser.evaluate("JSON.stringify(window.probe && window.probe.state())")
    return json.loads(raw) if raw and raw != "undefined" else None


# ------------------------------------------------------------------------------------ a planted failure


@NEEDS_CHROMIUM
@ENGINES
def test_a_web_player_reports_a_stream_it_cannot_load(browser: DevTools, site: StaticSite, engine: str) -> None:
    """The page's probe reports a player's fatal error: without it the tests below could not fail."""
    open_player(browser, site, engine, f"{site.url}/web/missing/master.m3u8")

    def reported() -> dict[str, Any] | None:
        state = probe(browser)
        return state if state and state["errors"] else None

    state = wait_until(reported, 30, 0.5, f"{engine} reported nothing")
    print(f"\n{engine} on a missing master: {state['errors'][0]}")
    assert state["currentTime"] == 0


# ---------------------------------------------------------------------------------------------- live


@pytest.mark.parametrize("demuxer", DEMUXERS)
def test_gstreamer_plays_the_live_channel(event: Event, demuxer: str, tmp_path: Path) -> None:
    event.assert_live()
    started = time.monotonic()
    run = play_live(demuxer, event.channel, tmp_path / "gst.log", LIVE_SECONDS, timeout=60)
    print(f"\nFIGURE GStreamer {demuxer} live: {describe(run)}, in {time.monotonic() - started:.0f} s")
    assert run.errors == [], "\n".join(run.errors)
    assert run.returncode is None, f"gst-launch stopped by itself:\n{run.output[-3000:]}"
    assert run.played >= LIVE_SECONDS and run.demuxers == {demuxer}


@NEEDS_CHROMIUM
@ENGINES
def test_a_web_player_plays_the_live_channel_through_an_ffmpeg_restart(
    event: Event, browser: DevTools, site: StaticSite, engine: str
) -> None:
    """The player plays on while FFmpeg is killed and restarted under it (Shaka Player gives up on a live
    playlist that is late: the slate is there for it), until its playhead is past the restart."""
    event.assert_live()
    started = time.monotonic()
    open_player(browser, site, engine, event.channel)
    states: list[dict[str, Any]] = []

    def sample() -> dict[str, Any] | None:
        state = probe(browser)
        if state is not None:
            states.append(state)
            assert state["errors"] == [], state["errors"]
        return state

    wait_until(lambda: (s := sample()) and s["currentTime"] > 0, 30, 0.5, f"{engine} did not start")
    kill_ffmpeg_late_in_a_segment(event.stack, event.encoder)
    killed_at, at_kill = time.time(), sample()
    assert at_kill is not None

    def past_the_restart() -> bool:
        state = sample()
        return bool(
            state
            and state["currentTime"] - at_kill["currentTime"] >= LIVE_SECONDS
            and (state["playingDate"] or 0) / 1000 > killed_at + RESTART_MARGIN
        )

    wait_until(past_the_restart, 60, 0.5, f"{engine} did not play {LIVE_SECONDS:g} s past the restart")
    last = states[-1]
    first = next(s for s in states if s["currentTime"] > 0)
    print(
        f"\nFIGURE {engine} {last['version']} live: currentTime {first['currentTime']:.1f} -> "
        f"{last['currentTime']:.1f} s "
        f"at {last['height']}p, FFmpeg killed at {at_kill['currentTime']:.1f}; playing date "
        f"{time.time() - last['playingDate'] / 1000:.1f} s behind the wall clock; "
        f"{len(last['warnings'])} non-fatal errors ({', '.join(sorted(set(last['warnings']))) or 'none'}); "
        f"in {time.monotonic() - started:.0f} s"
    )
    assert last["live"] is True and last["paused"] is False


# ---------------------------------------------------------------------------------------------- VOD


@pytest.mark.parametrize("demuxer", DEMUXERS)
def test_gstreamer_plays_the_vod_to_its_end(vod: Vod, demuxer: str, tmp_path: Path) -> None:
    started = time.monotonic()
    run = play_to_end(demuxer, vod.master, tmp_path / "gst.log", timeout=90)
    took = time.monotonic() - started
    print(f"\nFIGURE GStreamer {demuxer} VOD ({vod.seconds:.1f} s): {describe(run)}, in {took:.0f} s")
    assert run.errors == [], "\n".join(run.errors)
    assert run.returncode == 0 and run.eos, run.output[-3000:]
    assert run.demuxers == {demuxer} and len(run.pictures) >= 0.95 * vod.seconds * FRAMERATE


def play_vod(browser: DevTools, site: StaticSite, engine: str, vod: Vod) -> tuple[dict[str, Any] | None, str]:
    """Load the VOD in a fresh page and wait for its end: (the player's last state, "" or why it did not end).
    A fatal player error fails the test at once."""
    open_player(browser, site, engine, vod.master, rate=VOD_RATE)
    states: list[dict[str, Any]] = []

    def ended() -> bool:
        state = probe(browser)
        if state is None:
            return False
        states.append(state)
        assert state["errors"] == [], state["errors"]
        return bool(state["ended"])

    try:
        wait_until(ended, vod.seconds / VOD_RATE + 45, 0.5, f"{engine} did not play the VOD to its end")
    except AssertionError as exc:
        return (states[-1] if states else None), f"{exc}; its last state: {states[-1] if states else None}"
    return states[-1], ""


@NEEDS_CHROMIUM
@ENGINES
def test_a_web_player_plays_the_vod_to_its_end(vod: Vod, browser: DevTools, site: StaticSite, engine: str) -> None:
    """Played to its end at eight times real time. Once in CI, Shaka Player stopped at the VOD's last frame
    with a media duration of 106.7 s for 59.6 s listed (its MSE buffer took a segment at the wrong time; the
    playlists' layout is printed with any failure): a second load is allowed and reported, a second failure
    fails the test."""
    started = time.monotonic()
    last, failed = play_vod(browser, site, engine, vod)
    retried = ""
    if failed:
        print(f"\n{engine}: first load of the VOD: {failed}; {vod_layout(vod)}")
        retried = "; ended on a second load (the first stalled, printed above)"
        last, again = play_vod(browser, site, engine, vod)
        assert not again, f"{failed}\nand again on a second load: {again}\n{vod_layout(vod)}"
    assert last is not None
    print(
        f"\nFIGURE {engine} {last['version']} VOD at {VOD_RATE}x: ended at {last['currentTime']:.1f} of "
        f"{last['duration']:.1f} s ({vod.seconds:.1f} s listed) at {last['height']}p; "
        f"{len(last['warnings'])} non-fatal errors; in {time.monotonic() - started:.0f} s{retried}"
    )
    assert last["live"] is False
    assert abs(last["duration"] - vod.seconds) <= 1.0 and last["currentTime"] >= vod.seconds - 1.0
