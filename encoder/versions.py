"""Playlist versions to the upload queue: a new spool file per version, journaled with its version.

Coalescing: per key, at most one version is in flight. While it is, newer content waits here and only
the latest is sent once the flight lands, so a backlog of verified segments becomes one playlist PUT,
not one per segment. A flight stuck longer than ``supersede_after`` (the link is down) is superseded
anyway: the worker skips the stale task and the newest content goes out first when the link returns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.contract import PLAYLIST_CACHE_CONTROL, PLAYLIST_CONTENT_TYPE, PRIORITY_PLAYLIST, FileKind, UploadJob
from core.files import md5_hex, write_durably
from encoder.keys import EventLayout
from journal.files import Journal, State

log = logging.getLogger(__name__)


@dataclass
class _Slot:
    version: int
    sent_text: str | None = None
    sent_at: float = 0.0
    held_text: str | None = None
    landed: bool = False
    landed_sent_at: float = -1.0  # when the version seen verified was sent


class PlaylistVersions:
    """Writes, journals and coalesces the versions of every playlist key of one event."""

    def __init__(
        self,
        spool: Path,
        layout: EventLayout,
        journal: Journal,
        notify: Callable[[], None],
        clock: Callable[[], float],
        supersede_after: float,
    ) -> None:
        self.spool = spool
        self.layout = layout
        self.journal = journal
        self._notify = notify
        self._clock = clock
        self._supersede_after = supersede_after
        self._slots: dict[str, _Slot] = {}

    def offer(self, key: str, text: str, force: bool = False) -> bool:
        """Send ``text`` as the next version of ``key`` unless identical or held back; True if sent now."""
        slot = self._slot(key)
        if text == slot.sent_text:
            slot.held_text = None
            return False
        if not force and self._in_flight(key, slot):
            slot.held_text = text
            return False
        self._send(key, slot, text)
        return True

    def flush(self) -> bool:
        """Send held content whose previous flight has landed (or is overdue); True if any was sent."""
        sent = False
        for key, slot in self._slots.items():
            if slot.held_text is not None and not self._in_flight(key, slot):
                self._send(key, slot, slot.held_text)
                sent = True
        return sent

    def landed(self, key: str) -> bool:
        """True once any version of ``key`` has been verified in the bucket."""
        slot = self._slots.get(key)
        if slot is None:
            return False
        if not slot.landed:
            self._in_flight(key, slot)
        return slot.landed

    def landed_since(self, key: str, moment: float) -> bool:
        """True once a version of ``key`` sent at or after ``moment`` is verified in the bucket."""
        return self.landed(key) and self._slots[key].landed_sent_at >= moment

    def settled(self, key: str) -> bool:
        """True if the last version sent is verified and nothing newer is held."""
        slot = self._slots.get(key)
        return slot is not None and slot.held_text is None and not self._in_flight(key, slot, overdue_ok=False)

    def _slot(self, key: str) -> _Slot:
        slot = self._slots.get(key)
        if slot is None:
            row = self.journal.get(key)
            slot = _Slot(version=row.version if row else 0)
            self._slots[key] = slot
        return slot

    def _in_flight(self, key: str, slot: _Slot, overdue_ok: bool = True) -> bool:
        if slot.sent_text is None:
            return False
        row = self.journal.get(key)
        if row is not None and row.version == slot.version and row.state == State.VERIFIED:
            slot.landed = True
            slot.landed_sent_at = slot.sent_at
            return False
        return not (overdue_ok and self._clock() - slot.sent_at >= self._supersede_after)

    def _send(self, key: str, slot: _Slot, text: str) -> None:
        version = slot.version + 1
        relative = self.layout.playlist_path(key, version, self.journal.destination)
        data = text.encode()
        write_durably(self.spool / relative, data)
        job = UploadJob(
            path=relative,
            key=key,
            size=len(data),
            md5=md5_hex(data),
            content_type=PLAYLIST_CONTENT_TYPE,
            cache_control=PLAYLIST_CACHE_CONTROL,
            kind=FileKind.PLAYLIST,
            version=version,
            destination=self.journal.destination,
        )
        if not self.journal.record(job, priority=PRIORITY_PLAYLIST):
            row = self.journal.get(key)
            log.warning("%s: journal holds version %s, not sending version %d", key, row and row.version, version)
            slot.version = max(version, row.version if row else version)
            return
        slot.version = version
        slot.sent_text = text
        slot.sent_at = self._clock()
        slot.held_text = None
        self._notify()
