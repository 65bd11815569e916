"""The console in headless Chromium, against the real stack: Redis, SeaweedFS behind the fault proxy, a worker,
a real encoder and the real `surecast console`.

The page loads only with the login; it shows the viewers' link with its QR code and copies it; it shows LIVE
with the preview playing, UPLINK DOWN within 10 s of the link being cut and LIVE again after it returns; its
plots are drawn; "retry now" re-queues a failed file; "finish event" ends the event. Chromium is driven as in
tests/support/chromium.py (the DevTools protocol on a pipe) and reaches nothing but 127.0.0.1; the screenshot
goes to the test's tmp dir. Skipped with the reason when Debian's chromium is not installed.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from journal.files import State
from stack.bucket_setup import cors_rule
from tests.integration.test_encoder_live import EVENT, start_encoder
from tests.support.chromium import CHROMIUM, CHROMIUM_FLAGS, DevTools
from tests.support.client_streams import public_read
from tests.support.procs import free_port, log_tail, spawn, terminate, wait_until
from tests.support.stack import BIN, Stack

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")

UPLINK_DOWN_WITHIN = 10.0
# The series colours of console.js: the upload rate, the first rendition's lag, the backlog.
SERIES_COLOURS = {
    "chart-rate": (0x8A, 0xB4, 0xF8),
    "chart-lag": (0x8A, 0xB4, 0xF8),
    "chart-backlog": (0xFD, 0xD6, 0x63),
}
# Pixels of a chart's canvas within a few steps of its series colour: the line is drawn, not only the axes.
SERIES_PIXELS = """(function (colours) {
  var out = {};
  Object.keys(colours).forEach(function (id) {
    var c = document.querySelector("#" + id + " canvas");
    if (!c) { out[id] = -1; return; }
    var d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data, rgb = colours[id], n = 0;
    for (var i = 0; i < d.length; i += 4) {
      if (d[i + 3] > 200 && Math.abs(d[i] - rgb[0]) < 12 && Math.abs(d[i + 1] - rgb[1]) < 12 &&
          Math.abs(d[i + 2] - rgb[2]) < 12) n++;
    }
    out[id] = n;
  });
  return JSON.stringify(out);
})(%s)"""


SHARE = """JSON.stringify(Object.assign({}, window.surecastShare ? window.surecastShare.state() : {url: null},
  {qrWidth: document.getElementById('share-qr').naturalWidth}))"""


def http_status(url: str, login: tuple[str, str] | None = None) -> int:
    headers = {}
    if login:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{login[0]}:{login[1]}".encode()).decode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


class Page:
    """The console page in Chromium, read through ``window.surecastConsole.state()``."""

    def __init__(self, browser: DevTools) -> None:
        self.browser = browser
        self.seen: list[tuple[float, dict[str, Any]]] = []

    def state(self) -> dict[str, Any] | None:
        raw = self.browser.evaluate("JSON.stringify(window.surecastConsole && window.surecastConsole.state())")
        if not raw or raw == "undefined":
            return None
        state: dict[str, Any] = json.loads(raw)
        self.seen.append((time.monotonic(), state))
        return state

    def wait_label(self, label: str, timeout: float) -> dict[str, Any]:
        def shows() -> dict[str, Any] | None:
            state = self.state()
            return state if state and state["label"] == label else None

        last = self.seen[-1][1] if self.seen else None
        return wait_until(shows, timeout, interval=0.25, message=f"the page did not show {label} (last {last})")

    def wait_preview_moves(self, seconds: float, timeout: float) -> tuple[float, float]:
        start: list[float] = []

        def moved() -> tuple[float, float] | None:
            state = self.state()
            now = state["preview"]["currentTime"] if state else 0.0
            if now > 0 and not start:
                start.append(now)
            return (start[0], now) if start and now - start[0] >= seconds else None

        return wait_until(moved, timeout, interval=0.5, message=f"the preview did not play {seconds:g} s")


def test_the_console_shows_the_stream_an_uplink_cut_and_its_return_and_retries_a_failed_file(
    stack: Stack, tmp_path: Path
) -> None:
    public_read(stack.s3, stack.bucket)  # the preview reads the bucket anonymously, like a viewer
    stack.s3.put_bucket_cors(Bucket=stack.bucket, CORSConfiguration={"CORSRules": [cors_rule([])]})
    stack.start_worker(concurrency=2)
    encoder = start_encoder(stack, 240)
    port = free_port()
    stack.env["SURECAST_CONSOLE_PORT"] = str(port)  # for `surecast credentials` too
    console_log = tmp_path / "console.log"
    console = spawn([str(BIN / "surecast"), "console"], stack.env, console_log, stack.tmp)
    base = f"http://127.0.0.1:{port}"
    browser: DevTools | None = None
    try:
        wait_until(lambda: "surecast console: http://" in console_log.read_text(), 30, message="console did not start")
        login = json.loads((stack.spool / "credentials.json").read_text())
        user, password = login["user"], login["password"]
        assert console_log.read_text().count(password) == 1, "the generated password is printed once"
        for path in ("/", "/console.js", "/hls.min.js", "/uPlot.iife.min.js", "/api/status", "/api/history"):
            assert http_status(base + path) == 401, path
            assert http_status(base + path, (user, "wrong")) == 401, path
            assert http_status(base + path, (user, password)) == 200, path
        shown = stack.run_cli("credentials", timeout=30)
        assert shown.returncode == 0 and f"password: {password}" in shown.stdout and f"console: {base}/" in shown.stdout

        assert CHROMIUM is not None
        argv = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "about:blank"]
        browser = DevTools(argv, tmp_path / "chromium.log")
        browser.open_page(base + "/")
        # Without the login the browser gets the 401 and, headless, shows its error page: no console runs.
        refused = wait_until(
            lambda: str(browser.evaluate("location.href") or "").startswith("chrome-error://"),
            20,
            message="the page opened without the login",
        )
        assert refused and browser.evaluate("typeof window.surecastConsole") == "undefined"
        # As a volunteer would type it into the login prompt: the browser keeps it for the page's requests.
        browser.call("Page.navigate", {"url": f"http://{user}:{password}@127.0.0.1:{port}/"})
        page = Page(browser)

        # The share box: the viewers' link, its snippet and QR code, and a copy button that copies.
        share = wait_until(
            lambda: (raw := browser.evaluate(SHARE)) and (found := json.loads(raw))["url"] and found,
            20,
            message="the share box did not fill",
        )
        assert share["url"] == f"{stack.env['SURECAST_S3_ENDPOINT_URL']}/{stack.bucket}/live/main/index.html"
        assert share["iframe"].startswith(f'<iframe src="{share["url"]}"') and share["qrWidth"] >= 100
        # A volunteer's click: a user gesture in a focused page allowed to write the clipboard (headless has
        # no focus and no user to grant it).
        origin = f"http://127.0.0.1:{port}"
        browser.call("Browser.grantPermissions", {"origin": origin, "permissions": ["clipboardSanitizedWrite"]}, False)
        browser.call("Emulation.setFocusEmulationEnabled", {"enabled": True})
        browser.call(
            "Runtime.evaluate",
            {"expression": "document.querySelector('button[data-copy=share-url]').click()", "userGesture": True},
        )
        copied = wait_until(
            lambda: json.loads(browser.evaluate(SHARE))["copied"],
            10,
            message="nothing copied",
        )
        assert copied == ["share-url"]

        live = page.wait_label("LIVE", 60)
        before_cut = page.wait_preview_moves(4.0, 60)
        assert live["level"] == "ok" and live["event"]["id"] == EVENT and live["preview"]["engine"] == "hls.js"

        stack.proxy.set_mode("refuse")
        cut = time.monotonic()
        down = page.wait_label("UPLINK DOWN", UPLINK_DOWN_WITHIN)
        down_after = time.monotonic() - cut
        assert "recording safe on this PC" in down["detail"] and "segments waiting" in down["detail"]
        while time.monotonic() < cut + down_after + 4:  # a backlog builds up; the page keeps saying so
            assert (page.state() or {}).get("label") == "UPLINK DOWN", page.seen[-1]
            time.sleep(0.5)
        stack.proxy.set_mode("pass")
        back = time.monotonic()
        page.wait_label("LIVE", 60)
        live_after = time.monotonic() - back
        after_return = page.wait_preview_moves(2.0, 45)

        wait_until(lambda: page.state() and page.state()["points"] >= 10, 30, message="no history")  # type: ignore[index]
        pixels = wait_until(
            lambda: (
                (p := json.loads(browser.evaluate(SERIES_PIXELS % json.dumps(SERIES_COLOURS))))
                and all(n > 20 for n in p.values())
                and p
            ),
            20,
            message="a plot has no line drawn",
        )

        # A failed file: its group shows with a "retry now" button, which re-queues it.
        journal = stack.journal()
        row = journal.get(f"live/{EVENT}/180p/seg_1.ts")
        assert row is not None and row.state == State.VERIFIED
        reason = "S3 said NoSuchBucket: The specified bucket does not exist"
        journal.mark_failed(row.key, reason, version=row.version)
        problem = page.wait_label("PROBLEM", 15)
        assert "1 file failed: " + reason in problem["detail"] and problem["failures"][0]["files"] == 1
        clicked = time.time()
        assert browser.evaluate(
            f"document.querySelector('#failure-list li[data-reason={json.dumps(reason)}] button').click() || true"
        )
        requeued = wait_until(
            lambda: (r := journal.get(row.key)) and r.state != State.FAILED and (r.published_at or 0) >= clicked and r,
            15,
            message="retry now did not re-queue the failed file",
        )
        action = wait_until(lambda: page.state()["actions"], 10, message="no answer to retry")  # type: ignore[index]
        assert action[0]["result"]["requeued"] == 1
        page.wait_label("LIVE", 30)
        tall = {"width": 1280, "height": 1500, "deviceScaleFactor": 1, "mobile": False}
        browser.call("Emulation.setDeviceMetricsOverride", tall)  # the whole page, plots and failures included
        time.sleep(1)
        browser.screenshot(tmp_path / "console.png")

        # "Finish event", confirmed: the encoder ends the event cleanly.
        browser.evaluate("window.confirm = function () { return true; }; document.getElementById('finish').click()")
        assert encoder.wait(90) == 0, log_tail(encoder.log)
        page.wait_label("OFF AIR", 30)
        journal.close()
        print(
            f"\nconsole: UPLINK DOWN {down_after:.1f} s after the cut, LIVE {live_after:.1f} s after the return; "
            f"preview {before_cut[0]:.1f}->{before_cut[1]:.1f} s before, "
            f"{after_return[0]:.1f}->{after_return[1]:.1f} s after; plot pixels {pixels}; "
            f"re-queued {requeued.key} ({requeued.state}); "
            f"screenshot {tmp_path / 'console.png'}"
        )
    except AssertionError:
        print("console log:\n" + log_tail(console_log))
        print("encoder log:\n" + log_tail(encoder.log))
        raise
    finally:
        if browser is not None:
            browser.close()
        terminate(console)
        terminate(encoder.proc)
