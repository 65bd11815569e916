"""`surecast play` and `surecast player`: the viewer's entry points."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from client.errors import ClientError
from client.report import EXIT_UNREADABLE, render_report
from core.service_settings import LOOPBACK_ADDRESSES
from core.settings import settings_or_exit
from surecast.commands import setup_logging

EXIT_USAGE = 2


def _on_signals(*events: threading.Event) -> None:
    def handler(signum: int, frame: Any) -> None:
        for event in events:
            event.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)


def _write_json(path: str, text: str) -> None:
    if path == "-":
        click.echo(text)
        return
    try:
        Path(path).write_text(text + "\n")
    except OSError as exc:
        click.echo(f"surecast play: cannot write the JSON report {path}: {exc.strerror or exc}", err=True)


def _fatal(message: str, code: int) -> None:
    click.echo(f"surecast play: {message}", err=True)
    sys.exit(code)


@click.command()
@click.argument("url")
@click.option("--rendition", default=None, help="From a master playlist: a rendition name (720p), best or lowest.")
@click.option("--buffer", type=click.FloatRange(min=0), default=None, help="Delay buffer, seconds of media held.")
@click.option(
    "--output",
    "outputs",
    type=click.Choice(["play", "record", "serve"]),
    multiple=True,
    help="play: ffplay; record: --file; serve: HLS and the web player on --bind:--port. Repeatable.",
)
@click.option("--file", "record_file", type=click.Path(dir_okay=False, path_type=Path), help="Recording file.")
@click.option("--bind", default=None, help="Address for --output serve (default SURECAST_CLIENT_SERVE_BIND).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port for --output serve.")
@click.option("--check", is_flag=True, help="Decode everything with FFmpeg, display nothing, print a report.")
@click.option("--json", "json_path", default=None, help="Also write the report as JSON to this file ('-': stdout).")
@click.option(
    "--start",
    type=click.Choice(["edge", "first"]),
    default=None,
    help="edge: --buffer seconds behind the live edge; first: the oldest segment listed "
    "(default: first with --check or record, else edge).",
)
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=None, help="Stop after this media.")
@click.option("--pace/--no-pace", default=None, help="Real-time playout (default: while the stream is live).")
@click.option("-l", "--loglevel", default="WARNING", show_default=True)
def play(
    url: str,
    rendition: str | None,
    buffer: float | None,
    outputs: tuple[str, ...],
    record_file: Path | None,
    bind: str | None,
    port: int | None,
    check: bool,
    json_path: str | None,
    start: str | None,
    duration: float | None,
    pace: bool | None,
    loglevel: str,
) -> None:
    """Play, record or re-serve an HLS stream, verifying every segment; --check reports what was lost.

    URL is a public http(s):// playlist (bucket, CDN, web server) or s3://bucket/key through the S3 API
    with SURECAST_S3_* endpoint and credentials. Exit status: 0 nothing lost, 1 something lost (gaps,
    decode errors, a segment failing its MD5 check), 2 bad usage, 3 the stream could not be read.
    """
    settings = settings_or_exit()
    setup_logging(loglevel)
    from client.origin import HttpOrigin, Origin, S3Origin, check_url
    from client.outputs import CheckOutput, Output, PlayOutput, RecordOutput, find_ffmpeg, find_ffplay
    from client.serve import SERVE_WINDOW, ServeOutput
    from client.session import Playback, PlayOptions

    cfg = settings.client
    try:
        check_url(url)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="URL") from None
    kinds = list(dict.fromkeys(outputs)) or ([] if check else ["play"])
    if "record" in kinds and record_file is None:
        raise click.UsageError("--output record needs --file PATH")
    options = PlayOptions(
        url=url,
        rendition=rendition,
        buffer=cfg.buffer if buffer is None else buffer,
        from_first=(start or ("first" if check or "record" in kinds else "edge")) == "first",
        pace=pace,
        duration=duration,
    )
    built: list[Output] = []
    checker: CheckOutput | None = None
    server: ServeOutput | None = None
    try:
        if check:
            checker = CheckOutput(find_ffmpeg(cfg.ffmpeg_path))
            built.append(checker)
        if "record" in kinds and record_file is not None:
            built.append(RecordOutput(record_file))
        if "play" in kinds:
            built.append(PlayOutput(find_ffplay(cfg.ffplay_path), f"surecast {url}"))
        if "serve" in kinds:
            server = ServeOutput(bind or cfg.serve_bind, cfg.serve_port if port is None else port, SERVE_WINDOW, url)
            built.append(server)
    except ClientError as exc:
        for out in built:
            out.close()
        _fatal(str(exc), EXIT_USAGE)

    origin: Origin
    if url.startswith("s3://"):
        from uploader.s3client import make_s3_client

        origin = S3Origin(make_s3_client(settings.s3))
    else:
        origin = HttpOrigin(cfg.connect_timeout, cfg.read_timeout)
    stop, interrupted = threading.Event(), threading.Event()
    _on_signals(stop, interrupted)
    playback = Playback(cfg, origin, options, built, stop)
    try:
        opened = playback.open()
    except ClientError as exc:
        origin.close()
        if json_path:
            _write_json(json_path, playback.report.to_json())
        _fatal(str(exc), EXIT_UNREADABLE)
    name = f" rendition {opened.variant.describe()}" if opened.variant else ""
    click.echo(f"surecast play: {opened.media_url}{name}, {options.buffer:g} s delay buffer", err=True)
    if server is not None:
        click.echo(f"surecast play: serving {server.playlist_url} and the web player at {server.player_url}", err=True)
    report = playback.run(opened)
    origin.close()
    if checker is not None:
        report.decoded_seconds = round(checker.seconds, 3)
        report.decoded_frames = checker.frames
        report.add_decode_errors(checker.errors)
    if server is not None:
        if report.ended and not interrupted.is_set():
            click.echo("surecast play: the stream has ended; still serving it, Ctrl-C to stop", err=True)
            interrupted.wait()
        server.close()
    if json_path != "-":
        click.echo(render_report(report))
    if json_path:
        _write_json(json_path, report.to_json())
    if report.error:
        click.echo(f"surecast play: {report.error}", err=True)
    sys.exit(report.exit_code())


@click.command()
@click.option("--stream", "stream_url", default="", help="HLS URL the page plays; the page's ?src= overrides it.")
@click.option(
    "--alternate",
    "alternates",
    multiple=True,
    help="The same master playlist on another destination, asked when the first does not answer "
    "(default with no --stream: the channel's address on each backup).",
)
@click.option("--bind", default=None, help="Address to listen on (default SURECAST_CLIENT_PLAYER_BIND, 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Default SURECAST_CLIENT_PLAYER_PORT.")
def player(stream_url: str, alternates: tuple[str, ...], bind: str | None, port: int | None) -> None:
    """Serve the web player (hls.js, or Safari's own HLS) pointed at a stream URL (default: the channel's
    stable address where viewers read the bucket, SURECAST_S3_PUBLIC_URL)."""
    settings = settings_or_exit()
    from client.webserver import WebServer, static_route
    from core.destinations import channel_url

    others = list(alternates)
    if not stream_url:
        stream_url = channel_url(settings.s3, settings.encoder.channel)
        others = others or [channel_url(d.s3, settings.encoder.channel) for d in settings.destinations()[1:]]
    for url, hint in [(stream_url, "--stream"), *((u, "--alternate") for u in others)]:
        if not url.startswith(("http://", "https://", "/")):
            raise click.BadParameter("a browser plays http(s):// URLs only (not s3://)", param_hint=hint)
    cfg = settings.client
    address = bind or cfg.player_bind
    login = None
    if address not in LOOPBACK_ADDRESSES:  # beyond this PC, never without a login
        from surecast.commands.console import page_login

        login = page_login(settings, "web player", address)
    try:
        route = static_route({"src": stream_url, "alternates": others, "profile": settings.encoder.profile})
        server = WebServer(address, cfg.player_port if port is None else port, route, login)
    except ClientError as exc:
        click.echo(f"surecast player: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    stop = threading.Event()
    _on_signals(stop)
    behind = f" (user {login[0]}; `surecast credentials` shows the password)" if login else ""
    click.echo(f"surecast player: {server.url(address)} playing {stream_url or '(the page asks for ?src=URL)'}{behind}")
    sys.stdout.flush()
    stop.wait()
    server.close()
