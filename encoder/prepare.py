"""Prepare an event from settings: the FFmpeg binary, the source, the codec and the event id."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from core.settings import Settings
from encoder.errors import SourceError
from encoder.event import LiveEvent
from encoder.ffmpegproc import find_ffmpeg, precheck_source, resolve_codec
from encoder.ingest_gate import IngestGate, free_loopback_port
from encoder.ingest_keys import listener_of, lock_source, obs_instructions
from encoder.keys import event_id_for
from encoder.sources import Source, parse_source
from journal.events import EventStore
from journal.files import Journal

log = logging.getLogger(__name__)


def choose_event_id(settings: Settings, started: datetime) -> str:
    """The event to record: the configured id (it resumes if it exists), else the channel's event that a
    crash or power cut interrupted less than SURECAST_ENCODER_RESUME_WITHIN ago (same URLs, numbering
    continues), else a new one named by the start time. Older unfinished events of the channel are ended
    first: the reconciler publishes their VOD once their files are verified."""
    cfg = settings.encoder
    if cfg.event_id:
        return cfg.event_id
    journal = Journal(settings.spool.dir)
    try:
        store = EventStore(journal)
        resumed: str | None = None
        for row in store.unfinished(cfg.channel):  # latest heartbeat first
            if resumed is None and started.timestamp() - row.heartbeat_at <= cfg.resume_within:
                resumed = row.event
                continue
            log.warning("event %s was interrupted long ago: ending it; its VOD follows once delivered", row.event)
            store.mark_ended(row.event)
        if resumed is not None:
            return resumed
        base = event_id_for(started)
        candidate, n = base, 1
        while store.max_seq(candidate) is not None or store.event(candidate) is not None:
            n += 1
            candidate = f"{base}-{n}"
        return candidate
    finally:
        journal.close()


def recorded_ladder(settings: Settings, event_id: str) -> Settings:
    """``settings`` with the ladder ``event_id`` was recorded with, when the journal knows it: a resumed or
    finished event keeps its renditions whatever the settings say now."""
    journal = Journal(settings.spool.dir)
    try:
        row = EventStore(journal).event(event_id)
    finally:
        journal.close()
    if row is None:
        return settings
    cfg = settings.encoder
    recorded = {"renditions": row.renditions, "framerate": row.framerate, "segment_type": row.segment_type}
    if any(getattr(cfg, k) != v for k, v in recorded.items()):
        log.warning("event %s keeps the ladder it was recorded with: %s", event_id, recorded)
    encoder = cfg.model_copy(update=recorded)
    return settings.model_copy(update={"encoder": encoder})


def prepare_event(settings: Settings, started: datetime, generated_key: Callable[[], str] | None = None) -> LiveEvent:
    """Everything checked before FFmpeg starts, so a bad setup fails within seconds with a clear message.

    ``generated_key`` gives the stack's ingest key (the command line reads it from the stack's credentials):
    asked for only by a listener beyond loopback whose URL names no key, with SURECAST_ENCODER_INGEST_KEY
    unset. It raises OSError when it cannot.
    """
    event_id = choose_event_id(settings, started)
    settings = recorded_ladder(settings, event_id)
    cfg = settings.encoder
    top = cfg.ladder[0]
    try:
        source = parse_source(cfg.source, cfg.audio, top.width, top.height, cfg.framerate)
    except ValueError as exc:
        raise SourceError(str(exc)) from None
    key, origin = _ingest_key(settings, source, generated_key)
    try:
        locked = lock_source(source, key, free_loopback_port())
    except ValueError as exc:
        raise SourceError(str(exc)) from None
    listener = listener_of(source)
    if listener is not None:
        log.info("%s", obs_instructions(listener, origin))
    precheck_source(locked.source)
    exe = find_ffmpeg(cfg.ffmpeg_path)
    codec = resolve_codec(exe, cfg.hardware, cfg.vaapi_device)
    gate = IngestGate(locked.gate) if locked.gate else None
    event = LiveEvent(settings, event_id, locked.source, exe, codec, gate=gate)
    if gate is not None:
        try:
            gate.start()
        except OSError as exc:
            raise SourceError(f"cannot listen on {gate.plan.host}:{gate.plan.port}: {exc.strerror or exc}") from None
    if any(r.segments for r in event.renditions):
        log.warning("event %s already has segments: resuming after them, with a discontinuity", event_id)
    return event


def _ingest_key(settings: Settings, source: Source, generated_key: Callable[[], str] | None) -> tuple[str, str]:
    """The key a listener is locked with and where it comes from: ``url``, ``setting``, ``generated`` or
    ``none`` (the stack's generated key only beyond loopback: there only this PC can push)."""
    listener = listener_of(source)
    if listener is None:
        return "", "none"
    if listener.key:
        return listener.key, "url"
    if settings.encoder.ingest_key.get_secret_value():
        return settings.encoder.ingest_key.get_secret_value(), "setting"
    if generated_key is not None and listener.beyond_loopback:
        try:
            return generated_key(), "generated"
        except OSError as exc:
            log.error("the stack's generated ingest key cannot be read: %s", exc)
    return "", "none"
