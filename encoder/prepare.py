"""Prepare an event from settings: the FFmpeg binary, the source, the codec and the event id."""

from __future__ import annotations

import logging
from datetime import datetime

from core.settings import Settings
from encoder.errors import SourceError
from encoder.event import LiveEvent
from encoder.ffmpegproc import find_ffmpeg, precheck_source, resolve_codec
from encoder.keys import event_id_for
from encoder.sources import parse_source
from journal.events import EventStore
from journal.files import Journal

log = logging.getLogger(__name__)


def choose_event_id(settings: Settings, started: datetime) -> str:
    """The configured id (an existing event resumes), else one from the start time that is not taken yet."""
    if settings.encoder.event_id:
        return settings.encoder.event_id
    journal = Journal(settings.spool.dir)
    try:
        store = EventStore(journal)
        base = event_id_for(started)
        candidate, n = base, 1
        while store.max_seq(candidate) is not None:
            n += 1
            candidate = f"{base}-{n}"
        return candidate
    finally:
        journal.close()


def prepare_event(settings: Settings, started: datetime) -> LiveEvent:
    """Everything checked before FFmpeg starts, so a bad setup fails within seconds with a clear message."""
    cfg = settings.encoder
    top = cfg.ladder[0]
    try:
        source = parse_source(cfg.source, cfg.audio, top.width, top.height, cfg.framerate)
    except ValueError as exc:
        raise SourceError(str(exc)) from None
    precheck_source(source)
    exe = find_ffmpeg(cfg.ffmpeg_path)
    codec = resolve_codec(exe, cfg.hardware, cfg.vaapi_device)
    event_id = choose_event_id(settings, started)
    event = LiveEvent(settings, event_id, source, exe, codec)
    if any(r.segments for r in event.renditions):
        log.warning("event %s already has segments: resuming after them, with a discontinuity", event_id)
    return event
