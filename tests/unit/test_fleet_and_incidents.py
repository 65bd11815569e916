"""The console's alert conditions (every alert state, not only the one shown; held when explained), the
fleet's rows (OFFLINE, signed off, waiting), and the fleet page's login on every route."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from alerts.heartbeat import VenueBeat
from console.fleet import fleet_rows
from console.fleet_server import FLEET_ASSETS, fleet_app
from console.history import Point
from console.incidents import venue_conditions
from console.server import listen
from console.state import LOOP_SECONDS, console_state
from tests.unit.test_console_server import auth, request
from tests.unit.test_console_state import DOWN, NOW, figures


def conditions(given: dict[str, Any], history: list[Point] | None = None) -> list[tuple[str, str, bool]]:
    return [(c.incident, c.label, c.held) for c in venue_conditions(given, history or [], NOW)]


def test_a_healthy_venue_has_no_condition() -> None:
    assert conditions(figures()) == []


def test_an_uplink_cut_is_one_condition_with_what_to_do() -> None:
    [found] = venue_conditions(figures(**DOWN, last_verified_at=NOW - 7.5), [], NOW)
    assert (found.incident, found.label, found.gist) == ("uplink", "UPLINK DOWN", "UPLINK DOWN")
    assert "recording safe on this PC" in found.detail and "internet connection" in found.todo


def test_every_alert_state_counts_not_only_the_one_the_page_shows() -> None:
    given = figures(**DOWN, last_verified_at=NOW - 30, encoder={"recording_paused_since": NOW - 20})
    assert console_state(given, [], NOW).label == "DISK FULL"
    assert conditions(given) == [("disk_full", "DISK FULL", False), ("uplink", "UPLINK DOWN", False)]


def test_with_no_upload_worker_nothing_verified_is_not_the_uplinks_fault() -> None:
    given = figures(**DOWN, last_verified_at=NOW - 30, workers={})
    assert conditions(given) == [("no_worker", "PROBLEM", False), ("uplink", "UPLINK DOWN", True)]


def test_a_lost_source_and_an_ffmpeg_loop_are_problems_and_the_loss_explains_the_loop() -> None:
    history = [Point(t=NOW - LOOP_SECONDS + 10, upload_rate=0, stream_rate=0, backlog_bytes=0, ffmpeg_restarts=2)]
    looping = figures(ffmpeg_restarts=6)
    state = console_state(looping, history, NOW)
    assert state.label == "PROBLEM" and state.detail.startswith("FFmpeg restarted 4 times in the last 5 min")
    assert conditions(looping, history) == [("ffmpeg_loop", "PROBLEM", False)]
    lost = figures(ffmpeg_restarts=6, source_lost_since=NOW - 30)
    assert console_state(lost, history, NOW).detail.startswith("no picture from the source since")
    assert conditions(lost, history) == [("source_lost", "PROBLEM", False), ("ffmpeg_loop", "PROBLEM", True)]
    assert conditions(figures(source_lost_since=NOW - 3)) == [], "FFmpeg between two runs is not a lost source"


def test_a_backup_that_is_down_is_a_condition_of_its_own() -> None:
    lines = [
        {"name": "primary", "bucket": "b", "state": "LIVE", "detail": ""},
        {"name": "b2", "bucket": "church-backup", "state": "DOWN", "detail": "nothing delivered since 10:00"},
    ]
    [found] = venue_conditions(figures(destination_lines=lines), [], NOW)
    assert (found.incident, found.label) == ("destination:b2", "BACKUP DOWN")
    assert found.detail == "the backup destination b2 (church-backup): nothing delivered since 10:00"


def test_failed_files_of_another_reason_are_a_change() -> None:
    one = figures(failures=[{"reason": "NoSuchBucket", "files": 1, "example": "k"}])
    other = figures(failures=[{"reason": "AccessDenied", "files": 1, "example": "k"}])
    gists = [venue_conditions(f, [], NOW)[0].gist for f in (one, other)]
    assert gists == ["files failed: NoSuchBucket", "files failed: AccessDenied"]


def beat(venue: str, alive: bool, **payload: Any) -> VenueBeat:
    base = {"venue": venue, "channel": "main", "at": NOW - 40, "state": {"label": "LIVE", "detail": "", "level": "ok"}}
    return VenueBeat(venue, {**base, **payload}, alive)


def test_a_venue_whose_beat_expired_is_offline_and_one_that_signed_off_is_not() -> None:
    beats = [beat("east", True), beat("north", False), beat("south", False, signed_off=True)]
    view = fleet_rows(beats, NOW, watching=True)
    labels = {r["venue"]: r["state"]["label"] for r in view.rows}
    assert labels == {"east": "LIVE", "north": "OFFLINE", "south": "SIGNED OFF"}
    [offline] = view.conditions
    assert (offline.incident, offline.after, offline.label) == ("offline:north", 0, "OFFLINE")
    assert offline.detail == f"no heartbeat since {time.strftime('%H:%M', time.localtime(NOW - 40))} (it was LIVE)"
    assert view.channels == {"offline:north": ("north", "main")}
    north = next(r for r in view.rows if r["venue"] == "north")
    assert north["heard_seconds_ago"] == 40.0 and north["alive"] is False


def test_a_missing_beat_is_not_offline_before_the_venues_had_time_to_write_one() -> None:
    view = fleet_rows([beat("north", False)], NOW, watching=False)
    assert view.conditions == [] and view.rows[0]["state"]["label"] == "WAITING"


class StubFleet:
    def snapshot(self) -> dict[str, Any]:
        return {"now": NOW, "venues": [], "redis": None}


@pytest.fixture
def fleet_url() -> Iterator[str]:
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    port: list[int] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)

        async def start() -> None:
            _, bound = listen(fleet_app(StubFleet(), "ops", "pw-of-the-fleet"), "127.0.0.1", 0)
            port.append(bound)
            ready.set()

        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield f"http://127.0.0.1:{port[0]}"
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@pytest.mark.parametrize("path", [*FLEET_ASSETS, "/api/fleet", "/no/such/page", "/api/status"])
def test_every_route_of_the_fleet_page_needs_the_login(fleet_url: str, path: str) -> None:
    assert request(fleet_url + path)[0] == 401
    assert request(fleet_url + path, headers=auth("ops", "wrong"))[0] == 401
    status, body, headers = request(fleet_url + path, headers=auth("ops", "pw-of-the-fleet"))
    assert status == (200 if path in (*FLEET_ASSETS, "/api/fleet") else 404)
    if path == "/api/fleet":
        assert b'"venues": []' in body and headers["Cache-Control"] == "no-store"
