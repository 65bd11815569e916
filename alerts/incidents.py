"""The incident rules: when a condition that holds becomes a message, and when it is over. Pure.

A condition is one thing wrong, named by a stable key (``uplink``, ``destination:b2``, ``offline:north``).
It is raised once it has held for ``after`` seconds (a blip is not an incident); then nothing more is said
until its gist changes (the cause is another) or an hour passes (a reminder); once it has been gone for
``CLEAR_AFTER`` seconds it is recovered, only if it was raised. An incident that keeps coming back is
held longer each time within the hour (``after`` doubled per recovery), so a flapping link is never a flood.
A condition ``held`` by another that explains it (no worker explains "nothing verified") is neither
raised nor recovered while so held.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

REPEAT_AFTER = 3600.0  # a reminder when nothing changed for this long
CLEAR_AFTER = 10.0  # gone this long: recovered (a state that flickers back within it is the same incident)
FLAP_WINDOW = 3600.0  # recoveries within this long make the next raise wait longer ...
FLAP_DOUBLINGS = 4  # ... up to after * 2**4


@dataclass(frozen=True)
class Condition:
    """One thing wrong now, in the words the console uses for it."""

    incident: str  # stable key
    label: str  # the console's word: UPLINK DOWN, DISK FULL, PROBLEM, BACKUP DOWN, OFFLINE
    detail: str  # the console's line, with its changing numbers
    gist: str  # what it is, without the numbers: another gist is a change worth a message
    todo: str = ""  # what to do, where the detail does not say it
    held: bool = False  # explained by another condition: neither raised nor recovered now
    after: float | None = None  # its own hold before it is raised; None = the book's


@dataclass(frozen=True)
class Notice:
    """A message the rules decided on: raised, changed, reminder or recovered."""

    kind: str
    condition: Condition
    since: float  # when the condition was first seen
    ended_at: float | None = None  # recovered: when it was last seen


@dataclass
class Tracked:
    condition: Condition
    first_seen: float
    raised_at: float | None = None
    said_at: float | None = None
    said_gist: str = ""
    gone_since: float | None = None


@dataclass
class IncidentBook:
    """The incidents of one process (a venue's console, the fleet), fed every sample."""

    after: float
    repeat_after: float = REPEAT_AFTER
    clear_after: float = CLEAR_AFTER
    tracked: dict[str, Tracked] = field(default_factory=dict)
    recoveries: dict[str, list[float]] = field(default_factory=dict)

    def reopen(self, incident: str, gist: str, since: float, raised_at: float, said_at: float) -> None:
        """An incident raised before a restart and not yet recovered (from the journal)."""
        condition = Condition(incident, gist, "", gist)
        self.tracked[incident] = Tracked(condition, since, raised_at, said_at, gist)

    def remember_recoveries(self, counts: Mapping[str, Iterable[float]]) -> None:
        for incident, times in counts.items():
            self.recoveries.setdefault(incident, []).extend(times)

    def hold_for(self, condition: Condition, now: float) -> float:
        """How long ``condition`` must hold before it is raised."""
        if condition.after is not None:
            return condition.after
        recent = [t for t in self.recoveries.get(condition.incident, []) if now - t < FLAP_WINDOW]
        self.recoveries[condition.incident] = recent
        return float(self.after * 2 ** min(len(recent), FLAP_DOUBLINGS))

    def observe(self, conditions: Iterable[Condition], now: float) -> list[Notice]:
        """The messages due now, given every condition that holds now."""
        notices: list[Notice] = []
        present = {c.incident: c for c in conditions}
        for key, condition in present.items():
            t = self.tracked.get(key)
            if t is None:
                t = self.tracked[key] = Tracked(condition, now)
            t.gone_since = None
            if condition.held:
                if t.raised_at is None:  # its hold starts once nothing explains it any more
                    t.first_seen = now
                continue
            t.condition = condition
            if t.raised_at is None:
                if now - t.first_seen >= self.hold_for(condition, now):
                    t.raised_at = t.said_at = now
                    t.said_gist = condition.gist
                    notices.append(Notice("raised", condition, t.first_seen))
            elif condition.gist != t.said_gist:
                t.said_at, t.said_gist = now, condition.gist
                notices.append(Notice("changed", condition, t.first_seen))
            elif now - (t.said_at or now) >= self.repeat_after:
                t.said_at = now
                notices.append(Notice("reminder", condition, t.first_seen))
        for key in [k for k in self.tracked if k not in present]:
            t = self.tracked[key]
            if t.raised_at is None:
                del self.tracked[key]
                continue
            if t.gone_since is None:
                t.gone_since = now
            if now - t.gone_since >= self.clear_after:
                del self.tracked[key]
                self.recoveries.setdefault(key, []).append(now)
                notices.append(Notice("recovered", t.condition, t.first_seen, t.gone_since))
        return notices

    def open(self) -> list[str]:
        """The incidents raised and not yet recovered."""
        return sorted(k for k, t in self.tracked.items() if t.raised_at is not None)
