"""The `surecast` command: one group, the commands in surecast/commands/, each loading the settings once."""

from __future__ import annotations

import click

from core.version import surecast_version
from surecast.commands import alerts, console, delivery, encode, play, stack, status, up


@click.group()
@click.version_option(surecast_version(), "-V", "--version", prog_name="surecast", message="%(prog)s %(version)s")
def main() -> None:
    """Live HLS from a venue PC to S3-compatible storage, with guaranteed delivery."""


for command in (
    delivery.worker,
    delivery.send,
    status.status,
    delivery.reconcile,
    status.metrics,
    stack.scale,
    up.up,
    delivery.retry_failed,
    encode.encode,
    encode.finish_event,
    stack.flower,
    stack.bucket_setup,
    stack.embedded_s3,
    play.play,
    play.player,
    console.console,
    console.credentials,
    alerts.alerts,
    console.fleet,
    console.share,
):
    main.add_command(command)
