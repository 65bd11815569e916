"""The web player fails over between destinations in headless Chromium, without a stall.

The real stack delivers one event to two SeaweedFS servers (the primary, and the backup ``b2``); the web
player (`surecast player`, hls.js with failover.js) plays the backup's master with a 30 s buffer. The
backup's server is stopped for a minute mid-event: the picture never waits, the player reads the primary
meanwhile, and it comes back to the backup once that answers again. Chromium is driven as in
test_player_browser.py and reaches nothing but 127.0.0.1. Skipped with the reason without Debian's chromium.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_encoder_live import ENCODER_ENV, EVENT, start_encoder
from tests.support.chromium import CHROMIUM, CHROMIUM_FLAGS, DevTools
from tests.support.destinations import BACKUP_PREFIX, backup_destination
from tests.support.procs import free_port, log_tail, spawn, terminate, wait_until
from tests.support.stack import BIN, Stack

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"),
    pytest.mark.slow,  # minutes of live events in a browser: `pytest -m slow` (CI runs it after the default suite)
]

OUTAGE = 60.0
EVENT_SECONDS = 120


def _state(browser: DevTools) -> dict[str, Any] | None:
    raw = browser.evaluate("JSON.stringify(window.surecastPlayer && window.surecastPlayer.state())")
    return json.loads(raw) if raw and raw != "undefined" else None


@pytest.mark.timeout(480)
def test_the_web_player_rides_through_a_destination_stopped_for_a_minute(stack: Stack, tmp_path: Path) -> None:
    stack.env.update({**ENCODER_ENV, "SURECAST_ENCODER_FINAL_WAIT": "300"})
    with backup_destination(stack, tmp_path) as backup:
        stack.start_worker(concurrency=2)
        encoder = start_encoder(stack, EVENT_SECONDS)
        # Each destination as failover.js names it: the part of a rendition's address before the event.
        home = f"{backup.server.endpoint_url}/{backup.bucket}/{BACKUP_PREFIX}/"
        primary = f"{stack.s3_server.endpoint_url}/{stack.bucket}/live/"
        master = f"{home}{EVENT}/master.m3u8"
        wait_until(lambda: backup.etag(f"{BACKUP_PREFIX}/{EVENT}/master.m3u8"), 40, 0.5, "no master on the backup")
        port = free_port()
        player_log = tmp_path / "player.log"
        player = spawn(
            [str(BIN / "surecast"), "player", "--stream", master, "--port", str(port)], stack.env, player_log
        )
        browser: DevTools | None = None
        samples: list[tuple[float, dict[str, Any]]] = []
        try:
            wait_until(lambda: "surecast player: http://" in player_log.read_text(), 20, message=log_tail(player_log))
            assert CHROMIUM is not None
            argv = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "about:blank"]
            browser = DevTools(argv, tmp_path / "chromium.log")
            browser.open_page(f"http://127.0.0.1:{port}/?buffer=30")

            def sample() -> dict[str, Any] | None:
                assert browser is not None
                state = _state(browser)
                if state:
                    samples.append((time.monotonic(), state))
                return state

            wait_until(lambda: (s := sample()) and s["currentTime"] > 2, 60, 0.5, "the video did not start")
            started = samples[-1]
            backup.server.stop()
            stopped = time.monotonic()
            while time.monotonic() - stopped < OUTAGE:
                sample()
                time.sleep(0.5)
            backup.server.start()
            wait_until(
                lambda: (s := sample()) and s["failover"]["current"] == home and time.monotonic() - stopped > OUTAGE,
                60,
                0.5,
                "the player did not come back to the backup",
            )
            browser.screenshot(tmp_path / "failover.png")
        except AssertionError:
            print(log_tail(player_log))
            print(json.dumps(samples[-1][1] if samples else None, indent=1)[:6000])
            raise
        finally:
            if browser is not None:
                browser.close()
            terminate(player)
        assert encoder.wait(EVENT_SECONDS + 240) == 0, encoder.output()[-3000:]

    last_at, last = samples[-1]
    first_at, first = started
    played, wall = last["currentTime"] - first["currentTime"], last_at - first_at
    failover = last["failover"]
    print(
        f"\nbrowser: played {played:.1f} s of media in {wall:.1f} s through a {OUTAGE:g} s outage of the backup; "
        f"stalls {last['stalls']}; switches {failover['switches']}; served {failover['served']}"
    )
    assert last["fatalErrors"] == [] and last["stalls"] == 0, last
    assert played >= wall - 3.0, "the picture fell behind the wall clock: it waited"
    moves = [(s["from"], s["to"]) for s in failover["switches"]]
    assert moves[0] == (home, primary) and (primary, home) in moves, moves
    assert failover["served"].get(primary, 0) > 0 and failover["served"].get(home, 0) > 0, failover
