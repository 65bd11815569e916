"""The viewers' page in headless Chromium, loaded from SeaweedFS over HTTP as a viewer's phone would load it,
against the real stack: Redis, SeaweedFS behind the fault proxy (the venue's uplink), a worker, a real encoder.

One event serves every test of this module (the module-scoped ``viewing`` runs it and records what the page
showed; each test checks one behaviour): `surecast bucket-setup` delivers the page before the event, and it
says the broadcast starts soon; two viewers play the event, one near the live edge and one with ?delay=30; the
uplink is cut for 20 s: the first sees "reconnecting" and plays again after it, the second sees nothing at all;
at the end the page says the broadcast ended, and its replay plays; an earlier broadcast in the list plays from
the keyboard on a phone-sized screen. Every request the first viewer's page made went to its own origin. The
figures for the closing note are printed: time from opening the link to the first frame, the stall each viewer
saw through the cut, the page's weight. Chromium is driven as in tests/support/chromium.py; skipped with the
reason without Debian's chromium.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from encoder.channel import load_viewer_page
from tests.integration.test_encoder_live import start_encoder
from tests.support.chromium import BACKGROUND_TAB_FLAGS, CHROMIUM, CHROMIUM_FLAGS, DevTools, Tab
from tests.support.procs import log_tail, wait_until
from tests.support.seaweed import SeaweedServer
from tests.support.stack import running_stack

pytestmark = [
    pytest.mark.slow,  # minutes of live events in a browser: `pytest -m slow` (CI runs it after the default suite)
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"),
    pytest.mark.xdist_group("viewer-page-browser"),  # one event for the whole module: one process runs it
]

CUT_SECONDS = 20.0
DELAY = 30
STALLED = "Reconnecting: the broadcast is safe and will continue."
NEWCOMERS = 3
STATE_KEY = "live/main/channel.json"
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
# Focus the first earlier broadcast as a keyboard user would reach it; true once it is there and focused.
PAST_FOCUSED = """(function () {
  var b = document.querySelector('#past-list button');
  if (!b) return false;
  b.focus();
  return document.activeElement === b;
})()"""
# What a phone shows: nothing wider than the screen, the status announced politely, every button named.
LAYOUT = """JSON.stringify({
  width: window.innerWidth, scrollWidth: document.documentElement.scrollWidth,
  videoWidth: document.getElementById('video').getBoundingClientRect().width,
  live: document.getElementById('status').getAttribute('aria-live'),
  role: document.getElementById('status').getAttribute('role'),
  unnamed: Array.prototype.filter.call(document.querySelectorAll('button'), function (b) {
    return !(b.getAttribute('aria-label') || b.textContent.trim()); }).length,
  pastLabel: (document.querySelector('#past-list button') || {getAttribute: function () { return null; }})
    .getAttribute('aria-label')
})"""


def viewer_state(tab: Tab) -> dict[str, Any] | None:
    raw = tab.evaluate("JSON.stringify(window.surecastViewer && window.surecastViewer.state())")
    return json.loads(raw) if raw and raw != "undefined" else None


@dataclass
class Viewer:
    """One tab of the page, sampled: every state it reported, with the time it was read."""

    tab: Tab
    seen: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    def sample(self) -> dict[str, Any]:
        state = viewer_state(self.tab) or {"view": "none", "currentTime": 0.0}
        self.seen.append((time.monotonic(), state))
        return state

    def wait_view(self, view: str, timeout: float) -> dict[str, Any]:
        last: list[dict[str, Any]] = []

        def shows() -> dict[str, Any] | None:
            state = self.sample()
            last[:] = [state]
            return state if state["view"] == view else None

        return wait_until(shows, timeout, 0.25, f"the page did not show {view!r} (last: {last})")

    def wait_plays(self, seconds: float, timeout: float, view: str | None = None) -> tuple[float, float]:
        """Until currentTime advanced ``seconds`` (in ``view`` if given); (from, to)."""
        start: list[float] = []

        def played() -> tuple[float, float] | None:
            state = self.sample()
            now = state["currentTime"]
            if view is not None and state["view"] != view:
                start.clear()
                return None
            if not start and now > 0:
                start.append(now)
            return (start[0], now) if start and now - start[0] >= seconds else None

        return wait_until(played, timeout, 0.25, f"the page did not play {seconds:g} s (last: {self.seen[-1:]})")


@dataclass
class Viewing:
    page_url: str
    bucket_setup: str
    waiting: dict[str, Any]
    live: dict[str, Any]
    live_played: tuple[float, float]
    delayed_live: dict[str, Any]
    cut: list[tuple[float, dict[str, Any], dict[str, Any]]]  # (seconds since the cut, edge viewer, delayed viewer)
    edge_after: dict[str, Any]
    edge_back_after: float
    edge_settled: dict[str, Any]  # the edge viewer once the backlog landed
    delayed_after: dict[str, Any]
    delayed_played_through: tuple[float, float, float]  # media seconds played, wall seconds, from the cut's start
    first_frames_ms: list[float]
    ended: dict[str, Any]
    replay: dict[str, Any]
    replay_played: tuple[float, float]
    past: dict[str, Any]
    past_played: tuple[float, float]
    layout: dict[str, Any]
    requests: list[dict[str, Any]]
    weight_bytes: dict[str, int]


@pytest.fixture(scope="module")
def viewing(tmp_path_factory: pytest.TempPathFactory, s3_server: SeaweedServer) -> Iterator[Viewing]:
    tmp = tmp_path_factory.mktemp("viewer")
    with running_stack(tmp, s3_server) as stack:
        viewer_base = f"{s3_server.endpoint_url}/{stack.bucket}"  # viewers read the bucket, not through the uplink
        stack.env.update({"SURECAST_S3_PUBLIC_URL": viewer_base, "SURECAST_ENCODER_FINAL_WAIT": "120"})
        setup = stack.run_cli("bucket-setup", "--public-read")
        assert setup.returncode == 0, setup.stderr
        page_url = f"{viewer_base}/live/main/index.html"
        assert CHROMIUM is not None
        argv = [CHROMIUM, *CHROMIUM_FLAGS, *BACKGROUND_TAB_FLAGS, f"--user-data-dir={tmp / 'profile'}", "about:blank"]
        browser = DevTools(argv, tmp / "chromium.log")
        encoder = None
        try:
            edge = Viewer(browser.new_tab(page_url))
            delayed = Viewer(browser.new_tab(f"{page_url}?delay={DELAY}"))
            waiting = edge.wait_view("waiting", 20)
            delayed.wait_view("waiting", 20)
            edge.tab.screenshot(tmp / "waiting.png")

            stack.start_worker(concurrency=2)
            encoder = start_encoder(stack, 600)
            edge.wait_view("live", 90)
            live_played = edge.wait_plays(4.0, 40, view="live")
            live = edge.sample()
            edge.tab.screenshot(tmp / "live.png")
            # Newcomers open the link mid-event, one after another: the time to their first frame.
            first_frames = []
            for _ in range(NEWCOMERS):
                newcomer = Viewer(browser.new_tab(page_url, record_requests=False))
                first_frames.append(
                    wait_until(lambda v=newcomer: v.sample().get("firstFrameMs"), 30, 0.25, "no first frame")
                )
                newcomer.tab.close()
            delayed.wait_view("live", 120)
            delayed.wait_plays(3.0, 30, view="live")
            delayed_live = delayed.sample()

            # The uplink: the workers' link to S3. Viewers still read the bucket; it just stops moving.
            stack.proxy.set_mode("refuse")
            cut_at = time.monotonic()
            delayed_from = delayed.sample()["currentTime"]
            cut: list[tuple[float, dict[str, Any], dict[str, Any]]] = []
            while time.monotonic() - cut_at < CUT_SECONDS:
                cut.append((time.monotonic() - cut_at, edge.sample(), delayed.sample()))
                if cut[-1][1]["view"] == "stalled" and not (tmp / "stalled.png").exists():
                    edge.tab.screenshot(tmp / "stalled.png")
                time.sleep(0.5)
            stack.proxy.set_mode("pass")
            back_at = time.monotonic()
            edge.wait_plays(3.0, 60, view="live")
            edge_back_after = time.monotonic() - back_at
            edge_after = edge.sample()
            while time.monotonic() - cut_at < CUT_SECONDS + 15:  # the delayed viewer goes on, unaware
                cut.append((time.monotonic() - cut_at, edge.sample(), delayed.sample()))
                time.sleep(0.5)
            delayed_after = delayed.sample()
            edge_settled = edge.sample()
            played_through = (delayed_after["currentTime"] - delayed_from, time.monotonic() - cut_at, delayed_from)

            encoder.proc.send_signal(signal.SIGINT)  # the event ends cleanly: its final playlists, then the VOD
            assert encoder.wait(180) == 0, log_tail(encoder.log)
            ended = edge.wait_view("ended", 60)
            wait_until(
                lambda: edge.tab.evaluate("!document.getElementById('replay').hidden"), 30, 0.5, "no replay offered"
            )
            ended = edge.sample()
            edge.tab.screenshot(tmp / "ended.png")
            edge.tab.evaluate("document.getElementById('replay').click()")
            replay_played = edge.wait_plays(3.0, 40, view="replay")
            replay = edge.sample()

            # An earlier broadcast in the list, chosen from the keyboard, on a phone-sized screen. (channel.json is
            # written here by the test: a second event would cost a minute, and the encoder's own writes are
            # checked above; ev1's replay is real.)
            edge.tab.call("Emulation.setDeviceMetricsOverride", PHONE)
            earlier = {**json.loads(stack.s3.get_object(Bucket=stack.bucket, Key=STATE_KEY)["Body"].read())}
            earlier["past"] = [{**earlier["past"][0], "event": "ev1"}] if earlier["past"] else [
                {"event": "ev1", "started_at": earlier["current"]["started_at"], "duration": 60.0,
                 "replay": earlier["current"]["replay"]}
            ]  # fmt: skip
            earlier["current"] = {**earlier["current"], "event": "ev2", "replay": None, "live": "../ev2/master.m3u8"}
            stack.s3.put_object(Bucket=stack.bucket, Key=STATE_KEY, Body=json.dumps(earlier).encode(),
                                ContentType="application/json", CacheControl="max-age=5")  # fmt: skip
            edge.tab.evaluate("document.getElementById('golive').click()")  # leave the replay chosen above
            wait_until(lambda: edge.tab.evaluate(PAST_FOCUSED), 30, 0.5, "the earlier broadcast was not listed")
            for kind in ("keyDown", "keyUp"):
                edge.tab.call("Input.dispatchKeyEvent", {"type": kind, "key": "Enter", "code": "Enter",
                                                         "windowsVirtualKeyCode": 13, "text": "\r"})  # fmt: skip
            past_played = edge.wait_plays(2.0, 40, view="replay")
            past = edge.sample()
            layout = json.loads(edge.tab.evaluate(LAYOUT))
            edge.tab.screenshot(tmp / "phone.png")
            requests = edge.tab.requests()
            sizes = edge.tab.received_bytes()
            weight = {
                r["url"].rsplit("/", 1)[-1]: sizes.get(r["id"], 0)
                for r in requests
                if r["type"] in ("Document", "Script", "Stylesheet") and not r["url"].startswith("blob:")
            }
        except AssertionError:
            print("encoder log:\n" + (log_tail(encoder.log) if encoder else "not started"))
            print("worker log:\n" + stack.worker_log()[-3000:] if stack.workers else "no worker")
            raise
        finally:
            browser.close()
            if encoder is not None and encoder.proc.poll() is None:
                encoder.proc.kill()
        print(f"\nscreenshots in {tmp}")
        yield Viewing(
            page_url, setup.stdout, waiting, live, live_played, delayed_live, cut, edge_after, edge_back_after,
            edge_settled, delayed_after, played_through, first_frames, ended, replay, replay_played, past, past_played,
            layout, requests, weight,
        )  # fmt: skip


def test_bucket_setup_publishes_the_page_and_it_says_the_broadcast_starts_soon(viewing: Viewing) -> None:
    assert f"delivered and verified: {viewing.page_url}" in viewing.bucket_setup
    assert viewing.waiting["message"].startswith("The broadcast starts soon")
    assert viewing.waiting["playing"] is None


def test_the_page_plays_the_live_event(viewing: Viewing) -> None:
    start, end = viewing.live_played
    assert end - start >= 4.0
    live = viewing.live
    assert live["view"] == "live" and live["engine"] == "hls.js" and live["event"] == "ev1"
    assert live["playing"].endswith("/live/ev1/master.m3u8") and live["stalls"] == 0
    frames = sorted(viewing.first_frames_ms)
    print(
        f"\nFIGURE first frame after opening the link mid-event: median {frames[len(frames) // 2] / 1000:.2f} s "
        f"({', '.join(f'{f / 1000:.2f}' for f in viewing.first_frames_ms)} s for {len(frames)} newcomers; "
        f"page's clock from navigation start, sampled every 0.25 s)"
    )


def test_an_uplink_cut_shows_reconnecting_and_the_page_plays_again_after_it(viewing: Viewing) -> None:
    stalled = [(t, e) for t, e, _ in viewing.cut if e["view"] == "stalled"]
    assert stalled, [e["view"] for _, e, _ in viewing.cut]
    assert stalled[0][1]["message"] == STALLED
    after, settled = viewing.edge_after, viewing.edge_settled
    print(
        f"\nFIGURE stall at ?delay=0 through a {CUT_SECONDS:g} s cut: stalled {after['stalledSeconds']:.1f} s "
        f"(longest {after['longestStallSeconds']:.1f} s, {after['stalls']} stall(s)), playing "
        f"{viewing.edge_back_after:.1f} s after the link returned; {viewing.live['behind']:.1f} s behind live before "
        f"the cut, {settled['behind']:.1f} s once the backlog landed ({settled['jumpsToLive']} jump(s) to the edge)"
    )
    assert after["view"] == "live" and after["stalls"] >= 1
    # A stall longer than the page's limit sends it back to the live edge, not 20 s behind it.
    assert settled["jumpsToLive"] >= 1 and settled["behind"] < viewing.live["behind"] + 6


def test_with_a_30s_delay_a_20s_cut_causes_no_stall(viewing: Viewing) -> None:
    before, after = viewing.delayed_live, viewing.delayed_after
    played, wall, _ = viewing.delayed_played_through
    views = {d["view"] for _, _, d in viewing.cut}
    print(
        f"\nFIGURE stall at ?delay={DELAY} through a {CUT_SECONDS:g} s cut: stalled {after['stalledSeconds']:.1f} s, "
        f"{after['stalls']} stall(s); played {played:.1f} s of media in {wall:.1f} s; "
        f"{before['behind'] or 0:.1f} s behind live before the cut"
    )
    assert views == {"live"}, views
    assert after["stalls"] == 0 and after["stalledSeconds"] == 0 and after["jumpsToLive"] == 0
    assert played >= wall - 2.0, "the picture fell behind the wall clock: it waited"
    assert before["behind"] is not None and before["behind"] >= DELAY - 4


def test_the_page_shows_the_end_and_the_replay_plays(viewing: Viewing) -> None:
    assert viewing.ended["message"] == "The broadcast has ended. You can watch the replay."
    start, end = viewing.replay_played
    assert end - start >= 3.0
    assert viewing.replay["playing"].endswith("/live/ev1/master_vod.m3u8")
    assert viewing.replay["message"].startswith("Replay of the broadcast of ")


def test_an_earlier_broadcast_is_listed_and_plays_from_the_keyboard_on_a_phone(viewing: Viewing) -> None:
    start, end = viewing.past_played
    assert end - start >= 2.0 and viewing.past["playing"].endswith("/live/ev1/master_vod.m3u8")
    layout = viewing.layout
    assert layout["scrollWidth"] <= layout["width"] == 390 and layout["videoWidth"] >= 370, layout
    assert layout["live"] == "polite" and layout["role"] == "status" and layout["unnamed"] == 0, layout
    assert layout["pastLabel"].startswith("Watch the replay of "), layout


def test_the_page_asks_no_host_but_its_own(viewing: Viewing) -> None:
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(viewing.page_url))
    urls = [r["url"] for r in viewing.requests]
    kinds = {r["type"] for r in viewing.requests}
    assert {"Document", "Script", "Stylesheet", "Fetch", "XHR"} <= kinds, kinds
    foreign = [u for u in urls if not u.startswith((origin + "/", "data:", f"blob:{origin}/"))]
    assert foreign == [], foreign
    total = sum(viewing.weight_bytes.values())
    # The same files as published (bodies only, no headers): what a CDN would store and send uncompressed.
    page = load_viewer_page()
    published = {page.index.name: len(page.index.data)} | {f.name: len(f.data) for f in page.assets}
    loaded = {name: published[name] for name in viewing.weight_bytes if name in published}
    assert "index.html" in loaded and len(loaded) == len(viewing.weight_bytes), (loaded, viewing.weight_bytes)
    print(
        f"\nFIGURE page weight: {total / 1024:.0f} KB on the wire, {sum(loaded.values()) / 1024:.0f} KB as published "
        f"(index.html and what it loads, before any video or channel.json; "
        f"{', '.join(f'{n} {b / 1024:.1f}' for n, b in sorted(viewing.weight_bytes.items()))} KB on the wire); "
        f"{len(urls)} requests in all, every one to {origin}"
    )
