"""The viewers' page with two destinations, in headless Chromium: the backup's page plays while the primary is
stopped, and so does the primary's own page, from the backup.

The stack delivers one event to two SeaweedFS servers: the primary (behind the venue's uplink, the stack's
fault proxy) and the backup ``b2`` (a server of its own); the encoder publishes the page on both. Viewers reach
the primary through a proxy of their own (its SURECAST_S3_PUBLIC_URL), so the test stops the primary for
everyone without stopping the S3 server other tests share: both proxies refuse for 20 s (the workers cannot
deliver to it, viewers cannot read it). Chromium is driven as in tests/support/chromium.py; skipped with the
reason without Debian's chromium.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.integration.test_encoder_live import start_encoder
from tests.support.chromium import BACKGROUND_TAB_FLAGS, CHROMIUM, CHROMIUM_FLAGS, DevTools, Tab
from tests.support.destinations import BACKUP_PREFIX, backup_destination
from tests.support.faultproxy import FaultProxy
from tests.support.procs import log_tail, wait_until
from tests.support.stack import Stack

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"),
    pytest.mark.slow,  # minutes of live events in a browser: `pytest -m slow` (CI runs it after the default suite)
]

STOPPED_SECONDS = 20.0


def state(tab: Tab) -> dict[str, Any]:
    raw = tab.evaluate("JSON.stringify(window.surecastViewer && window.surecastViewer.state())")
    return json.loads(raw) if raw and raw != "undefined" else {"view": "none", "currentTime": 0.0}


def origin(url: str) -> str:
    """The origin a request went to; ``data:`` for inline data, a blob's (a worker script) is its page's."""
    if url.startswith("data:"):
        return "data:"
    return "{0.scheme}://{0.netloc}".format(urlsplit(url.removeprefix("blob:")))


def wait_playing(tab: Tab, seconds: float, timeout: float) -> dict[str, Any]:
    start: list[float] = []

    def played() -> dict[str, Any] | None:
        now = state(tab)
        if now["view"] != "live":
            return None
        start[:] = start or [now["currentTime"]]
        return now if now["currentTime"] - start[0] >= seconds else None

    return wait_until(played, timeout, 0.25, f"the page did not play live (last {state(tab)})")


@pytest.mark.timeout(420)
def test_the_backups_page_plays_while_the_primary_is_stopped_and_so_does_the_primarys(
    stack: Stack, tmp_path: Path
) -> None:
    with backup_destination(stack, tmp_path) as backup:
        viewers_primary = FaultProxy(stack.s3_server.port)
        viewers_primary.start()
        stack.env["SURECAST_S3_PUBLIC_URL"] = f"http://127.0.0.1:{viewers_primary.port}/{stack.bucket}"
        backup_page = f"{backup.server.endpoint_url}/{backup.bucket}/{BACKUP_PREFIX}/main/index.html"
        primary_page = f"{stack.env['SURECAST_S3_PUBLIC_URL']}/live/main/index.html"
        stack.start_worker(concurrency=2)  # a worker per destination
        encoder = start_encoder(stack, 600)
        assert CHROMIUM is not None
        browser = DevTools(
            [CHROMIUM, *CHROMIUM_FLAGS, *BACKGROUND_TAB_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"],
            tmp_path / "c.log",
        )
        try:
            for etag in (lambda: backup.etag(f"{BACKUP_PREFIX}/main/index.html"), lambda: stack.stored_etag(
                "live/main/index.html")):  # fmt: skip
                wait_until(etag, 60, 0.5, "the page was not delivered to every destination")
            on_backup = browser.new_tab(backup_page)
            on_primary = browser.new_tab(primary_page)
            before = {name: wait_playing(tab, 3.0, 90) for name, tab in (("b2", on_backup), ("primary", on_primary))}

            viewers_primary.set_mode("refuse")
            stack.proxy.set_mode("refuse")
            stopped_at = time.monotonic()
            samples: list[tuple[float, dict[str, Any], dict[str, Any]]] = []
            while time.monotonic() - stopped_at < STOPPED_SECONDS:
                samples.append((time.monotonic(), state(on_backup), state(on_primary)))
                time.sleep(0.5)
            viewers_primary.set_mode("pass")
            stack.proxy.set_mode("pass")
            wall = samples[-1][0] - samples[0][0]
            after = {"b2": samples[-1][1], "primary": samples[-1][2]}
            played = {name: after[name]["currentTime"] - samples[0][1 if name == "b2" else 2]["currentTime"]
                      for name in after}  # fmt: skip
            requests = {"b2": on_backup.requests(), "primary": on_primary.requests()}
            on_backup.screenshot(tmp_path / "backup.png")
        except AssertionError:
            print("encoder log:\n" + log_tail(encoder.log))
            raise
        finally:
            browser.close()
            viewers_primary.stop()
            encoder.proc.send_signal(signal.SIGINT)
            try:
                encoder.wait(120)
            finally:
                if encoder.proc.poll() is None:
                    encoder.proc.kill()

    by_origin = {
        name: {o: sum(1 for r in found if origin(r["url"]) == o) for o in {origin(r["url"]) for r in found}}
        for name, found in requests.items()
    }
    print(
        f"\nprimary stopped {STOPPED_SECONDS:g} s: the backup's page played {played['b2']:.1f} s in {wall:.1f} s "
        f"(stalls {after['b2']['stalls']}), the primary's page {played['primary']:.1f} s (stalls "
        f"{after['primary']['stalls']}, switches {len(after['primary']['failover']['switches'])}); requests by "
        f"origin {by_origin}"
    )
    for name in ("b2", "primary"):
        assert before[name]["stalls"] == 0 and after[name]["stalls"] == 0, (name, after[name])
        assert {s[1 if name == "b2" else 2]["view"] for s in samples} == {"live"}, name
        assert played[name] >= wall - 3.0, f"{name}'s page fell behind the wall clock: it waited"
    # The backup's page asked the backup alone; the primary's page read the backup while its own host was down.
    backup_origin = origin(backup_page)
    assert set(by_origin["b2"]) <= {backup_origin, "data:"}, by_origin
    page_files = [
        r
        for r in requests["b2"]
        if r["type"] in ("Document", "Script", "Stylesheet", "Fetch") and not r["url"].startswith(("blob:", "data:"))
    ]
    assert page_files and all(r["url"].startswith(backup_origin + "/") for r in page_files), page_files
    assert by_origin["primary"].get(backup_origin, 0) > 0, by_origin
