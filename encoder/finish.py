"""Publishing the VOD of an event whose encoder ended before its archive was complete.

`surecast finish-event` calls ``publish_vod``, and so does the reconciler the moment every segment of an
ended event is verified: the same wait for the final and VOD playlists as at the end of a live event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from core.settings import Settings
from encoder.errors import NothingRecorded
from encoder.event import LiveEvent
from encoder.prepare import recorded_ladder


def publish_vod(
    settings: Settings,
    event_id: str,
    destinations: Sequence[str] = (),
    started: Callable[[LiveEvent], None] | None = None,
) -> str:
    """Publish the final and VOD playlists of ``event_id`` with the ladder it was recorded with, on
    ``destinations`` (default every one); returns the key of its VOD master playlist.

    ``started`` is given the event before it waits, so that a signal handler or another thread can stop
    it (``LiveEvent.request_stop``). Raises NothingRecorded (and marks the event archived: there is
    nothing to try again) and ArchiveIncomplete (its files stay journaled; try again later).
    """
    settings = recorded_ladder(settings, event_id)
    event = LiveEvent(settings, event_id, source=None, destinations=destinations or None)
    try:
        if started is not None:
            started(event)
        if not any(r.segments for r in event.renditions):
            event.store.mark_archived(event_id)
            raise NothingRecorded(
                f"no segments recorded for event {event_id} (renditions {settings.encoder.renditions})"
            )
        event.finish_only()
        return event.layout.master_key(vod=True)
    finally:
        event.close()
