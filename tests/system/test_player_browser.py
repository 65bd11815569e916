"""The web player in headless Chromium against a live stream on loopback (issue test 4).

Chromium is Debian's `chromium` package (CI installs it in .ci/run's extras); without it the test is
skipped with the reason shown. The browser is driven over the DevTools protocol on a pipe
(``--remote-debugging-pipe``: no port, no websocket library; tests/support/chromium.py), reaches nothing
but 127.0.0.1, and its screenshot goes to the test's tmp dir.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from core.hls import MediaPlaylist, parse_playlist
from stack.bucket_setup import cors_rule
from tests.integration.test_encoder_live import EVENT, Encoder, get_text
from tests.support.chromium import CHROMIUM, CHROMIUM_FLAGS, DevTools
from tests.support.client_streams import Publisher, SegmentFile, make_segments, public_read
from tests.support.procs import free_port, log_tail, spawn, terminate, wait_until
from tests.support.seaweed import SeaweedServer
from tests.support.stack import BIN, Stack, direct_s3_client

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
PLAY_SECONDS = 10.0


class Reports:
    """Receives the page's ``?report=`` posts."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        reports = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                reports.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0)))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/report"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def segments(tmp_path_factory: pytest.TempPathFactory) -> list[SegmentFile]:
    return make_segments(tmp_path_factory.mktemp("seg"), 40, 2)


@pytest.fixture
def reports() -> Iterator[Reports]:
    r = Reports()
    yield r
    r.close()


def test_the_web_player_plays_a_live_stream_in_headless_chromium(
    s3_server: SeaweedServer, segments: list[SegmentFile], reports: Reports, tmp_path: Path
) -> None:
    s3 = direct_s3_client(s3_server.endpoint_url)
    bucket = f"p-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    public_read(s3, bucket)
    # The CORS rule `surecast bucket-setup` applies: the page (on the player's origin) reads the bucket.
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [cors_rule([])]})
    publisher = Publisher(s3, bucket, segments, window=10)
    port = free_port()
    stream = f"{s3_server.endpoint_url}/{bucket}/{publisher.key('master.m3u8')}"
    player_log = tmp_path / "player.log"
    player = spawn(
        [str(BIN / "surecast"), "player", "--stream", stream, "--port", str(port)], None, player_log, cwd=tmp_path
    )
    browser: DevTools | None = None
    try:
        wait_until(lambda: "surecast player: http://" in player_log.read_text(), 20, message="player did not start")
        with publisher.live(preroll=5):
            assert CHROMIUM is not None
            argv = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "about:blank"]
            browser = DevTools(argv, tmp_path / "chromium.log")
            browser.open_page(f"http://127.0.0.1:{port}/?report={reports.url}")
            states: list[tuple[float, dict[str, Any]]] = []

            def played_long_enough() -> bool:
                assert browser is not None
                raw = browser.evaluate("JSON.stringify(window.surecastPlayer && window.surecastPlayer.state())")
                state = json.loads(raw) if raw and raw != "undefined" else None
                if state:
                    states.append((time.monotonic(), state))
                    assert state["fatalErrors"] == [], state["fatalErrors"]
                playing = [(t, s) for t, s in states if s["currentTime"] > 0]
                return bool(playing) and playing[-1][1]["currentTime"] - playing[0][1]["currentTime"] >= PLAY_SECONDS

            wait_until(played_long_enough, 45, interval=0.5, message=f"video did not play {PLAY_SECONDS:g} s")
            browser.screenshot(tmp_path / "player.png")
        last = states[-1][1]
        first_playing = next(s for _, s in states if s["currentTime"] > 0)
        assert last["engine"] == "hls.js" and last["live"] is True and last["status"] in ("live", "catching-up")
        assert last["paused"] is False and last["fatalErrors"] == []
        assert [lv["height"] for lv in last["levels"]] == [180]
        assert last["behind"] is not None and 0 < last["behind"] < 30
        assert (tmp_path / "player.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert reports.received and reports.received[-1]["engine"] == "hls.js"
        print(
            f"\nbrowser: currentTime {first_playing['currentTime']:.1f} -> {last['currentTime']:.1f} s, "
            f"{last['behind']:.1f} s behind live, status {last['status']}, non-fatal errors {len(last['errors'])}, "
            f"screenshot {tmp_path / 'player.png'}"
        )
    except AssertionError:
        print(log_tail(player_log))
        raise
    finally:
        if browser is not None:
            browser.close()
        terminate(player)


LOW_LATENCY_ENV = {
    "SURECAST_ENCODER_PROFILE": "low-latency",  # and no SEGMENT_SECONDS: the profile's 1 s
    "SURECAST_ENCODER_RENDITIONS": "320x180@250k",
    "SURECAST_ENCODER_FRAMERATE": "25",
    "SURECAST_ENCODER_PRESET": "ultrafast",
    "SURECAST_ENCODER_FINAL_WAIT": "60",
}


def _player_state(browser: DevTools) -> dict[str, Any] | None:
    raw = browser.evaluate("JSON.stringify(window.surecastPlayer && window.surecastPlayer.state())")
    return json.loads(raw) if raw and raw != "undefined" else None


def test_the_web_player_shows_how_far_behind_live_it_plays_from_the_program_date_time(
    stack: Stack, tmp_path: Path
) -> None:
    public_read(stack.s3, stack.bucket)  # the page reads the bucket anonymously, like a viewer
    stack.s3.put_bucket_cors(Bucket=stack.bucket, CORSConfiguration={"CORSRules": [cors_rule([])]})
    stack.env.update(LOW_LATENCY_ENV)  # the player's config.json takes the profile from the same settings
    stack.start_worker(concurrency=2)
    log = stack.tmp / "encoder.log"
    cmd = [str(BIN / "surecast"), "encode", "--duration", "45", "--event-id", EVENT]
    encoder = Encoder(spawn(cmd, stack.env, log, cwd=stack.tmp), log, stack)
    direct = f"{stack.s3_server.endpoint_url}/{stack.bucket}"
    port = free_port()
    player_log = tmp_path / "player.log"
    player = spawn(
        [str(BIN / "surecast"), "player", "--stream", f"{direct}/live/{EVENT}/master.m3u8", "--port", str(port)],
        stack.env,
        player_log,
        cwd=tmp_path,
    )
    browser: DevTools | None = None
    samples: list[tuple[float, dict[str, Any], float]] = []
    try:
        wait_until(lambda: get_text(stack, f"live/{EVENT}/master.m3u8"), 40, 0.5, "no master playlist")
        wait_until(lambda: "surecast player: http://" in player_log.read_text(), 20, message="player did not start")
        assert CHROMIUM is not None
        argv = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "about:blank"]
        browser = DevTools(argv, tmp_path / "chromium.log")
        browser.open_page(f"http://127.0.0.1:{port}/")

        def sample() -> bool:
            assert browser is not None
            state = _player_state(browser)
            if not state or state["latency"] is None:
                return False
            # The newest segment the bucket lists, read after the page: the picture cannot be newer than its end.
            text = get_text(stack, f"live/{EVENT}/180p/live.m3u8") or ""
            parsed = parse_playlist(text)
            assert isinstance(parsed, MediaPlaylist) and parsed.target_duration == 1, text
            last = parsed.segments[-1]
            newest = (last.program_time or 0.0) + last.duration
            samples.append((time.time(), state, newest))
            return len(samples) >= 5

        wait_until(sample, 60, 1.0, "the page showed no latency figure")
        shown = browser.evaluate("document.getElementById('behind').textContent")
        attribute = browser.evaluate("document.getElementById('behind').dataset.latency")
        exposed = browser.evaluate("window.surecastLatency")
    except AssertionError:
        print(log_tail(player_log), log_tail(log))
        raise
    finally:
        if browser is not None:
            browser.close()
        terminate(player)
    assert encoder.wait(120) == 0, encoder.output()[-3000:]

    sampled_at, last, _ = samples[-1]
    print(
        f"\nbrowser: {[round(s['latency'], 2) for _, s, _ in samples]} s behind live (glass to glass), "
        f"{last['behind']:.2f} s from the playlist's end, target {last['targetLatency']} s; shown {shown!r}"
    )
    assert last["profile"] == "low-latency" and last["status"] == "live" and last["fatalErrors"] == []
    assert 2.0 <= last["targetLatency"] <= 3.0  # two 1 s target durations (+1 s per stall, capped at one)
    for at, state, newest in samples:
        assert 0 < state["latency"] < 30, state
        # Derived from the date of the picture: never newer than the end of the newest listed segment.
        assert state["latency"] >= at - newest - 0.25, (state["latency"], at - newest)
    assert shown.endswith(" s behind live") and abs(float(shown.split()[0]) - exposed) <= 0.6
    assert attribute is not None and abs(float(attribute) - exposed) < 0.6
