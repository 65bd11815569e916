"""The ingest gate's two conversations, without sockets (bytes in, bytes out). Pure.

``PusherSide`` answers a pusher (OBS) the way FFmpeg's own listener does, from the handshake to ``publish``,
which names the stream: the key. Nothing the pusher sends reaches FFmpeg before that. ``UpstreamSide`` then
hands an accepted push to FFmpeg's listener on loopback: its own handshake, then every byte the pusher sent
after its handshake, unchanged, so FFmpeg reads exactly what it would have read from OBS; the gate waits for
FFmpeg's "NetStream.Publish.Start" before it tells the pusher to go.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import Enum

from encoder.rtmp_wire import (
    HANDSHAKE_SIZE,
    RTMP_VERSION,
    AmfValue,
    ChunkReader,
    Command,
    MessageType,
    ProtocolError,
    command_message,
    control_message,
    parse_command,
    stream_begin,
)

# What FFmpeg's listener announces (Window Acknowledgement Size and Set Peer Bandwidth).
WINDOW_SIZE = 2_500_000
PEER_BANDWIDTH_DYNAMIC = 2
PUBLISH_STARTED = "NetStream.Publish.Start"
PUBLISH_DENIED = "NetStream.Publish.Denied"


@dataclass(frozen=True)
class PublishRequest:
    """A pusher's ``publish``: the app it connected to, the stream name (the key) and its message stream."""

    app: str
    name: str
    stream_id: int


class _Stage(Enum):
    HELLO = "C0 and C1"
    ACK = "C2"
    CHUNKS = "chunks"


def server_hello(c1: bytes, random: bytes) -> bytes:
    """S0, S1 and S2 as FFmpeg's listener sends them: version 3, S1 with a zero version field (so a Flash-style
    client keeps to the plain handshake), S2 echoing C1."""
    if len(random) != HANDSHAKE_SIZE - 8:
        raise ValueError(f"S1 needs {HANDSHAKE_SIZE - 8} random bytes")
    return bytes([RTMP_VERSION]) + c1[:4] + b"\0\0\0\0" + random + c1


class PusherSide:
    """The gate's half of a pusher's conversation until ``publish``; ``replay`` keeps what followed the handshake."""

    def __init__(self, random: bytes) -> None:
        self._random = random
        self._stage = _Stage.HELLO
        self._pending = bytearray()
        self._reader = ChunkReader()
        self._next_stream = 0
        self.app = ""
        self.replay = bytearray()
        self.publish: PublishRequest | None = None

    @property
    def _shaken(self) -> bool:
        return self._stage is _Stage.CHUNKS

    @property
    def held(self) -> int:
        """Bytes held for this pusher: what a gate bounds before the pusher has shown its key."""
        return len(self._pending) + len(self.replay)

    def feed(self, data: bytes) -> bytes:
        """Take the pusher's bytes; return the answer to send. Raises ProtocolError if it is not RTMP."""
        answer = b""
        if self._stage is not _Stage.CHUNKS:
            self._pending += data
            answer = self._handshake()
            if not self._shaken:
                return answer
            data, self._pending = bytes(self._pending), bytearray()
        self.replay += data
        if self.publish is not None:
            return answer  # decided by the gate; nothing after publish is answered here
        out = bytearray(answer)
        for message in self._reader.feed(data):
            command = parse_command(message)
            if command is not None:
                out += self._answer(command)
                if self.publish is not None:
                    break
        return bytes(out)

    def _handshake(self) -> bytes:
        if self._stage is _Stage.HELLO:
            if self._pending and self._pending[0] != RTMP_VERSION:
                raise ProtocolError(f"not plain RTMP (version byte {self._pending[0]})")
            if len(self._pending) < 1 + HANDSHAKE_SIZE:
                return b""
            c1 = bytes(self._pending[1 : 1 + HANDSHAKE_SIZE])
            del self._pending[: 1 + HANDSHAKE_SIZE]
            self._stage = _Stage.ACK
            answer = server_hello(c1, self._random)
        else:
            answer = b""
        if len(self._pending) >= HANDSHAKE_SIZE:
            del self._pending[:HANDSHAKE_SIZE]  # C2: FFmpeg only warns when it differs, so do we not check it
            self._stage = _Stage.CHUNKS
        return answer

    def _answer(self, command: Command) -> bytes:
        if command.name == "connect":
            found = command.args[0] if command.args else None
            app = found.get("app") if isinstance(found, dict) else None
            self.app = app if isinstance(app, str) else ""
            return connect_answer(command.transaction)
        if command.name == "publish":
            self.publish = PublishRequest(self.app, command.string_arg(1) or "", command.stream_id)
            return b""
        if command.name == "createStream":
            self._next_stream += 1
            if self._next_stream == 2:  # FFmpeg's listener keeps 0 and 2 back
                self._next_stream += 1
            return command_message("_result", command.transaction, None, float(self._next_stream))
        if command.name == "FCPublish":
            return command_message("onFCPublish", 0.0, None)
        if command.transaction:
            return command_message("_result", command.transaction, None)  # releaseStream, _checkbw, ...
        return b""


def connect_answer(transaction: float) -> bytes:
    """What FFmpeg's listener answers to ``connect``: window and bandwidth, Stream Begin, success, onBWDone."""
    success: dict[str, AmfValue] = {
        "level": "status",
        "code": "NetConnection.Connect.Success",
        "description": "Connection succeeded.",
        "objectEncoding": 0.0,
    }
    return b"".join(
        (
            control_message(MessageType.WINDOW_ACK_SIZE, struct.pack(">I", WINDOW_SIZE)),
            control_message(MessageType.SET_PEER_BANDWIDTH, struct.pack(">IB", WINDOW_SIZE, PEER_BANDWIDTH_DYNAMIC)),
            stream_begin(0),
            command_message("_result", transaction, {"fmsVer": "FMS/3,0,1,123", "capabilities": 31.0}, success),
            command_message("onBWDone", 0.0, None, 8192.0),
        )
    )


def publish_started(request: PublishRequest) -> bytes:
    """Stream Begin and onStatus "NetStream.Publish.Start": the pusher may send its media."""
    status: dict[str, AmfValue] = {"level": "status", "code": PUBLISH_STARTED, "description": "Publishing."}
    return stream_begin(request.stream_id) + command_message("onStatus", 0.0, None, status, stream_id=request.stream_id)


def publish_refused(request: PublishRequest, reason: str) -> bytes:
    """onStatus "NetStream.Publish.Denied" at level error: OBS and FFmpeg stop and report ``reason``."""
    status: dict[str, AmfValue] = {"level": "error", "code": PUBLISH_DENIED, "description": reason}
    return command_message("onStatus", 0.0, None, status, stream_id=request.stream_id)


class UpstreamSide:
    """The gate as FFmpeg's client: handshake, then the pusher's bytes, then FFmpeg's answer to ``publish``."""

    def __init__(self, random: bytes, replay: bytes) -> None:
        if len(random) != HANDSHAKE_SIZE - 8:
            raise ValueError(f"C1 needs {HANDSHAKE_SIZE - 8} random bytes")
        self._c1 = b"\0" * 8 + random
        self._replay = replay
        self._pending = bytearray()
        self._reader: ChunkReader | None = None
        self.started = False

    def hello(self) -> bytes:
        """C0 and C1."""
        return bytes([RTMP_VERSION]) + self._c1

    def feed(self, data: bytes) -> bytes:
        """Take FFmpeg's bytes; return what to send it. ``started`` turns True on "NetStream.Publish.Start".

        Raises ProtocolError when FFmpeg answers with an error or is not an RTMP server.
        """
        if self._reader is None:
            self._pending += data
            if self._pending[:1] not in (b"", bytes([RTMP_VERSION])):
                raise ProtocolError(f"the upstream is not an RTMP server (version byte {self._pending[0]})")
            if len(self._pending) < 1 + 2 * HANDSHAKE_SIZE:
                return b""
            s1 = bytes(self._pending[1 : 1 + HANDSHAKE_SIZE])
            data = bytes(self._pending[1 + 2 * HANDSHAKE_SIZE :])
            self._pending = bytearray()
            self._reader = ChunkReader()
            answer = s1 + self._replay  # C2 echoes S1
        else:
            answer = b""
        for message in self._reader.feed(data):
            command = parse_command(message)
            if command is not None and command.name == "onStatus":
                self._status(command)
        return answer

    def _status(self, command: Command) -> None:
        info = next((a for a in command.args if isinstance(a, dict)), {})
        if info.get("level") == "error":
            raise ProtocolError(f"FFmpeg refused the push: {info.get('description') or info.get('code')}")
        if info.get("code") == PUBLISH_STARTED:
            self.started = True
