"""Alerts against the real stack: Redis, SeaweedFS behind the fault proxy, a worker, a real encoder, the real
`surecast console` and `surecast fleet`, and a webhook receiver on loopback as the Apprise target
(``json://127.0.0.1:PORT/...``).

A 60 s uplink cut (the fault proxy refusing, as in the console's browser test) gives exactly one "UPLINK
DOWN" and one "RECOVERED" with the default SURECAST_ALERTS_AFTER; a SIGKILLed venue is OFFLINE on the fleet
page within 60 s with one alert, one recovery when it returns, and a clean stop is no alert at all.
Both print their figures as ``FIGURE`` lines (time from the cut to the alert, from the death to OFFLINE,
messages per incident). Each takes well over a minute: marked slow (CI runs them with ``-m slow -n 0``).
"""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from alerts.heartbeat import BEAT_TTL
from tests.integration.test_encoder_live import start_encoder
from tests.support.procs import free_port, log_tail, signal_group, spawn, terminate, wait_until
from tests.support.stack import BIN, Stack
from tests.support.webhook import WebhookReceiver

CUT_SECONDS = 60.0
FLEET_LOGIN = ("ops", "fleet-test-password")


def get_json(url: str, login: tuple[str, str]) -> dict[str, Any]:
    token = base64.b64encode(f"{login[0]}:{login[1]}".encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        data: dict[str, Any] = json.loads(resp.read())
        return data


def start_console(stack: Stack, log: Path, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = spawn([str(BIN / "surecast"), "console"], {**stack.env, "SURECAST_CONSOLE_PORT": str(port), **env}, log)
    wait_until(lambda: "surecast console: http://" in log.read_text() or proc.poll() is not None, 30)
    assert proc.poll() is None, log_tail(log)
    return proc, f"http://127.0.0.1:{port}"


def stack_login(stack: Stack) -> tuple[str, str]:
    login = json.loads((stack.spool / "credentials.json").read_text())
    return login["user"], login["password"]


@pytest.mark.slow
def test_a_60_s_uplink_cut_gives_exactly_one_uplink_down_and_one_recovered(stack: Stack, tmp_path: Path) -> None:
    stack.start_worker(concurrency=2)
    encoder = start_encoder(stack, 400)
    console_log = tmp_path / "console.log"
    with WebhookReceiver() as hook:
        console, base = start_console(stack, console_log, SURECAST_ALERTS=hook.url("venue"), SURECAST_VENUE="north")
        try:
            login = stack_login(stack)

            def label() -> str:
                return str(get_json(base + "/api/status", login)["state"]["label"])

            wait_until(lambda: label() == "LIVE", 90, interval=0.5, message="the console never showed LIVE")
            stack.proxy.set_mode("refuse")
            cut = time.time()
            shown = wait_until(lambda: label() == "UPLINK DOWN" and time.time(), 20, interval=0.5)
            down = wait_until(
                lambda: next((m for m in hook.messages() if m.title == "UPLINK DOWN at north"), None),
                CUT_SECONDS - 5,
                interval=0.5,
                message="no UPLINK DOWN alert during the cut",
            )
            time.sleep(max(0.0, cut + CUT_SECONDS - time.time()))
            stack.proxy.set_mode("pass")
            back = time.time()
            recovered = wait_until(
                lambda: next((m for m in hook.messages() if m.title.startswith("RECOVERED at north: UPLINK")), None),
                90,
                interval=0.5,
                message="no recovery alert after the link came back",
            )
            time.sleep(10)  # anything more would come within the clear delay and a sample or two
            uplink = [m for m in hook.messages() if "UPLINK" in m.title]
            assert [m.title for m in uplink] == ["UPLINK DOWN at north", "RECOVERED at north: UPLINK DOWN"]
            assert "North (channel main)" in down.message and "What to do: Check the venue's internet" in down.message
            assert "recording safe on this PC" in down.message and down.body["type"] == "failure"
            assert "(channel main)" in recovered.message and recovered.body["type"] == "success"
            others = [m.title for m in hook.messages() if m not in uplink]
            print(
                f"\nFIGURE alerts: cut to UPLINK DOWN on the console {shown - cut:.1f} s\n"
                f"FIGURE alerts: cut to the uplink-down alert {down.at - cut:.1f} s "
                "(defaults: SURECAST_ALERTS_AFTER 30 s)\n"
                f"FIGURE alerts: link back to the recovery alert {recovered.at - back:.1f} s\n"
                f"FIGURE alerts: messages per incident (60 s cut) {len(uplink)}; other messages: {others or 'none'}"
            )
        except AssertionError:
            print("console log:\n" + log_tail(console_log))
            raise
        finally:
            terminate(console)
            terminate(encoder.proc)


@pytest.mark.slow
def test_a_sigkilled_venue_is_offline_in_the_fleet_within_60_s_with_one_alert(stack: Stack, tmp_path: Path) -> None:
    venue_log, fleet_log = tmp_path / "venue.log", tmp_path / "fleet.log"
    fleet_port = free_port()
    with WebhookReceiver() as hook:
        fleet_env = {
            **stack.env,
            "SURECAST_SPOOL_DIR": str(tmp_path / "fleet-spool"),  # the central server's own spool
            "SURECAST_ALERTS": hook.url("fleet"),
            "SURECAST_FLEET_PORT": str(fleet_port),
            "SURECAST_FLEET_USER": FLEET_LOGIN[0],
            "SURECAST_FLEET_PASSWORD": FLEET_LOGIN[1],
        }
        fleet = spawn([str(BIN / "surecast"), "fleet"], fleet_env, fleet_log)
        venue, _ = start_console(stack, venue_log, SURECAST_VENUE="north")
        api = f"http://127.0.0.1:{fleet_port}/api/fleet"
        try:
            started = lambda: "surecast fleet: http://" in fleet_log.read_text()  # noqa: E731
            wait_until(started, 30, message="the fleet did not start")

            def north() -> dict[str, Any] | None:
                rows = get_json(api, FLEET_LOGIN)["venues"]
                return next((r for r in rows if r["venue"] == "north"), None)

            alive = wait_until(lambda: (r := north()) and r["alive"] and r, 30, message="no heartbeat from north")
            assert alive["channel"] == "main" and alive["viewers_url"].endswith("/live/main/master.m3u8")
            signal_group(venue, signal.SIGKILL)
            venue.wait(10)
            killed = time.time()
            offline = wait_until(
                lambda: (r := north()) and r["state"]["label"] == "OFFLINE" and r, 60, interval=0.5,
                message="north was not OFFLINE within 60 s",
            )  # fmt: skip
            offline_after = time.time() - killed
            alert = wait_until(lambda: hook.messages("fleet"), 20, message="no OFFLINE alert")[0]
            assert alert.title == "OFFLINE at north" and "What to do: Call someone at the venue" in alert.message

            venue, _ = start_console(stack, venue_log, SURECAST_VENUE="north")
            back = wait_until(
                lambda: len(hook.messages("fleet")) >= 2 and hook.messages("fleet"), 60, message="no recovery"
            )
            assert [m.title for m in hook.messages("fleet")] == ["OFFLINE at north", "RECOVERED at north: OFFLINE"]

            terminate(venue)  # a clean stop signs off: no alert, even once its beat would have expired
            wait_until(lambda: (r := north()) and r["state"]["label"] == "SIGNED OFF", 20, message="no sign-off")
            time.sleep(BEAT_TTL + 5)
            assert north()["state"]["label"] == "SIGNED OFF"  # type: ignore[index]
            assert len(hook.messages("fleet")) == 2
            print(
                f"\nFIGURE fleet: SIGKILL to OFFLINE on the page {offline_after:.1f} s (beat TTL {BEAT_TTL} s)\n"
                f"FIGURE fleet: SIGKILL to the OFFLINE alert {alert.at - killed:.1f} s\n"
                f"FIGURE fleet: SIGKILL to the recovery alert (venue restarted) {back[-1].at - killed:.1f} s\n"
                f"FIGURE fleet: messages per incident {len(hook.messages('fleet'))}; "
                f"OFFLINE detail: {offline['state']['detail']}"
            )
        except AssertionError:
            print("fleet log:\n" + log_tail(fleet_log))
            print("venue log:\n" + log_tail(venue_log))
            raise
        finally:
            terminate(venue)
            terminate(fleet)
