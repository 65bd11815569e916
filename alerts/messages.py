"""The words of an alert: a title a phone shows on its lock screen, and a body with what to do. Pure.

The venue and the channel are named in every message; the console's own line is the body, so an alert says
what the volunteer's screen says. A message that waited for a working link says so when it is sent.
"""

from __future__ import annotations

import time

from alerts.incidents import Notice
from journal.alerts import AlertMessage

LATE_AFTER = 30.0  # a message sent this long after it was written says how long it waited
LEVELS = {"raised": "failure", "changed": "failure", "reminder": "warning", "recovered": "success"}
WARNING_LABELS = {"BACKUP DOWN"}  # a backup's trouble: the viewers still have the primary


def alert_message(notice: Notice, venue: str, channel: str, now_state: str = "") -> AlertMessage:
    """The message of ``notice``; ``now_state`` (the venue's state in words) closes a recovery."""
    c = notice.condition
    where = f"{venue} (channel {channel})" if channel else venue
    if notice.kind == "recovered":
        ended = notice.ended_at if notice.ended_at is not None else notice.since
        title = f"RECOVERED at {venue}: {c.gist}"
        body = f"{c.gist} from {clock(notice.since)} to {clock(ended)} ({duration(ended - notice.since)}), {where}."
        if now_state:
            body += f" Now: {now_state}."
    else:
        prefix = {"raised": "", "changed": "", "reminder": "STILL "}[notice.kind]
        title = f"{prefix}{c.label} at {venue}"
        body = sentence(c.detail)
        if c.todo:
            body += f" What to do: {sentence(c.todo)}"
        body += f" {where[0].upper()}{where[1:]}, since {clock(notice.since)}."
        if notice.kind == "changed":
            body = "Changed: " + body
    level = LEVELS[notice.kind]
    if level == "failure" and c.label in WARNING_LABELS:
        level = "warning"
    return AlertMessage(c.incident, notice.kind, c.gist, notice.since, title, body, level)


def late_note(written_at: float, now: float) -> str:
    """What a message adds when it waited for a working link ("" when it goes out on time)."""
    waited = now - written_at
    if waited < LATE_AFTER:
        return ""
    return f"\n(This alert waited {duration(waited)} for a working link: written at {clock(written_at)}.)"


def test_message(venue: str, channel: str) -> tuple[str, str]:
    """The title and body `surecast alerts test` sends."""
    return (
        f"Test alert from {venue}",
        f"surecast at {venue} (channel {channel}) can reach you: this is how its alerts will arrive.",
    )


def sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def clock(epoch: float) -> str:
    return time.strftime("%H:%M", time.localtime(epoch))


def duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds // 3600:.0f} h {seconds % 3600 / 60:.0f} min"
