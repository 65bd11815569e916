"""`surecast up`: the whole stack without Docker, for a laptop; its children are planned here, the command
line starting itself (`stack.up` starts, watches and stops them)."""

from __future__ import annotations

import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from core.settings import Settings, settings_or_exit
from surecast.commands import SURECAST, report_preflight, setup_logging

if TYPE_CHECKING:
    from stack.up import Child

# `surecast up` prints the player's URL once the master playlist answers, or after this many seconds.
WATCH_WAIT = 90.0


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--workers", type=int, default=None, help="Upload processes (default SURECAST_WORKER_CONCURRENCY).")
@click.option("--no-encoder", is_flag=True, help="Only deliver (e.g. files given to `surecast send`).")
@click.option("--no-flower", is_flag=True)
@click.option("--no-metrics", is_flag=True)
@click.argument("encode_args", nargs=-1, type=click.UNPROCESSED)
def up(workers: int | None, no_encoder: bool, no_flower: bool, no_metrics: bool, encode_args: tuple[str, ...]) -> None:
    """The stack without Docker: Redis if none answers, workers, encoder, Flower, metrics; Ctrl-C stops all.

    With no S3 destination configured (no SURECAST_S3_ENDPOINT_URL, no keys in SURECAST_S3_* or in
    boto3's chain) it also runs the embedded S3 server (`surecast embedded-s3`, data under the spool)
    and the web player, and prints the player's URL. Arguments after the options go to
    `surecast encode`, e.g. `surecast up -- --duration 600`.
    """
    settings = settings_or_exit()
    setup_logging("INFO")
    from surecast.commands.alerts import targets_or_exit

    targets_or_exit(settings)  # the console sends them: a URL it cannot use stops the start here, once
    from stack.up import chain_has_credentials, describe_destination, embedded_redis, needs_embedded_s3, run

    env = dict(os.environ)
    env["SURECAST_REDIS_URL"] = settings.redis.url.get_secret_value()
    # Every path handed to a child is absolute: a child may run in a folder of its own (weed does).
    spool = Path(settings.spool.dir).absolute()
    env["SURECAST_SPOOL_DIR"] = str(spool)
    try:
        redis_child = embedded_redis(env["SURECAST_REDIS_URL"], spool / "redis")
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    services = [redis_child] if redis_child else []
    encoder_args = None if no_encoder else list(encode_args)
    player_stream: str | None = None
    announce = None
    if needs_embedded_s3(settings.s3, chain_has_credentials()):
        from stack.embedded_s3_process import EmbeddedS3Error
        from stack.up import embedded_s3_child

        try:
            s3_child, s3_env = embedded_s3_child(settings, [*SURECAST, "embedded-s3"])
        except EmbeddedS3Error as exc:
            raise click.ClickException(str(exc)) from None
        services.append(s3_child)
        env.update(s3_env)
        click.echo(
            f"surecast up: no S3 destination configured: the embedded S3 server at {s3_env['SURECAST_S3_ENDPOINT_URL']}"
        )
        if encoder_args is not None:
            player_stream, announce = _watch(settings, encoder_args)
    else:
        click.echo(f"surecast up: {describe_destination(settings.s3)}")
        # (The embedded server is checked by its ready test instead, and each worker runs a preflight.)
        report_preflight(settings.s3, background=True)
    from stack.credentials import service_urls, stack_login

    try:
        user, _ = stack_login(settings)  # generated and printed once, on the first start
    except OSError as exc:
        raise click.ClickException(f"the stack's credentials: {exc}") from None
    urls = service_urls(settings)
    click.echo(
        f"surecast up: the console at {urls['console']}, Flower at {urls['Flower']}: user {user} "
        "(`surecast credentials` prints the password)"
    )
    children = plan_children(
        workers or settings.worker.concurrency, encoder_args, not no_flower, not no_metrics, player_stream
    )
    sys.exit(run(services + children, env, spool / "logs", announce))


def _watch(settings: Settings, encoder_args: list[str]) -> tuple[str, Any]:
    """The channel's master playlist URL (the stream's address that never changes: the player plays it),
    and the check that prints the player's URL once this event's master answers (the event id is chosen
    here and added to ``encoder_args`` unless they set it)."""
    from core.destinations import channel_page_key
    from encoder.keys import EventLayout
    from encoder.prepare import choose_event_id
    from stack.embedded_s3 import object_url, public_base_url
    from stack.up import event_id_in, page_url, stream_announcer

    event_id = event_id_in(encoder_args)
    if event_id is None:
        event_id = choose_event_id(settings, datetime.now(UTC))
        encoder_args += ["--event-id", event_id]
    try:
        layout = EventLayout(settings.s3.prefix, event_id, settings.encoder.channel)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--event-id") from None
    base = public_base_url(settings.embedded_s3)
    channel = object_url(base, settings.s3.bucket, layout.channel_master_key())
    event_master = object_url(base, settings.s3.bucket, layout.master_key())
    page = page_url(settings.client.player_bind, settings.client.player_port)
    viewers = object_url(base, settings.s3.bucket, channel_page_key(settings.s3.prefix, settings.encoder.channel))
    line = (
        f"surecast up: watch the stream at {page} (event {event_id}; the web player of {channel})\n"
        f"surecast up: the viewers' page: {viewers} (`surecast share` prints it with a snippet for a website)"
    )
    return channel, stream_announcer(line, event_master, WATCH_WAIT)


def plan_children(
    workers: int,
    encoder_args: list[str] | None,
    flower: bool,
    metrics: bool,
    player_stream: str | None = None,
) -> list[Child]:
    """The surecast processes to run, in start order. Pure."""
    from stack.up import Child

    children = [Child("worker", [*SURECAST, "worker", "-c", str(workers)], signal.SIGTERM, 60)]
    if encoder_args is not None:
        # SIGINT ends the event like Ctrl-C: final segments, then the VOD playlist.
        children.append(Child("encoder", [*SURECAST, "encode", *encoder_args], signal.SIGINT, 60))
    children.append(Child("console", [*SURECAST, "console"], signal.SIGTERM, 10))
    if flower:
        children.append(Child("flower", [*SURECAST, "flower"], signal.SIGTERM, 10))
    if metrics:
        children.append(Child("metrics", [*SURECAST, "metrics"], signal.SIGTERM, 5))
    if player_stream is not None:
        children.append(Child("player", [*SURECAST, "player", "--stream", player_stream], signal.SIGTERM, 5))
    return children
