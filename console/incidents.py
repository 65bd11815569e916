"""What the console's states say that someone responsible should be told, as alert conditions. Pure.

Every state of level alert that holds (``console.state.alert_states``, not only the one the page shows) and
every backup destination that is DOWN (``destination_lines``) is a condition, in the console's own words,
with what to do where those words do not say it. A condition explained by another is held: with no upload
worker or no Redis nothing is verified, which is not the uplink's fault; a source that is lost makes FFmpeg
restart, which says nothing more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from alerts.incidents import Condition
from console.history import Point
from console.state import alert_states

# What each cause's words are, without the numbers (another gist is a change worth a message).
GISTS = {
    "disk_full": "DISK FULL",
    "redis": "Redis unreachable",
    "encoder_stopped": "the encoder is not running",
    "no_worker": "no upload worker",
    "encoder_slow": "the encoder is too slow",
    "source_lost": "no picture from the source",
    "ffmpeg_loop": "FFmpeg restarting in a loop",
    "uplink": "UPLINK DOWN",
}
# What to do, where the console's line does not say it (its PROBLEM lines do).
TODO = {
    "disk_full": "the uploads cannot keep up and the spool is full; check the venue's internet connection, or "
    "free space on the PC's disk: recording resumes by itself",
    "uplink": "check the venue's internet connection (router, cable, a Wi-Fi login page); recording is safe on "
    "the PC and everything is uploaded by itself when the link returns",
    "backup": "nothing at the venue: the backup catches up by itself; if it lasts, check that service (its "
    "status page, its keys in SURECAST_BACKUPS)",
}
# A cause that holds explains these: they are held, neither raised nor recovered, while it does.
EXPLAINS = {"redis": {"uplink"}, "no_worker": {"uplink"}, "source_lost": {"ffmpeg_loop"}}


def venue_conditions(figures: Mapping[str, Any], history: Sequence[Point], now: float) -> list[Condition]:
    """The alert conditions of one sample of the console's figures (with ``destination_lines``)."""
    states = alert_states(figures, history, now)
    causes = {s.cause for s in states}
    explained = set().union(*(EXPLAINS.get(c, set()) for c in causes))
    found = []
    for s in states:
        gist = GISTS.get(s.cause, s.label)
        if s.cause == "failed_files":
            top = (figures.get("failures") or [{}])[0]
            gist = f"files failed: {top.get('reason', '?')}"
        found.append(Condition(s.cause, s.label, s.detail, gist, TODO.get(s.cause, ""), held=s.cause in explained))
    lines: Sequence[Mapping[str, str]] = figures.get("destination_lines") or []
    for line in lines[1:]:  # the first is the primary: its trouble is UPLINK DOWN
        if line["state"] == "DOWN":
            name = line["name"]
            found.append(
                Condition(
                    f"destination:{name}",
                    "BACKUP DOWN",
                    f"the backup destination {name} ({line['bucket']}): {line['detail']}",
                    f"backup {name} down",
                    TODO["backup"],
                )
            )
    return found
