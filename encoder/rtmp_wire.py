"""RTMP on the wire, as much as the ingest gate needs: the handshake, the chunk stream and AMF0 commands. Pure:
bytes in, messages and bytes out; nothing here touches a socket.

A chunk stream interleaves messages cut into chunks. A chunk's header may leave out what the previous chunk of
the same chunk stream id said (header formats 1 to 3), so the reader keeps what each chunk stream id said last.
Set Chunk Size changes the size of the chunks that follow from the same sender.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import TypeAlias

HANDSHAKE_SIZE = 1536  # C1, C2, S1, S2; C0 and S0 are one byte, the version
RTMP_VERSION = 3
DEFAULT_CHUNK_SIZE = 128
EXTENDED_TIMESTAMP = 0xFFFFFF
CONTROL_CSID = 2  # protocol control and user control messages
COMMAND_CSID = 3
MAX_AMF_DEPTH = 16  # commands nest an object or two; a deeper one is not a client we serve

AmfValue: TypeAlias = float | bool | str | None | dict[str, "AmfValue"] | list["AmfValue"]


class ProtocolError(ValueError):
    """The peer does not speak RTMP as we understand it: close the connection."""


class MessageType(IntEnum):
    SET_CHUNK_SIZE = 1
    ABORT = 2
    ACKNOWLEDGEMENT = 3
    USER_CONTROL = 4
    WINDOW_ACK_SIZE = 5
    SET_PEER_BANDWIDTH = 6
    AUDIO = 8
    VIDEO = 9
    DATA_AMF0 = 18
    COMMAND_AMF3 = 17
    COMMAND_AMF0 = 20


@dataclass(frozen=True)
class Message:
    csid: int
    type_id: int
    stream_id: int
    timestamp: int
    payload: bytes


@dataclass
class _StreamState:
    """What the last chunk header of one chunk stream id said, and the message being assembled on it."""

    timestamp: int = 0
    delta: int = 0
    length: int = 0
    type_id: int = 0
    stream_id: int = 0
    extended: bool = False
    partial: bytearray | None = None


class ChunkReader:
    """Whole messages out of a chunk stream fed in pieces of any size (a byte at a time works)."""

    def __init__(self) -> None:
        self.chunk_size = DEFAULT_CHUNK_SIZE
        self._buffer = bytearray()
        self._streams: dict[int, _StreamState] = {}

    @property
    def pending(self) -> int:
        """Bytes held: an incomplete chunk and the parts of incomplete messages."""
        return len(self._buffer) + sum(len(s.partial or b"") for s in self._streams.values())

    def feed(self, data: bytes) -> list[Message]:
        """The messages ``data`` completes, in order. Raises ProtocolError on a stream that cannot be RTMP."""
        self._buffer += data
        messages: list[Message] = []
        while self._read_chunk(messages):
            pass
        return messages

    def _apply(self, message: Message) -> None:
        if message.type_id == MessageType.SET_CHUNK_SIZE:
            if len(message.payload) < 4:
                raise ProtocolError("Set Chunk Size shorter than 4 bytes")
            size = struct.unpack(">I", message.payload[:4])[0] & 0x7FFFFFFF
            if size < 1:
                raise ProtocolError("Set Chunk Size of 0")
            self.chunk_size = size
        elif message.type_id == MessageType.ABORT and len(message.payload) >= 4:
            state = self._streams.get(struct.unpack(">I", message.payload[:4])[0])
            if state is not None:
                state.partial = None

    def _read_chunk(self, messages: list[Message]) -> bool:
        """Take one chunk off the buffer (adding the message it completes to ``messages``); False if the
        buffer holds no whole chunk. Nothing is consumed or changed until the whole chunk is there."""
        buf = self._buffer
        if not buf:
            return False
        fmt, csid = buf[0] >> 6, buf[0] & 0x3F
        pos = 1
        if csid < 2:
            extra = 1 if csid == 0 else 2
            if len(buf) < 1 + extra:
                return False
            csid = 64 + buf[1] + (buf[2] * 256 if extra == 2 else 0)
            pos += extra
        header = (11, 7, 3, 0)[fmt]
        if len(buf) < pos + header:
            return False
        prev = self._streams.get(csid)
        if prev is None:
            if fmt != 0:
                raise ProtocolError(f"chunk stream {csid} starts without a full header (format {fmt})")
            prev = _StreamState()
        stamp = length = type_id = stream_id = 0
        if fmt < 3:
            stamp = int.from_bytes(buf[pos : pos + 3], "big")
        if fmt < 2:
            length = int.from_bytes(buf[pos + 3 : pos + 6], "big")
            type_id = buf[pos + 6]
        if fmt == 0:
            stream_id = int.from_bytes(buf[pos + 7 : pos + 11], "little")
        pos += header
        extended = stamp == EXTENDED_TIMESTAMP if fmt < 3 else prev.extended
        if extended:
            if len(buf) < pos + 4:
                return False
            stamp = int.from_bytes(buf[pos : pos + 4], "big")
            pos += 4
        continuing = fmt == 3 and prev.partial is not None
        if not continuing and fmt >= 2:
            length = prev.length
        if not continuing and fmt == 3:
            stamp = prev.delta
        total = prev.length if continuing else length
        assembled = len(prev.partial) if continuing and prev.partial is not None else 0
        size = min(self.chunk_size, total - assembled)
        if len(buf) < pos + size:
            return False
        # The whole chunk is here: commit.
        data = bytes(buf[pos : pos + size])
        del buf[: pos + size]
        self._streams[csid] = state = prev
        if not continuing:
            if fmt == 0:
                state.timestamp, state.delta, state.stream_id = stamp, 0, stream_id
            else:
                state.delta = stamp
                state.timestamp = (state.timestamp + stamp) & 0xFFFFFFFF
            if fmt < 2:
                state.length, state.type_id = length, type_id
            if fmt < 3:
                state.extended = extended
            state.partial = bytearray()
        assert state.partial is not None
        state.partial += data
        if len(state.partial) >= state.length:
            payload, state.partial = bytes(state.partial), None
            message = Message(csid, state.type_id, state.stream_id, state.timestamp, payload)
            messages.append(message)
            self._apply(message)
        return True


def encode_message(
    csid: int, type_id: int, payload: bytes, stream_id: int = 0, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> bytes:
    """One message as chunks: a full header (format 0, timestamp 0), then format-3 continuation chunks."""
    if not 2 <= csid < 64:
        raise ValueError(f"chunk stream id {csid} needs a longer basic header")
    out = bytearray([csid])
    out += len(payload).to_bytes(3, "big").rjust(6, b"\0")  # timestamp 0, then the length
    out += bytes([type_id]) + stream_id.to_bytes(4, "little")
    for start in range(0, max(len(payload), 1), chunk_size):
        if start:
            out.append(0xC0 | csid)
        out += payload[start : start + chunk_size]
    return bytes(out)


# AMF0 ---------------------------------------------------------------------------------------------------

# AMF0 type markers.
_NUMBER, _BOOLEAN, _STRING, _OBJECT, _NULL, _UNDEFINED, _REFERENCE, _ECMA_ARRAY, _OBJECT_END = 0, 1, 2, 3, 5, 6, 7, 8, 9
_STRICT_ARRAY, _DATE, _LONG_STRING, _XML, _TYPED_OBJECT = 10, 11, 12, 15, 16


class _AmfReader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ProtocolError("AMF0 value runs past the end of the message")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def text(self, size_bytes: int) -> str:
        n = int.from_bytes(self.take(size_bytes), "big")
        return self.take(n).decode("utf-8", errors="replace")

    def value(self, depth: int = 0) -> AmfValue:
        if depth > MAX_AMF_DEPTH:
            raise ProtocolError("AMF0 values nested too deep")
        marker = self.take(1)[0]
        if marker == _NUMBER:
            number: float = struct.unpack(">d", self.take(8))[0]
            return number
        if marker == _BOOLEAN:
            return self.take(1) != b"\0"
        if marker == _STRING:
            return self.text(2)
        if marker in (_LONG_STRING, _XML):
            return self.text(4)
        if marker in (_NULL, _UNDEFINED):
            return None
        if marker == _REFERENCE:
            self.take(2)
            return None
        if marker == _DATE:
            date: float = struct.unpack(">d", self.take(8))[0]
            self.take(2)  # time zone, unused
            return date
        if marker == _ECMA_ARRAY:
            self.take(4)  # an approximate count; the end marker is what ends it
            return self.pairs(depth)
        if marker == _TYPED_OBJECT:
            self.text(2)
            return self.pairs(depth)
        if marker == _OBJECT:
            return self.pairs(depth)
        if marker == _STRICT_ARRAY:
            count = int.from_bytes(self.take(4), "big")
            return [self.value(depth + 1) for _ in range(count)]
        raise ProtocolError(f"unsupported AMF0 type {marker}")

    def pairs(self, depth: int) -> dict[str, AmfValue]:
        found: dict[str, AmfValue] = {}
        while True:
            name = self.text(2)
            if not name and self.data[self.pos : self.pos + 1] == bytes([_OBJECT_END]):
                self.pos += 1
                return found
            found[name] = self.value(depth + 1)


def decode_amf0(data: bytes) -> list[AmfValue]:
    """Every AMF0 value in ``data``, in order."""
    reader = _AmfReader(data)
    values = []
    while reader.pos < len(data):
        values.append(reader.value())
    return values


def encode_amf0(*values: AmfValue) -> bytes:
    out = bytearray()
    for value in values:
        out += _encode_value(value)
    return bytes(out)


def _encode_value(value: AmfValue) -> bytes:
    if value is None:
        return bytes([_NULL])
    if isinstance(value, bool):
        return bytes([_BOOLEAN, int(value)])
    if isinstance(value, int | float):
        return bytes([_NUMBER]) + struct.pack(">d", float(value))
    if isinstance(value, str):
        raw = value.encode()
        if len(raw) > 0xFFFF:
            return bytes([_LONG_STRING]) + len(raw).to_bytes(4, "big") + raw
        return bytes([_STRING]) + len(raw).to_bytes(2, "big") + raw
    if isinstance(value, dict):
        out = bytearray([_OBJECT])
        for name, item in value.items():
            raw = name.encode()
            out += len(raw).to_bytes(2, "big") + raw + _encode_value(item)
        return bytes(out + b"\0\0" + bytes([_OBJECT_END]))
    out = bytearray([_STRICT_ARRAY]) + len(value).to_bytes(4, "big")
    for item in value:
        out += _encode_value(item)
    return bytes(out)


# Commands -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """An AMF command message: its name, transaction id and arguments (the command object or null first)."""

    name: str
    transaction: float
    args: tuple[AmfValue, ...]
    stream_id: int = 0

    def string_arg(self, index: int) -> str | None:
        """The argument at ``index`` if it is a string (publish's stream name is argument 1)."""
        if index < len(self.args) and isinstance(self.args[index], str):
            return str(self.args[index])
        return None


def parse_command(message: Message) -> Command | None:
    """The command a message carries, or None if it is not a command message."""
    payload = message.payload
    if message.type_id == MessageType.COMMAND_AMF3:
        payload = payload[1:]  # a format byte (0: AMF0 follows)
    elif message.type_id != MessageType.COMMAND_AMF0:
        return None
    values = decode_amf0(payload)
    if not values or not isinstance(values[0], str):
        raise ProtocolError("a command message without a name")
    if len(values) < 2 or isinstance(values[1], bool) or not isinstance(values[1], int | float):
        return Command(values[0], 0.0, tuple(values[1:]), message.stream_id)  # FFmpeg's bare onFCPublish
    return Command(values[0], float(values[1]), tuple(values[2:]), message.stream_id)


def command_message(*values: AmfValue, stream_id: int = 0, csid: int = COMMAND_CSID) -> bytes:
    return encode_message(csid, MessageType.COMMAND_AMF0, encode_amf0(*values), stream_id)


def control_message(type_id: MessageType, payload: bytes) -> bytes:
    return encode_message(CONTROL_CSID, type_id, payload)


def stream_begin(stream_id: int) -> bytes:
    """User Control "Stream Begin"."""
    return control_message(MessageType.USER_CONTROL, struct.pack(">HI", 0, stream_id))
