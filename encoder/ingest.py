"""Readiness: turn what FFmpeg finished into journaled uploads, one segment at a time.

Each rendition's FFmpeg playlist is re-read only when it changed (a stat per poll). A newly listed
segment is hashed and fsynced, journaled (before any task is published), then added to the event's
segment table. A key the journal already holds with other content is never journaled again: that would
overwrite an earlier segment.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.contract import IMMUTABLE_CACHE_CONTROL, PRIORITY_LIVE, FileKind, UploadJob, content_type_of
from core.files import file_md5
from core.hls import MediaPlaylist, parse_playlist
from encoder.keys import EventLayout, segment_seq, slate_name
from encoder.program_time import ProgramClock
from journal.events import EventStore, Segment
from journal.files import Journal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalSegment:
    name: str
    seq: int
    duration: float


@dataclass(frozen=True)
class LocalPlaylist:
    """What FFmpeg's own playlist lists: its complete segments, the fMP4 init segment, whether it ended."""

    segments: tuple[LocalSegment, ...]
    init_name: str | None
    ended: bool


def read_local_playlist(text: str) -> LocalPlaylist:
    """The complete segments FFmpeg lists, in order; entries that are not ours are skipped.

    FFmpeg lists a segment only after closing it and renaming it from ``.tmp``, and writes the playlist
    itself through a temporary file, so what is listed is complete. A malformed playlist lists nothing.
    """
    try:
        parsed = parse_playlist(text)
    except ValueError as exc:
        log.error("FFmpeg's playlist could not be read: %s", exc)
        return LocalPlaylist((), None, False)
    if not isinstance(parsed, MediaPlaylist):
        return LocalPlaylist((), None, False)
    segments = []
    init: str | None = None
    for entry in parsed.segments:
        name = entry.uri.rsplit("/", 1)[-1]
        seq = segment_seq(name)
        if seq is not None:
            segments.append(LocalSegment(name, seq, entry.duration))
        if entry.init_uri:
            init = entry.init_uri
    return LocalPlaylist(tuple(segments), init, parsed.ended)


@dataclass
class Ingest:
    """What journaling needs, passed in."""

    spool: Path
    event: str
    layout: EventLayout
    journal: Journal
    store: EventStore
    clock: Callable[[], float]
    # The other destinations: each journals every file too, under its own key.
    mirrors: tuple[tuple[Journal, EventLayout], ...] = ()
    # Capture times by segment number, shared by every rendition (EXT-X-PROGRAM-DATE-TIME).
    program: ProgramClock = field(default_factory=ProgramClock)


class RenditionWatcher:
    """Follows one rendition's FFmpeg playlist and journals each segment it newly lists."""

    def __init__(self, ctx: Ingest, rendition: str, known: list[Segment]) -> None:
        self.ctx = ctx
        self.rendition = rendition
        self.segments = known
        self.local = ctx.spool / ctx.layout.local_playlist(rendition)
        self._seen: tuple[int, int, int] | None = None
        # A resumed event starts with a break: the previous encoder's FFmpeg is gone.
        self.discontinuity_pending = bool(known)
        self._inits: dict[str, str | None] = {}

    @property
    def last_seq(self) -> int:
        return self.segments[-1].seq if self.segments else -1

    def restarted(self) -> None:
        """FFmpeg was restarted: the next segment follows a discontinuity."""
        self.discontinuity_pending = True

    def adopt_leftovers(self) -> list[Segment]:
        """Journal what the previous encoder's FFmpeg finished but the encoder did not journal before it died
        (a power cut): those continue the old run; the next run starts after a discontinuity."""
        self.discontinuity_pending = False
        adopted = self.poll()
        self.discontinuity_pending = bool(self.segments)
        return adopted

    def poll(self) -> list[Segment]:
        """Journal the segments FFmpeg finished since the last poll; return them."""
        try:
            st = os.stat(self.local)
        except FileNotFoundError:
            return []
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp == self._seen:
            return []
        try:
            text = self.local.read_text(errors="replace")
        except FileNotFoundError:
            return []
        self._seen = stamp
        playlist = read_local_playlist(text)
        fresh = [s for s in playlist.segments if s.seq > self.last_seq]
        if fresh and fresh[0].seq > self.last_seq + 1 and self.segments and not self.discontinuity_pending:
            log.error(
                "%s: FFmpeg's playlist skipped from segment %d to %d; the encoder fell behind",
                self.rendition,
                self.last_seq,
                fresh[0].seq,
            )
        added = []
        for local in fresh:
            segment = self._journal(local, playlist.init_name)
            if segment is not None:
                added.append(segment)
        return added

    def _journal(self, local: LocalSegment, init: str | None) -> Segment | None:
        ctx = self.ctx
        relative = ctx.layout.segment_path(self.rendition, local.name)
        path = ctx.spool / relative
        key = ctx.layout.segment_key(self.rendition, local.name)
        try:
            size, md5 = file_md5(path, fsync=True)
            completed_at = path.stat().st_mtime
        except FileNotFoundError:
            log.error("%s: FFmpeg listed %s but the file is gone; skipped", self.rendition, relative)
            return None
        if size == 0:
            log.error("%s: FFmpeg listed an empty segment %s; skipped", self.rendition, relative)
            return None
        init_key = self._journal_init(init) if init else None
        if not self._record(key, relative, size, md5, local.name):
            return None
        segment = Segment(
            rendition=self.rendition,
            msn=len(self.segments),
            seq=local.seq,
            key=key,
            name=local.name,
            path=relative,
            duration=local.duration,
            discontinuity=self.discontinuity_pending,
            completed_at=completed_at,
            init_key=init_key,
            init_name=init,
            program_time=ctx.program.time_of(local.seq, local.duration, completed_at, self.discontinuity_pending),
            size=size,
        )
        ctx.store.add(ctx.event, segment)
        self.segments.append(segment)
        self.discontinuity_pending = False
        return segment

    def add_slate(self, slate: Path, duration: float, program_time: float, now: float) -> Segment | None:
        """List a copy of ``slate`` next, after a discontinuity; the next segment from FFmpeg follows another."""
        ctx = self.ctx
        name = slate_name(len(self.segments))
        relative = ctx.layout.segment_path(self.rendition, name)
        path = ctx.spool / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(slate, path)
        size, md5 = file_md5(path, fsync=True)
        key = ctx.layout.segment_key(self.rendition, name)
        if not self._record(key, relative, size, md5, name):
            return None
        segment = Segment(
            rendition=self.rendition,
            msn=len(self.segments),
            seq=self.last_seq,  # a slate takes no number from FFmpeg's sequence
            key=key,
            name=name,
            path=relative,
            duration=duration,
            discontinuity=True,
            completed_at=now,
            program_time=program_time,
            size=size,
        )
        ctx.store.add(ctx.event, segment)
        self.segments.append(segment)
        self.discontinuity_pending = True
        return segment

    def _journal_init(self, init: str) -> str | None:
        """Journal the fMP4 init segment of the current FFmpeg run once; its key, or None if unusable."""
        if init in self._inits:
            return self._inits[init]
        relative = self.ctx.layout.segment_path(self.rendition, init)
        key: str | None = self.ctx.layout.segment_key(self.rendition, init)
        try:
            size, md5 = file_md5(self.ctx.spool / relative, fsync=True)
        except FileNotFoundError:
            log.error("%s: init segment %s is missing", self.rendition, relative)
            return None
        if key is not None and not self._record(key, relative, size, md5, init):
            key = None
        self._inits[init] = key
        return key

    def _record(self, key: str, relative: str, size: int, md5: str, name: str) -> bool:
        """Journal a media file once; True if it is journaled with this content (now or before)."""
        existing = self.ctx.journal.get(key)
        if existing is not None:
            if existing.md5 == md5 and existing.size == size:
                return True  # journaled by an encoder that died before noting it: adopt it
            log.error("refusing to overwrite %s: it is journaled with other content", key)
            return False
        job = UploadJob(
            path=relative,
            key=key,
            size=size,
            md5=md5,
            content_type=content_type_of(name) or "application/octet-stream",
            cache_control=IMMUTABLE_CACHE_CONTROL,
            kind=FileKind.SEGMENT,
        )
        self.ctx.journal.record(job, priority=PRIORITY_LIVE)
        for journal, layout in self.ctx.mirrors:
            own = layout.key(key[len(self.ctx.layout.key_root) + 1 :])
            journal.record(job.model_copy(update={"key": own, "destination": journal.destination}), PRIORITY_LIVE)
        return True
