"""The ingest gate: surecast listens where OBS pushes RTMP and lets through only a push with the right key.

    OBS ──RTMP──> gate (the configured address) ──the right key only──> FFmpeg's listener (loopback)

FFmpeg's listener takes any key. The gate answers the handshake, ``connect`` and ``createStream`` itself
(encoder.rtmp_session) and opens a connection to FFmpeg only once ``publish`` has named the right key, so a
wrong key costs the real stream nothing: FFmpeg's listener, which takes one connection per run, never sees
it, and a second connection while OBS streams touches nothing. An accepted push is handed to FFmpeg byte for
byte. The newest push with the right key wins: OBS reconnecting after a drop must not wait for the old
connection to time out. Each refused push is logged once with the sender's address and counted for the
encoder's status file.

The gate runs an asyncio loop in a thread of its own; ``start`` returns once it listens (or raises OSError).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from encoder.ingest_keys import GatePlan, key_matches
from encoder.rtmp_session import PusherSide, UpstreamSide, publish_refused, publish_started
from encoder.rtmp_wire import HANDSHAKE_SIZE, ProtocolError

log = logging.getLogger(__name__)

PREAUTH_SECONDS = 10.0  # a pusher names its stream within this long of connecting, or is dropped
PREAUTH_BYTES = 64 * 1024  # ... and within this many bytes (connect and the rest take a few hundred)
# Connections at once that have not named their stream yet; a newer one closes the oldest, so a flood of silent
# connections cannot keep OBS out (OBS names its stream within milliseconds of connecting).
MAX_WAITING = 32
UPSTREAM_WAIT = 25.0  # an accepted push waits this long for FFmpeg's listener (restarting after the last push)
UPSTREAM_RETRY = 0.1
HANDOVER_SECONDS = 10.0  # FFmpeg answers an accepted publish within this long
REFUSAL_DELAY = 1.0  # a refused pusher waits this long for its answer: guessing keys is slow
READ_SIZE = 64 * 1024
RECENT_SENDERS = 8  # the senders of refused pushes the status file names
WRONG_KEY = "wrong stream key"


class PushClosed(ConnectionError):
    """The pusher or FFmpeg closed the connection."""


class RefusedPushes:
    """Pushes refused for a wrong key: how many, from where, when the last was. Safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._last_at: float | None = None
        self._senders: dict[str, int] = {}

    def note(self, sender: str, when: float) -> None:
        with self._lock:
            self._count += 1
            self._last_at = when
            self._senders[sender] = self._senders.pop(sender, 0) + 1  # the latest sender last
            while len(self._senders) > RECENT_SENDERS:
                del self._senders[next(iter(self._senders))]

    def as_status(self) -> dict[str, Any]:
        """``refused_pushes`` in the encoder's status file."""
        with self._lock:
            return {"count": self._count, "last_at": self._last_at, "senders": dict(self._senders)}


class IngestGate:
    """The RTMP listener OBS pushes to; FFmpeg's own listener waits behind it on loopback."""

    def __init__(self, plan: GatePlan, clock: Callable[[], float] = time.time) -> None:
        self.plan = plan
        self.refused = RefusedPushes()
        self._clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self._waiting: dict[asyncio.Task[None], str] = {}  # oldest first
        self._current: asyncio.Task[None] | None = None
        self._current_sender = ""
        self._handover: asyncio.Lock | None = None
        self.port = plan.port

    # Control, from the encoder's thread --------------------------------------------------------------------

    def start(self) -> None:
        """Listen on the plan's address; raise OSError when that is impossible (the port is taken)."""
        ready: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="ingest-gate", daemon=True)
        self._thread.start()
        self.port = ready.result(timeout=10)
        log.info(
            "ingest gate on %s:%d: pushes with the right key go to FFmpeg on loopback port %d",
            self.plan.host or "*",
            self.port,
            self.plan.upstream_port,
        )

    def stop(self) -> None:
        """Stop listening and close every connection (an ongoing push ends as if OBS had stopped)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        with suppress(concurrent.futures.TimeoutError, RuntimeError):
            asyncio.run_coroutine_threadsafe(self._close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)

    # The loop ---------------------------------------------------------------------------------------------

    def _run(self, ready: concurrent.futures.Future[int]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            try:
                self._server = loop.run_until_complete(self._listen())
            except OSError as exc:
                ready.set_exception(exc)
                return
            ready.set_result(self._server.sockets[0].getsockname()[1])
            loop.run_forever()
        finally:
            loop.close()

    async def _listen(self) -> asyncio.Server:
        self._handover = asyncio.Lock()
        return await asyncio.start_server(self._serve, self.plan.host or None, self.plan.port)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._sessions):
            task.cancel()
        await asyncio.gather(*self._sessions, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        sender = _sender(writer)
        try:
            if len(self._waiting) >= MAX_WAITING:
                oldest, who = next(iter(self._waiting.items()))
                log.debug("closing the connection from %s: %d newer ones wait to name their stream", who, MAX_WAITING)
                oldest.cancel()
                del self._waiting[oldest]
            self._waiting[task] = sender
            try:
                side = await asyncio.wait_for(self._until_publish(reader, writer), PREAUTH_SECONDS)
            finally:
                self._waiting.pop(task, None)
            request = side.publish
            assert request is not None
            if not key_matches(request.name, self.plan.key):
                await self._refuse(writer, sender, request.name, request.app, publish_refused(request, WRONG_KEY))
                return
            await self._forward(reader, writer, side, sender)
        except (ProtocolError, PushClosed, TimeoutError, OSError) as exc:
            log.debug("connection from %s closed: %s", sender, exc or type(exc).__name__)
        finally:
            self._sessions.discard(task)
            writer.close()

    async def _until_publish(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> PusherSide:
        """Answer the pusher until it sends ``publish``."""
        side = PusherSide(os.urandom(HANDSHAKE_SIZE - 8))
        while side.publish is None:
            data = await reader.read(READ_SIZE)
            if not data:
                raise PushClosed("closed before naming a stream")
            answer = side.feed(data)
            if side.held > PREAUTH_BYTES:
                raise ProtocolError(f"sent {side.held} bytes without naming a stream")
            if answer:
                writer.write(answer)
                await writer.drain()
        return side

    async def _refuse(self, writer: asyncio.StreamWriter, sender: str, name: str, app: str, answer: bytes) -> None:
        self.refused.note(sender.rpartition(":")[0].strip("[]"), self._clock())
        log.warning("refused a push from %s: %s (%d characters, app %r)", sender, WRONG_KEY, len(name), app)
        await asyncio.sleep(REFUSAL_DELAY)
        writer.write(answer)
        await writer.drain()

    async def _forward(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, side: PusherSide, sender: str
    ) -> None:
        """Hand an accepted push to FFmpeg, then copy the pusher's bytes to it until either side ends."""
        assert self._handover is not None and side.publish is not None
        async with self._handover:
            current = self._current
            if current is not None and not current.done():
                log.warning(
                    "a new push with the right key from %s replaces the one from %s", sender, self._current_sender
                )
                current.cancel()
                await asyncio.wait({current}, timeout=5)
            try:
                up_reader, up_writer = await self._open_upstream(bytes(side.replay))
            except (ProtocolError, TimeoutError, OSError) as exc:
                log.warning("a push from %s had the right key but FFmpeg did not take it: %s", sender, exc)
                return
            self._current, self._current_sender = asyncio.current_task(), sender
        try:
            writer.write(publish_started(side.publish))
            await writer.drain()
            log.info("push from %s accepted (app %r)", sender, side.publish.app)
            await _copy_until_either_ends(reader, up_reader, up_writer)
            log.info("push from %s ended", sender)
        finally:
            up_writer.close()

    async def _open_upstream(self, replay: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Connect to FFmpeg's listener (waiting while it restarts), replay the push, wait for its go."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + UPSTREAM_WAIT
        while True:
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.plan.upstream_port)
                break
            except OSError:
                if loop.time() >= deadline:
                    raise PushClosed(f"FFmpeg's listener did not answer within {UPSTREAM_WAIT:.0f} s") from None
                await asyncio.sleep(UPSTREAM_RETRY)
        try:
            upstream = UpstreamSide(os.urandom(HANDSHAKE_SIZE - 8), replay)
            up_writer.write(upstream.hello())
            async with asyncio.timeout(HANDOVER_SECONDS):
                while not upstream.started:
                    data = await up_reader.read(READ_SIZE)
                    if not data:
                        raise PushClosed("FFmpeg closed the connection before accepting the push")
                    answer = upstream.feed(data)
                    if answer:
                        up_writer.write(answer)
                        await up_writer.drain()
        except BaseException:
            up_writer.close()
            raise
        return up_reader, up_writer


async def _copy_until_either_ends(
    reader: asyncio.StreamReader, up_reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter
) -> None:
    """The pusher's bytes to FFmpeg; FFmpeg's (acknowledgements) are read and dropped. Either end ends both."""

    async def pusher_to_ffmpeg() -> None:
        while data := await reader.read(READ_SIZE):
            up_writer.write(data)
            await up_writer.drain()

    async def ffmpeg_to_nowhere() -> None:
        while await up_reader.read(READ_SIZE):
            pass

    tasks = {asyncio.create_task(pusher_to_ffmpeg()), asyncio.create_task(ffmpeg_to_nowhere())}
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _sender(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if not peer:
        return "an unknown address"
    host, port = str(peer[0]), int(peer[1])
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def free_loopback_port() -> int:
    """A TCP port free on loopback now, for FFmpeg's listener behind the gate (it binds it at each run)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
