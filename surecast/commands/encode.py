"""`surecast encode` and `surecast finish-event`: the encoder's entry points."""

from __future__ import annotations

import signal
import sys
from datetime import UTC, datetime
from typing import Any

import click
from pydantic import ValidationError

from core.encoder_settings import EncoderSection
from core.settings import Settings, settings_or_exit
from encoder.errors import ArchiveIncomplete, EncoderError, NothingRecorded, SourceError
from surecast.commands import report_preflight, setup_logging

EXIT_SOURCE = 2
EXIT_INCOMPLETE = 3


def _load(overrides: dict[str, Any]) -> Settings:
    """Settings from the environment with command-line overrides, validated like the environment."""
    settings = settings_or_exit()
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        encoder = EncoderSection.model_validate({**settings.encoder.model_dump(), **given})
    except ValidationError as exc:
        problems = "; ".join(f"--{'-'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise click.UsageError(problems) from None
    return settings.model_copy(update={"encoder": encoder})


def _stop_on_signals(stop: Any) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop())


@click.command()
@click.option("--source", default=None, help="testsrc, a file, rtmp://…, srt://…, v4l2:/dev/video0, … (see docs).")
@click.option("--duration", type=float, default=None, help="End the event after this many seconds.")
@click.option("--event-id", default=None, help="Event folder in the bucket (default: the start time).")
@click.option("--renditions", default=None, help="Ladder, e.g. 1080p,720p,480p or 640x360@800k.")
@click.option("--segment-seconds", type=float, default=None)
@click.option("--policy", type=click.Choice(["complete", "live-edge"]), default=None)
@click.option("--publish-delay", type=float, default=None, help="Seconds the live playlist trails the encoder.")
@click.option("-l", "--loglevel", default="INFO", show_default=True)
def encode(
    source: str | None,
    duration: float | None,
    event_id: str | None,
    renditions: str | None,
    segment_seconds: float | None,
    policy: str | None,
    publish_delay: float | None,
    loglevel: str,
) -> None:
    """Encode a live source to HLS on the spool and deliver it; Ctrl-C or SIGTERM ends the event cleanly."""
    settings = _load(
        {
            "source": source,
            "duration": duration,
            "event_id": event_id,
            "renditions": renditions,
            "segment_seconds": segment_seconds,
            "policy": policy,
            "publish_delay": publish_delay,
        }
    )
    setup_logging(loglevel)
    from encoder.prepare import prepare_event

    def generated_key() -> str:
        from stack.credentials import generated_ingest_key

        return generated_ingest_key(settings)

    try:
        event = prepare_event(settings, datetime.now(UTC), generated_key)
        _stop_on_signals(event.request_stop)
        click.echo(f"surecast: event {event.layout.event_id} -> s3://{settings.s3.bucket}/{event.layout.key_root}/")
        report_preflight(settings.s3, background=True)  # recording starts whatever it finds
        event.run(settings.encoder.duration)
    except SourceError as exc:
        click.echo(f"surecast: bad source: {exc}", err=True)
        sys.exit(EXIT_SOURCE)
    except ArchiveIncomplete as exc:
        click.echo(f"surecast: {exc}", err=True)
        sys.exit(EXIT_INCOMPLETE)
    except EncoderError as exc:
        click.echo(f"surecast: {exc}", err=True)
        sys.exit(EXIT_SOURCE)
    click.echo(f"surecast: event {event.layout.event_id} complete: {event.layout.master_key(vod=True)}")


@click.command("finish-event")
@click.argument("event_id")
@click.option("--destination", "destinations", multiple=True, help="Only this destination (repeatable; default all).")
@click.option("-l", "--loglevel", default="INFO", show_default=True)
def finish_event(event_id: str, destinations: tuple[str, ...], loglevel: str) -> None:
    """Publish the VOD playlist of an event whose encoder ended before its archive was complete."""
    setup_logging(loglevel)
    from encoder.finish import publish_vod

    settings = _load({"event_id": event_id})
    known = [d.name for d in settings.destinations()]
    unknown = [d for d in destinations if d not in known]
    if unknown:
        raise click.BadParameter(f"no destination {unknown[0]!r}; the destinations are {', '.join(known)}")
    try:
        master = publish_vod(settings, event_id, destinations, lambda event: _stop_on_signals(event.request_stop))
    except NothingRecorded as exc:
        raise click.ClickException(str(exc)) from None
    except ArchiveIncomplete as exc:
        click.echo(f"surecast: {exc}", err=True)
        sys.exit(EXIT_INCOMPLETE)
    click.echo(f"surecast: event {event_id} complete: {master}")
