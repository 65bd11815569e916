"""`surecast worker`, `send`, `reconcile` and `retry-failed`: the delivery side's commands."""

from __future__ import annotations

import os
from pathlib import Path

import click

from core.settings import settings_or_exit
from surecast.commands import report_preflight, setup_logging


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option(
    "-c",
    "--concurrency",
    type=int,
    default=None,
    help="Upload processes (default SURECAST_WORKER_CONCURRENCY).",
)
@click.option("-l", "--loglevel", default="INFO", show_default=True)
@click.option("-n", "--hostname", default=None, help="Celery node name (default unique per process).")
@click.pass_context
def worker(ctx: click.Context, concurrency: int | None, loglevel: str, hostname: str | None) -> None:
    """Start an upload worker (celery worker with the right app and options); extra args go to Celery."""
    settings = settings_or_exit()
    from uploader.app import make_app

    report_preflight(settings.s3)
    argv = [
        "worker",
        f"--loglevel={loglevel}",
        "-E",
        f"--queues={settings.worker.queue}",
        f"--concurrency={concurrency or settings.worker.concurrency}",
        f"--hostname={hostname or f'uploader-{os.getpid()}@%h'}",
        *ctx.args,
    ]
    make_app(settings).worker_main(argv)


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--key-prefix", default="sent", show_default=True, help="Folder under SURECAST_S3_PREFIX for the objects."
)
def send(files: tuple[Path, ...], key_prefix: str) -> None:
    """Hand existing files (a recording, a backup) to the guaranteed upload pipeline."""
    settings = settings_or_exit()
    setup_logging("WARNING")
    from journal.outbox import Publisher
    from uploader.send import send_files

    publisher = Publisher(settings)
    try:
        for row, published in send_files(settings, publisher, list(files), key_prefix):
            state = "queued" if published else "journaled (Redis unreachable; the reconciler will publish it)"
            click.echo(f"{row.path} -> s3://{settings.s3.bucket}/{row.key}: {state}")
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        publisher.close()


@click.command()
@click.option("--all", "everything", is_flag=True, help="Re-publish every unverified file, not only overdue ones.")
@click.option(
    "--every", type=click.IntRange(min=0), default=0, help="Keep going: a round every N seconds, until SIGTERM."
)
def reconcile(everything: bool, every: int) -> None:
    """Re-publish files not verified within their deadline; abort abandoned multipart uploads."""
    settings = settings_or_exit()
    setup_logging("INFO")
    if every:
        import signal
        import threading

        from uploader.reconcile import reconcile_forever

        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        interval = settings.model_copy(
            update={"upload": settings.upload.model_copy(update={"reconcile_interval": every})}
        )
        reconcile_forever(interval, stopped.wait)
        return
    import redis

    from journal.files import Journal
    from journal.outbox import Publisher, publish_and_mark
    from uploader.errors import UploadError
    from uploader.queues import messages_held
    from uploader.reconcile import abort_abandoned_uploads, republish_overdue
    from uploader.s3client import make_s3_client

    journal = Journal(settings.spool.dir)
    publisher = Publisher(settings)
    if everything:
        count = publish_and_mark(journal, publisher, journal.unverified())
    else:
        client = redis.Redis.from_url(settings.redis.url.get_secret_value(), socket_timeout=5)
        try:
            held: int | None = messages_held(client, settings.worker.queue)
        except redis.RedisError as exc:
            raise click.ClickException(f"Redis unreachable, nothing re-published: {exc}") from None
        count = republish_overdue(journal, publisher, settings, held)
    click.echo(f"re-published {count} file(s)")
    try:
        aborted = abort_abandoned_uploads(make_s3_client(settings.s3), journal, settings)
        click.echo(f"aborted {aborted} abandoned multipart upload(s)")
    except UploadError as exc:
        click.echo(f"could not check for abandoned multipart uploads: {exc}", err=True)
    publisher.close()


@click.command("retry-failed")
def retry_failed() -> None:
    """Re-queue every failed file (after fixing the cause: credentials, bucket, missing file)."""
    settings = settings_or_exit()
    from journal.files import Journal
    from journal.outbox import Publisher, publish_and_mark

    journal = Journal(settings.spool.dir)
    rows = journal.requeue_failed()
    publisher = Publisher(settings)
    count = publish_and_mark(journal, publisher, rows)
    publisher.close()
    click.echo(f"re-queued {len(rows)} failed file(s), published {count}")
