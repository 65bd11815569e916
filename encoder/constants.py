"""Numbers only we tune that more than one encoder module uses (the others sit in the module using them)."""

from __future__ import annotations

# How often the event's loop (and the archive's wait) looks at FFmpeg's playlists and the journal: an idle
# look costs a few stat calls, and a segment is listed at most this long after FFmpeg closes it.
POLL_INTERVAL = 0.01
