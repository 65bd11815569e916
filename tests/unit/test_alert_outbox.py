"""The journal's ``alerts`` outbox, the sender threads on it (with a stand-in for Apprise), and the settings
and targets of SURECAST_ALERTS."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from alerts.errors import AlertNotSent, BadAlertURL
from alerts.sender import AlertSender
from alerts.targets import AlertTarget, alert_targets
from core.alert_settings import derived_venue, split_alert_urls
from journal.alerts import AlertMessage, AlertOutbox
from tests.support.procs import wait_until

MAILTO = "mailto://u:p@x.org?to=a@x.org,b@x.org"
RAISED = AlertMessage("uplink", "raised", "UPLINK DOWN", 100.0, "UPLINK DOWN at north", "body", "failure")
RECOVERED = AlertMessage("uplink", "recovered", "UPLINK DOWN", 100.0, "RECOVERED at north", "body", "success")


def test_each_target_gets_the_messages_in_order_and_a_retry_waits_its_turn(tmp_path: Path) -> None:
    now = [1000.0]
    outbox = AlertOutbox(tmp_path, clock=lambda: now[0])
    assert outbox.add(RAISED, ["a", "b", "a"]) == 2
    now[0] += 1
    outbox.add(RECOVERED, ["a", "b"])
    first = outbox.next_for("a")
    assert first is not None and first.message == RAISED and first.created_at == 1000.0
    outbox.schedule_retry(first.id, "no answer", 1030.0)
    again = outbox.next_for("a")
    assert again is not None and again.id == first.id and again.next_attempt_at == 1030.0 and again.attempts == 1
    assert [(w.target, w.messages, w.last_error) for w in outbox.waiting()] == [("a", 2, "no answer"), ("b", 2, None)]
    outbox.mark_sent(first.id)
    second = outbox.next_for("a")
    assert second is not None and second.message == RECOVERED
    assert [r.message.kind for r in outbox.sent()] == ["raised"]
    outbox.close()


def test_open_incidents_and_recoveries_come_back_after_a_restart(tmp_path: Path) -> None:
    now = [1000.0]
    outbox = AlertOutbox(tmp_path, clock=lambda: now[0])
    outbox.add(RAISED, ["a"])
    outbox.close()
    outbox = AlertOutbox(tmp_path, clock=lambda: now[0])
    [found] = outbox.open_incidents()
    assert (found.incident, found.gist, found.since, found.raised_at) == ("uplink", "UPLINK DOWN", 100.0, 1000.0)
    now[0] = 1100.0
    outbox.add(RECOVERED, ["a", "b"])
    assert outbox.open_incidents() == []
    assert outbox.recoveries_since(1050.0) == {"uplink": [1100.0]}
    assert outbox.recoveries_since(1200.0) == {}


def test_messages_for_a_target_no_longer_configured_are_set_aside(tmp_path: Path) -> None:
    outbox = AlertOutbox(tmp_path)
    outbox.add(RAISED, ["old", "kept"])
    assert outbox.drop_other_targets(["kept"]) == 1
    assert outbox.next_for("old") is None and outbox.next_for("kept") is not None


def target(name: str) -> AlertTarget:
    return AlertTarget(name, name, SecretStr(f"json://127.0.0.1:9/{name}"))


def test_the_sender_retries_until_sent_and_a_silent_target_holds_up_only_itself(tmp_path: Path) -> None:
    tries: dict[str, int] = {"flaky": 0, "silent": 0, "fine": 0}
    release = threading.Event()
    got: list[tuple[str, str]] = []

    def send(t: AlertTarget, title: str, body: str, level: str) -> None:
        tries[t.id] += 1
        if t.id == "silent":
            release.wait(30)  # a target that never answers (its timeouts are Apprise's)
            raise AlertNotSent("no answer")
        if t.id == "flaky" and tries["flaky"] < 3:
            raise AlertNotSent("refused")
        got.append((t.id, title))

    outbox = AlertOutbox(tmp_path)
    outbox.add(RAISED, ["flaky", "silent", "fine"])
    sender = AlertSender(tmp_path, [target("flaky"), target("silent"), target("fine")], send=send)
    import alerts.sender as sender_module

    saved = sender_module.RETRY_BASE
    sender_module.RETRY_BASE = 0.05
    try:
        sender.start()
        wait_until(lambda: len(got) == 2, 20, message=f"not sent: {tries}")
        assert sorted(got) == [("fine", "UPLINK DOWN at north"), ("flaky", "UPLINK DOWN at north")]
        assert tries["flaky"] == 3
        started = time.monotonic()
        sender.stop(timeout=1.0)
        assert time.monotonic() - started < 2, "stopping waits for no send"
    finally:
        sender_module.RETRY_BASE = saved
        release.set()
    assert [w.target for w in outbox.waiting()] == ["silent"]


@pytest.mark.parametrize(
    ("value", "urls"),
    [
        ("", []),
        ("json://127.0.0.1:8/a", ["json://127.0.0.1:8/a"]),
        ("tgram://1/2  mailto://u:p@x.org?to=a@x.org,b@x.org\nntfy://t", ["tgram://1/2", MAILTO, "ntfy://t"]),
        ("tgram://1/2,ntfy://topic", ["tgram://1/2", "ntfy://topic"]),
        ('["tgram://1/2", "ntfy://topic"]', ["tgram://1/2", "ntfy://topic"]),
        ({"after": "12"}, []),
    ],
)  # fmt: skip
def test_alert_urls_are_a_list_in_json_or_separated_by_spaces_or_commas(value: object, urls: list[str]) -> None:
    assert split_alert_urls(value) == urls


@pytest.mark.parametrize(
    ("venue", "queue", "host", "name"),
    [
        ("hall", "venue-north", "pc1", "hall"),
        ("", "venue-north", "pc1", "north"),
        ("", "surecast", "pc1.lan", "pc1"),
        ("", "surecast", "??", "venue"),
    ],
)
def test_the_venue_name_is_set_or_derived(venue: str, queue: str, host: str, name: str) -> None:
    assert derived_venue(venue, queue, host) == name


def test_a_url_apprise_cannot_use_is_named_by_position_and_scheme_only() -> None:
    with pytest.raises(BadAlertURL, match=r"^SURECAST_ALERTS entry 2 \(nosuch://\.\.\.\) is not a URL Apprise can use"):
        alert_targets([SecretStr("json://127.0.0.1:9/a"), SecretStr("nosuch://secret-token@host")])
    [ok] = alert_targets([SecretStr("json://user:secret@127.0.0.1:9/hook")])
    assert "secret" not in ok.name and "secret" not in repr(ok) and ok.name.startswith("json://user:")
