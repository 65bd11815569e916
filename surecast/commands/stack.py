"""`surecast scale`, `flower`, `bucket-setup` and `embedded-s3`: running and preparing the whole stack."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path

import click

from core.settings import Settings, settings_or_exit
from surecast.commands import setup_logging


@click.command()
@click.argument("count", type=click.IntRange(min=1))
@click.option(
    "--mode",
    type=click.Choice(["auto", "compose", "celery"]),
    default="auto",
    show_default=True,
    help="compose: scale the uploader service; celery: grow/shrink the running workers' pools.",
)
@click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
def scale(count: int, mode: str, project_dir: Path) -> None:
    """Set the number of upload workers to COUNT."""
    settings = settings_or_exit()
    from stack.scale import compose_command, compose_running, scale_compose, scale_pools

    compose = compose_command() if mode in ("auto", "compose") else None
    if mode == "compose" and compose is None:
        raise click.ClickException("neither `docker compose` nor `docker-compose` is available")
    if compose and (mode == "compose" or compose_running(compose, project_dir)):
        scale_compose(compose, project_dir, count)
        click.echo(f"uploader service scaled to {count} container(s)")
        return
    from celery import Celery

    from core.celeryconfig import celery_config

    app = Celery("surecast-scale", set_as_current=False)
    app.conf.update(celery_config(settings, publish_forever=False))
    try:
        plan = scale_pools(app, count)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        app.close()
    click.echo(f"{count} upload process(es): " + ", ".join(f"{node} {n}" for node, n in plan.items()))


@click.command()
def flower() -> None:
    """Start Flower (the workers' dashboard) with basic auth: SURECAST_FLOWER_* or the stack's credentials."""
    settings = settings_or_exit()
    from stack.credentials import flower_section
    from stack.flower import flower_argv, flower_env

    try:
        env = flower_env(flower_section(settings), dict(os.environ))
    except ValueError as exc:
        click.echo(f"surecast: {exc}", err=True)
        sys.exit(2)
    argv = flower_argv(settings.flower)
    os.execve(argv[0], argv, env)


@click.command("bucket-setup")
@click.option("--create", is_flag=True, help="Create the bucket first if it does not exist.")
@click.option(
    "--cors-origin",
    "origins",
    multiple=True,
    metavar="ORIGIN",
    help="An origin allowed to read (repeat for several); default any origin.",
)
@click.option(
    "--abort-multipart-days",
    type=click.IntRange(min=1),
    default=7,
    show_default=True,
    help="Abort multipart uploads still incomplete this many days after they started.",
)
@click.option("--public-read", is_flag=True, help="Let anyone GET objects under SURECAST_S3_PREFIX (only there).")
@click.option("--dry-run", "dry", is_flag=True, help="Print the JSON that would be applied; change nothing.")
@click.option("--wait", type=float, default=0.0, help="Seconds to wait for the S3 server to answer (one-shot use).")
@click.option(
    "--best-effort",
    is_flag=True,
    help="Report a failed CORS, lifecycle or policy step and go on (the bucket itself must work).",
)
@click.option("--no-page", is_flag=True, help="Do not publish the viewers' page (it also goes out with each event).")
def bucket_setup(
    create: bool,
    origins: tuple[str, ...],
    abort_multipart_days: int,
    public_read: bool,
    dry: bool,
    wait: float,
    best_effort: bool,
    no_page: bool,
) -> None:
    """Apply CORS for players, a lifecycle rule for abandoned multipart uploads and, opt-in, public read;
    then publish the viewers' page on every destination."""
    settings = settings_or_exit()
    from stack.bucket_setup import BucketSetupError, dry_run, ensure_bucket, set_up, wait_for_server
    from uploader.s3client import make_s3_client

    bucket, prefix = settings.s3.bucket, settings.s3.prefix
    client = make_s3_client(settings.s3)
    try:
        if wait:
            wait_for_server(client, bucket, wait)
        if dry:
            plan = dry_run(client, bucket, prefix, origins, abort_multipart_days, public_read)
            click.echo(json.dumps(json.loads(plan.as_json(bucket)), indent=2))
            return
        if create and ensure_bucket(client, bucket, settings.s3.region):
            click.echo(f"bucket {bucket}: created")
        for step, outcome in set_up(client, bucket, prefix, origins, abort_multipart_days, public_read, best_effort):
            click.echo(f"bucket {bucket}: {step} {outcome}")
    except (BucketSetupError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if not no_page:
        _publish_page(settings, public_read)


def _publish_page(settings: Settings, public_read: bool) -> None:
    from core.share import share_links
    from stack.page_setup import publish_page_now

    for outcome in publish_page_now(settings):
        section = settings.for_destination(outcome.destination).s3
        url = share_links(section, settings.encoder.channel).url
        if outcome.delivered:
            click.echo(f"viewers' page on {outcome.destination}: delivered and verified: {url}")
        else:
            click.echo(
                f"viewers' page on {outcome.destination}: journaled, not delivered now ({outcome.detail}); the "
                "upload workers deliver it, and the encoder publishes the page at the next event",
                err=True,
            )
    if not public_read:
        click.echo("viewers need anonymous read on the prefix: --public-read (or a CDN with access to the bucket)")


@click.command("embedded-s3")
def embedded_s3() -> None:
    """Run the embedded S3 server (SeaweedFS) in the foreground, as the compose stack's `s3` service does.

    Data and the generated admin keys are under SURECAST_EMBEDDED_S3_DIR (default <spool>/s3); the
    bucket is created with CORS for browser players, and anyone may GET objects under SURECAST_S3_PREFIX
    (only there). SIGTERM or Ctrl-C stops it within seconds.
    """
    settings = settings_or_exit()
    setup_logging("INFO")
    from stack.bucket_setup import BucketSetupError
    from stack.embedded_s3 import Layout, Ports, object_url, public_base_url, public_read_actions
    from stack.embedded_s3_process import (
        INSTALL_HINT,
        EmbeddedS3Error,
        WeedProcess,
        admin_client,
        load_or_create_credentials,
        prepare_bucket,
        weed_binary,
    )

    section, bucket, prefix = settings.embedded_s3, settings.s3.bucket, settings.s3.prefix
    binary = weed_binary()
    if binary is None:
        raise click.ClickException(f"no `weed` binary: {INSTALL_HINT}")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    layout = Layout.from_settings(section, Path(settings.spool.dir))
    if not prefix:
        click.echo(
            "surecast embedded-s3: SURECAST_S3_PREFIX is empty: the whole bucket is readable by anyone", err=True
        )
    try:
        keys = load_or_create_credentials(layout.credentials)
        weed = WeedProcess(
            binary, layout, Ports.from_settings(section), keys, public_read_actions(bucket, prefix), section.bind
        )
    except EmbeddedS3Error as exc:
        raise click.ClickException(str(exc)) from None
    try:
        seconds = weed.start()
        outcomes = prepare_bucket(admin_client(weed.endpoint_url, keys), bucket, prefix)
    except (EmbeddedS3Error, BucketSetupError) as exc:
        weed.stop()
        raise click.ClickException(str(exc)) from None
    steps = ", ".join(f"{step} {outcome}" for step, outcome in outcomes)
    public = object_url(public_base_url(section), bucket, f"{prefix}/" if prefix else "")
    click.echo(
        f"surecast embedded-s3: s3://{bucket} on {section.bind}:{section.port}, ready in {seconds:.1f} s "
        f"({steps}); admin keys in {layout.credentials}; public: {public}",
    )
    sys.stdout.flush()
    while not stop.wait(1.0):
        if not weed.running:
            click.echo(
                f"surecast embedded-s3: weed exited unexpectedly; log {layout.log}:\n{weed.log_tail()}", err=True
            )
            weed.kill()
            sys.exit(1)
    weed.stop()
    click.echo("surecast embedded-s3: stopped")
