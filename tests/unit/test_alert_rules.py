"""The incident rules, the alert texts and the heartbeat payload: pure, no I/O."""

from __future__ import annotations

import time
from typing import Any

import pytest

from alerts.heartbeat import beat_payload
from alerts.incidents import CLEAR_AFTER, REPEAT_AFTER, Condition, IncidentBook
from alerts.messages import alert_message, late_note

T0 = 1_700_000_000.0
UPLINK = Condition("uplink", "UPLINK DOWN", "since 10:00 (recording safe on this PC)", "UPLINK DOWN", "check the link")


def run(book: IncidentBook, timeline: list[tuple[float, list[Condition]]]) -> list[tuple[float, str, str]]:
    """Feed the book one sample every 2 s between the given changes (the last one for CLEAR_AFTER and 4 s
    more); the notices with their times."""
    said = []
    last = (timeline[-1][0] + CLEAR_AFTER + 4, [])
    for (start, conditions), (end, _) in zip(timeline, [*timeline[1:], last], strict=True):
        t = start
        while t < end:
            said += [(t - T0, n.kind, n.condition.incident) for n in book.observe(conditions, t)]
            t += 2
    return said


def test_a_condition_is_raised_once_it_has_held_for_the_delay_then_recovered_once() -> None:
    said = run(IncidentBook(after=30), [(T0, [UPLINK]), (T0 + 60, [])])
    assert said == [(30, "raised", "uplink"), (60 + CLEAR_AFTER, "recovered", "uplink")]


def test_a_blip_shorter_than_the_delay_says_nothing() -> None:
    assert run(IncidentBook(after=30), [(T0, [UPLINK]), (T0 + 20, []), (T0 + 60, [])]) == []


def test_a_state_that_flickers_back_within_the_clear_delay_is_the_same_incident() -> None:
    said = run(IncidentBook(after=30), [(T0, [UPLINK]), (T0 + 40, []), (T0 + 44, [UPLINK]), (T0 + 80, [])])
    assert [kind for _, kind, _ in said] == ["raised", "recovered"]


def test_no_repeat_within_the_hour_then_a_reminder() -> None:
    said = run(IncidentBook(after=30), [(T0, [UPLINK]), (T0 + REPEAT_AFTER + 40, [])])
    assert [(t, kind) for t, kind, _ in said][:2] == [(30, "raised"), (30 + REPEAT_AFTER, "reminder")]


def test_a_new_gist_is_a_change_and_new_numbers_are_not() -> None:
    failed = Condition("failed_files", "PROBLEM", "1 file failed: NoSuchBucket", "files failed: NoSuchBucket")
    more = Condition("failed_files", "PROBLEM", "9 files failed: NoSuchBucket", "files failed: NoSuchBucket")
    other = Condition("failed_files", "PROBLEM", "9 files failed: AccessDenied", "files failed: AccessDenied")
    said = run(IncidentBook(after=0), [(T0, [failed]), (T0 + 10, [more]), (T0 + 20, [other]), (T0 + 30, [other])])
    assert [(t, kind) for t, kind, _ in said] == [(0, "raised"), (20, "changed")]


def test_conditions_are_independent_incidents() -> None:
    backup = Condition("destination:b2", "BACKUP DOWN", "b2: nothing delivered", "b2 down")
    said = run(IncidentBook(after=10), [(T0, [UPLINK]), (T0 + 20, [UPLINK, backup]), (T0 + 40, [backup])])
    recovered = (40 + CLEAR_AFTER, "recovered", "uplink")
    assert said == [(10, "raised", "uplink"), (30, "raised", "destination:b2"), recovered]


def test_a_held_condition_is_neither_raised_nor_recovered_and_waits_anew_once_free() -> None:
    held = Condition(**{**UPLINK.__dict__, "held": True})
    book = IncidentBook(after=30)
    assert run(book, [(T0, [held]), (T0 + 100, [UPLINK]), (T0 + 120, [])]) == []
    # Raised, then held (another condition explains it): no recovery while held.
    book = IncidentBook(after=0)
    said = run(book, [(T0, [UPLINK]), (T0 + 10, [held]), (T0 + 100, [])])
    assert [(t, kind) for t, kind, _ in said] == [(0, "raised"), (100 + CLEAR_AFTER, "recovered")]


def test_a_flapping_condition_waits_longer_each_time() -> None:
    book = IncidentBook(after=10)
    timeline: list[tuple[float, list[Condition]]] = []
    for n in range(4):
        timeline += [(T0 + n * 200, [UPLINK]), (T0 + n * 200 + 100, [])]
    said = run(book, timeline)
    raised = [t for t, kind, _ in said if kind == "raised"]
    assert [r % 200 for r in raised] == [10, 20, 40, 80]


def test_an_incident_reopened_from_the_journal_is_not_raised_again_and_recovers() -> None:
    book = IncidentBook(after=30)
    book.reopen("uplink", "UPLINK DOWN", T0 - 300, T0 - 270, T0 - 270)
    said = run(book, [(T0, [UPLINK]), (T0 + 20, []), (T0 + 40, [])])
    assert [(t, kind) for t, kind, _ in said] == [(20 + CLEAR_AFTER, "recovered")]


def test_the_own_delay_of_a_condition_wins() -> None:
    offline = Condition("offline:north", "OFFLINE", "no heartbeat", "OFFLINE", after=0)
    assert run(IncidentBook(after=30), [(T0, [offline]), (T0 + 4, [offline])]) == [(0, "raised", "offline:north")]


def hhmm(epoch: float) -> str:
    return time.strftime("%H:%M", time.localtime(epoch))


def test_the_messages_name_the_venue_and_the_channel_and_say_what_to_do() -> None:
    book = IncidentBook(after=0)
    raised = book.observe([UPLINK], T0)[0]
    message = alert_message(raised, "north", "main")
    assert message.title == "UPLINK DOWN at north"
    assert message.body == (
        f"Since 10:00 (recording safe on this PC). What to do: Check the link. North (channel main), since {hhmm(T0)}."
    )
    assert message.level == "failure" and message.incident == "uplink" and message.kind == "raised"
    book.observe([], T0 + 100)
    recovered = book.observe([], T0 + 100 + CLEAR_AFTER)[0]
    back = alert_message(recovered, "north", "main", "LIVE, 2 s behind the encoder")
    assert back.title == "RECOVERED at north: UPLINK DOWN" and back.level == "success"
    assert back.body == (
        f"UPLINK DOWN from {hhmm(T0)} to {hhmm(T0 + 100)} (2 min), north (channel main). "
        "Now: LIVE, 2 s behind the encoder."
    )


def test_a_backup_down_is_a_warning() -> None:
    backup = Condition("destination:b2", "BACKUP DOWN", "b2: nothing delivered since 10:00", "b2 down")
    assert alert_message(IncidentBook(after=0).observe([backup], T0)[0], "north", "main").level == "warning"


@pytest.mark.parametrize(("waited", "note"), [(5, ""), (29, ""), (200, "\n(This alert waited 3 min for a working")])
def test_a_message_that_waited_says_how_long(waited: float, note: str) -> None:
    assert late_note(T0, T0 + waited).startswith(note)


def test_the_heartbeat_payload_holds_what_the_fleet_page_shows() -> None:
    figures: dict[str, Any] = {
        "state": {"label": "LIVE", "detail": "1 s behind the encoder", "level": "ok"},
        "event": {"id": "ev1"},
        "live_edge_lag": {"720p": 1.24, "360p": 0.5},
        "waiting_files": 2,
        "waiting_bytes": 3_000_000,
        "last_verified_at": T0 - 1,
        "hours_left": 12.5,
        "disk_free_bytes": 10**11,
        "workers_online": 1,
        "destination_lines": [{"name": "primary", "state": "LIVE", "detail": "", "bucket": "b"}],
    }
    payload = beat_payload("north", "main", figures, "https://cdn/live/main/master.m3u8", 0, T0, "0.1.0")
    assert payload == {
        "venue": "north",
        "channel": "main",
        "at": T0,
        "version": "0.1.0",
        "state": figures["state"],
        "event": "ev1",
        "lag_seconds": 1.2,
        "backlog_files": 2,
        "backlog_bytes": 3_000_000,
        "last_segment_at": T0 - 1,
        "hours_left": 12.5,
        "disk_free_bytes": 10**11,
        "workers": 1,
        "viewers_url": "https://cdn/live/main/master.m3u8",
        "destinations": [{"name": "primary", "state": "LIVE"}],
        "alerts_waiting": 0,
        "signed_off": False,
    }
    assert beat_payload("north", "main", {}, "", 0, T0)["lag_seconds"] == 0.0
