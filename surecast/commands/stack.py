"""`surecast up`, `scale`, `flower` and `bucket-setup`: running and preparing the whole stack."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from core.settings import settings_or_exit
from surecast.commands import report_preflight, setup_logging


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--workers", type=int, default=None, help="Upload processes (default SURECAST_WORKER_CONCURRENCY).")
@click.option("--no-encoder", is_flag=True, help="Only deliver (e.g. files given to `surecast send`).")
@click.option("--no-flower", is_flag=True)
@click.option("--no-metrics", is_flag=True)
@click.argument("encode_args", nargs=-1, type=click.UNPROCESSED)
def up(workers: int | None, no_encoder: bool, no_flower: bool, no_metrics: bool, encode_args: tuple[str, ...]) -> None:
    """The stack without Docker: Redis if none answers, workers, encoder, Flower, metrics; Ctrl-C stops all.

    Arguments after the options go to `surecast encode`, e.g. `surecast up -- --duration 600`.
    """
    settings = settings_or_exit()
    setup_logging("INFO")
    from surecast.up import embedded_redis, flower_credentials, plan_children, run

    env = dict(os.environ)
    env["SURECAST_REDIS_URL"] = settings.redis.url.get_secret_value()
    spool = Path(settings.spool.dir)
    try:
        redis_child = embedded_redis(env["SURECAST_REDIS_URL"], spool / "redis")
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    if not no_flower and (creds := flower_credentials(env)):
        click.echo(
            f"Flower: http://127.0.0.1:5555 user {creds[0]} password {creds[1]} (set SURECAST_FLOWER_* to choose)"
        )
    report_preflight(settings.s3, background=True)
    children = plan_children(
        workers or settings.worker.concurrency, None if no_encoder else list(encode_args), not no_flower, not no_metrics
    )
    sys.exit(run(redis_child, children, env, spool / "logs"))


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
    from surecast.scale import compose_command, compose_running, scale_compose, scale_pools

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
    """Start Flower (the workers' dashboard) with basic auth; refuses to start without credentials."""
    settings = settings_or_exit()
    from surecast.flower import flower_argv, flower_env

    try:
        env = flower_env(settings.flower, dict(os.environ))
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
def bucket_setup(
    create: bool,
    origins: tuple[str, ...],
    abort_multipart_days: int,
    public_read: bool,
    dry: bool,
    wait: float,
    best_effort: bool,
) -> None:
    """Apply CORS for players, a lifecycle rule for abandoned multipart uploads and, opt-in, public read."""
    settings = settings_or_exit()
    from surecast.bucket_setup import BucketSetupError, dry_run, ensure_bucket, set_up, wait_for_server
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
