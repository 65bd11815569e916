"""The sender with real Apprise and a real webhook receiver: an alert whose link is down waits in the
journal's outbox and goes out once the path works, saying how long it waited (the fault proxy of the S3
tests stands between Apprise and the receiver and refuses, then passes)."""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import SecretStr

from alerts.sender import AlertSender
from alerts.targets import alert_targets
from journal.alerts import AlertMessage, AlertOutbox
from tests.support.faultproxy import FaultProxy
from tests.support.procs import wait_until
from tests.support.webhook import WebhookReceiver

WRITTEN_AGO = 125.0  # the message was written this long before the link came back


def test_an_alert_waits_for_a_working_path_then_says_how_long_it_waited(tmp_path: Path) -> None:
    with WebhookReceiver() as hook:
        proxy = FaultProxy(hook.port)
        proxy.start()
        proxy.set_mode("refuse")
        [target] = alert_targets([SecretStr(f"json://127.0.0.1:{proxy.port}/venue")])
        outbox = AlertOutbox(tmp_path, clock=lambda: time.time() - WRITTEN_AGO)
        body = "Nothing reached the bucket since 10:02. What to do: check the venue's internet."
        outbox.add(AlertMessage("uplink", "raised", "UPLINK DOWN", 0.0, "UPLINK DOWN at north", body, "failure"),
                   [target.id])  # fmt: skip
        sender = AlertSender(tmp_path, [target])
        sender.start()
        try:
            wait_until(lambda: outbox.waiting() and outbox.waiting()[0].last_error, 20, message="no attempt failed")
            assert hook.messages() == [] and outbox.waiting()[0].messages == 1
            proxy.set_mode("pass")
            back = time.time()
            [got] = wait_until(
                lambda: hook.messages("venue"), 45, interval=0.2, message="not sent once the path worked"
            )
        finally:
            sender.stop()
            proxy.stop()
        assert outbox.waiting() == []
        outbox.close()
    assert got.title == "UPLINK DOWN at north" and got.message.startswith(body)
    assert "(This alert waited 2 min for a working link: written at " in got.message
    print(f"\nFIGURE alerts: path back to the waiting alert sent {got.at - back:.1f} s (retry backoff capped at 30 s)")
