"""RTMP as the ingest gate reads it: the chunk stream (fragmented, Set Chunk Size, compressed headers), AMF0,
and both of the gate's conversations, without sockets."""

from __future__ import annotations

import struct

import pytest

from encoder.rtmp_session import (
    PUBLISH_DENIED,
    PUBLISH_STARTED,
    PublishRequest,
    PusherSide,
    UpstreamSide,
    publish_refused,
    publish_started,
    server_hello,
)
from encoder.rtmp_wire import (
    HANDSHAKE_SIZE,
    AmfValue,
    ChunkReader,
    Message,
    MessageType,
    ProtocolError,
    command_message,
    decode_amf0,
    encode_amf0,
    encode_message,
    parse_command,
)

RANDOM = bytes(range(256)) * 6  # 1536 bytes; the sides take HANDSHAKE_SIZE - 8 of them
S1_RANDOM = RANDOM[: HANDSHAKE_SIZE - 8]


def feed_in_pieces(reader: ChunkReader, data: bytes, piece: int) -> list[Message]:
    found = []
    for start in range(0, len(data), piece):
        found += reader.feed(data[start : start + piece])
    return found


def set_chunk_size(size: int) -> bytes:
    return encode_message(2, MessageType.SET_CHUNK_SIZE, struct.pack(">I", size))


def header(fmt: int, csid: int, stamp: int = 0, length: int = 0, type_id: int = 0, stream_id: int = 0) -> bytes:
    """A chunk's basic and message headers, any format, any chunk stream id (1 to 3 byte basic header)."""
    if csid < 64:
        basic = bytes([fmt << 6 | csid])
    elif csid < 320:
        basic = bytes([fmt << 6, csid - 64])
    else:
        basic = bytes([fmt << 6 | 1]) + (csid - 64).to_bytes(2, "little")
    extended = stamp >= 0xFFFFFF
    field = (0xFFFFFF if extended else stamp).to_bytes(3, "big")
    body = [field + length.to_bytes(3, "big") + bytes([type_id]) + stream_id.to_bytes(4, "little"),
            field + length.to_bytes(3, "big") + bytes([type_id]), field, b""][fmt]  # fmt: skip
    return basic + body + (stamp.to_bytes(4, "big") if extended and fmt < 3 else b"")


# The chunk stream -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [1, 7, 128, 4096])
@pytest.mark.parametrize("piece", [1, 5, 333, 1 << 20])
def test_messages_come_out_whole_whatever_the_chunk_size_and_however_the_bytes_arrive(
    chunk_size: int, piece: int
) -> None:
    payloads = [b"", b"x", bytes(range(256)) * 3, b"y" * chunk_size, b"z" * (chunk_size + 1)]
    stream = set_chunk_size(chunk_size) + b"".join(
        encode_message(5, MessageType.VIDEO, p, stream_id=1, chunk_size=chunk_size) for p in payloads
    )
    reader = ChunkReader()
    found = feed_in_pieces(reader, stream, piece)
    assert [m.payload for m in found[1:]] == payloads
    assert {(m.csid, m.type_id, m.stream_id) for m in found[1:]} == {(5, MessageType.VIDEO, 1)}
    assert reader.chunk_size == chunk_size and reader.pending == 0


def test_set_chunk_size_applies_to_the_chunks_after_it() -> None:
    big = bytes(300)
    stream = encode_message(4, 8, big) + set_chunk_size(100) + encode_message(4, 8, big, chunk_size=100)
    reader = ChunkReader()
    assert [len(m.payload) for m in reader.feed(stream)] == [300, 4, 300]


def test_compressed_headers_reuse_what_the_chunk_stream_said_last() -> None:
    stream = (
        header(0, 6, stamp=1000, length=3, type_id=9, stream_id=1) + b"abc"
        + header(1, 6, stamp=40, length=2, type_id=8) + b"de"  # new length and type, same stream id
        + header(2, 6, stamp=40) + b"fg"  # same length and type
        + header(3, 6) + b"hi"  # everything as before, the same delta
    )  # fmt: skip
    found = ChunkReader().feed(stream)
    assert [(m.payload, m.type_id, m.stream_id, m.timestamp) for m in found] == [
        (b"abc", 9, 1, 1000),
        (b"de", 8, 1, 1040),
        (b"fg", 8, 1, 1080),
        (b"hi", 8, 1, 1120),
    ]


@pytest.mark.parametrize("csid", [2, 63, 64, 319, 320, 65599])
def test_every_basic_header_size_is_read(csid: int) -> None:
    stream = header(0, csid, length=2, type_id=20) + b"ok"
    assert [(m.csid, m.payload) for m in ChunkReader().feed(stream)] == [(csid, b"ok")]


def test_an_extended_timestamp_is_read_on_the_first_chunk_and_its_continuations() -> None:
    reader = ChunkReader()
    reader.feed(set_chunk_size(2))
    stream = header(0, 4, stamp=0x1234567, length=4, type_id=9) + b"ab" + header(3, 4) + (0x1234567).to_bytes(4, "big")
    found = reader.feed(stream + b"cd")
    assert [(m.payload, m.timestamp) for m in found] == [(b"abcd", 0x1234567)]


def test_messages_of_two_chunk_streams_interleave() -> None:
    reader = ChunkReader()
    reader.feed(set_chunk_size(2))
    stream = (
        header(0, 4, length=4, type_id=8) + b"au"
        + header(0, 6, length=4, type_id=9) + b"vi"
        + header(3, 4) + b"di"
        + header(3, 6) + b"de"
    )  # fmt: skip
    assert [m.payload for m in reader.feed(stream)] == [b"audi", b"vide"]


def test_abort_drops_the_message_being_assembled() -> None:
    reader = ChunkReader()
    reader.feed(set_chunk_size(2))
    partial = header(0, 4, length=4, type_id=8) + b"au"
    abort = encode_message(2, MessageType.ABORT, struct.pack(">I", 4), chunk_size=2)
    found = reader.feed(partial + abort + header(0, 4, length=2, type_id=8) + b"ok")
    assert [m.payload for m in found if m.type_id == 8] == [b"ok"]


@pytest.mark.parametrize(
    "stream",
    [
        header(1, 9, length=1, type_id=8) + b"x",  # a compressed header on a chunk stream never opened
        header(3, 9),
        set_chunk_size(0),
    ],
)
def test_what_cannot_be_rtmp_is_refused(stream: bytes) -> None:
    with pytest.raises(ProtocolError):
        ChunkReader().feed(stream)


# AMF0 -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        ["connect", 1.0, {"app": "live", "tcUrl": "rtmp://pc:1935/live", "fpad": False}],
        ["publish", 5.0, None, "KEY", "live"],
        ["_result", 4.0, None, 1.0],
        [{"nested": {"deeper": [1.0, "two", None, True]}}],
        ["é ü 中"],
        ["x" * 70_000],  # a long string
    ],
)
def test_amf0_values_round_trip(values: list[AmfValue]) -> None:
    assert decode_amf0(encode_amf0(*values)) == values


def test_amf0_reads_what_encoders_send_but_we_never_write() -> None:
    ecma = bytes([8]) + (1).to_bytes(4, "big") + b"\0\x05width" + bytes([0]) + struct.pack(">d", 640) + b"\0\0\x09"
    date = bytes([11]) + struct.pack(">d", 1.5) + b"\0\0"
    long_string = bytes([12]) + (3).to_bytes(4, "big") + b"abc"
    typed = bytes([16]) + b"\0\x01T" + b"\0\x01a" + bytes([5]) + b"\0\0\x09"
    assert decode_amf0(ecma + date + long_string + bytes([6]) + typed) == [
        {"width": 640.0},
        1.5,
        "abc",
        None,
        {"a": None},
    ]


@pytest.mark.parametrize(
    "data",
    [
        bytes([2, 0, 9]) + b"short",  # a string longer than the message
        bytes([0, 1, 2]),  # a number cut short
        bytes([13]),  # unsupported
        bytes([10]) + (1).to_bytes(4, "big") * 1 + bytes([10, 0, 0, 0, 1]) * 40,  # nested far too deep
    ],
)
def test_broken_amf0_is_a_protocol_error(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_amf0(data)


@pytest.mark.parametrize(
    ("type_id", "payload", "expected"),
    [
        (20, encode_amf0("publish", 5.0, None, "KEY"), ("publish", 5.0, (None, "KEY"))),
        (17, b"\0" + encode_amf0("createStream", 4.0, None), ("createStream", 4.0, (None,))),
        (20, encode_amf0("onFCPublish"), ("onFCPublish", 0.0, ())),  # FFmpeg's, without a transaction id
    ],
)
def test_commands(type_id: int, payload: bytes, expected: tuple[str, float, tuple[AmfValue, ...]]) -> None:
    command = parse_command(Message(3, type_id, 1, 0, payload))
    assert command is not None and (command.name, command.transaction, command.args) == expected


def test_media_is_not_a_command() -> None:
    assert parse_command(Message(6, MessageType.VIDEO, 1, 0, b"\x17\x00")) is None


# The pusher's side --------------------------------------------------------------------------------------


def pusher_bytes(key: str, chunk_size: int = 4096, media: bytes = b"") -> tuple[bytes, bytes]:
    """(handshake, chunk stream) as OBS or FFmpeg sends them: Set Chunk Size, connect, releaseStream, FCPublish,
    createStream, publish, then media."""
    hello = bytes([3]) + RANDOM + RANDOM  # C0, C1 and C2
    commands = (
        set_chunk_size(chunk_size)
        + command_message("connect", 1.0, {"app": "live", "type": "nonprivate", "tcUrl": "rtmp://pc:1935/live"})
        + command_message("releaseStream", 2.0, None, key)
        + command_message("FCPublish", 3.0, None, key)
        + command_message("createStream", 4.0, None)
    )
    publish = encode_message(4, MessageType.COMMAND_AMF0, encode_amf0("publish", 5.0, None, key, "live"), 1, chunk_size)
    return hello, commands + publish + media


def answered(answer: bytes) -> list[tuple[str, float, tuple[AmfValue, ...]]]:
    reader = ChunkReader()
    commands = [parse_command(m) for m in reader.feed(answer[1 + 2 * HANDSHAKE_SIZE :])]
    return [(c.name, c.transaction, c.args) for c in commands if c is not None]


@pytest.mark.parametrize("piece", [1, 17, 1000, 1 << 20])
def test_the_pusher_is_answered_up_to_publish_and_everything_after_the_handshake_is_kept(piece: int) -> None:
    media = encode_message(6, MessageType.VIDEO, b"\x17" * 5000, 1, 4096)
    hello, stream = pusher_bytes("the-key-0123", media=media)
    side = PusherSide(S1_RANDOM)
    data = hello + stream
    answer = b"".join(side.feed(data[i : i + piece]) for i in range(0, len(data), piece))
    assert answer[:1] == b"\x03" and answer[1 + HANDSHAKE_SIZE :][:HANDSHAKE_SIZE] == RANDOM  # S2 echoes C1
    assert answer[5:9] == b"\0\0\0\0"  # S1's version field: the plain handshake
    names = [(name, txn) for name, txn, _ in answered(answer)]
    assert names == [("_result", 1.0), ("onBWDone", 0.0), ("_result", 2.0), ("onFCPublish", 0.0), ("_result", 4.0)]
    assert answered(answer)[-1][2] == (None, 1.0)  # createStream gets stream 1, as from FFmpeg
    assert side.publish == PublishRequest("live", "the-key-0123", 1)
    assert bytes(side.replay) == stream


def test_the_replay_reads_as_the_same_commands_on_a_fresh_chunk_stream() -> None:
    """What FFmpeg receives is a valid chunk stream from its start: the same commands, the same media."""
    media = encode_message(6, MessageType.VIDEO, b"\x27" * 9000, 1, 4096)
    hello, stream = pusher_bytes("the-key-0123", media=media)
    side = PusherSide(S1_RANDOM)
    side.feed(hello + stream)
    ffmpeg = ChunkReader()
    messages = ffmpeg.feed(bytes(side.replay))
    assert [c.name for c in map(parse_command, messages) if c] == [
        "connect", "releaseStream", "FCPublish", "createStream", "publish",
    ]  # fmt: skip
    assert messages[-1].payload == b"\x27" * 9000 and ffmpeg.chunk_size == 4096


def test_nothing_after_publish_is_answered() -> None:
    hello, stream = pusher_bytes("k" * 12)
    side = PusherSide(S1_RANDOM)
    side.feed(hello + stream)
    assert side.feed(command_message("releaseStream", 9.0, None, "x")) == b""


@pytest.mark.parametrize("first", [b"\x06", b"GET / HTTP/1.1\r\n"])
def test_a_stranger_is_not_answered(first: bytes) -> None:
    with pytest.raises(ProtocolError):
        PusherSide(S1_RANDOM).feed(first)


def test_the_answers_to_publish() -> None:
    request = PublishRequest("live", "k", 1)
    started = [parse_command(m) for m in ChunkReader().feed(publish_started(request))]
    refused = [parse_command(m) for m in ChunkReader().feed(publish_refused(request, "wrong stream key"))]
    assert started[0] is None and started[1] is not None and started[1].args[1] == {
        "level": "status", "code": PUBLISH_STARTED, "description": "Publishing.",
    }  # fmt: skip
    assert refused[0] is not None and refused[0].args[1] == {
        "level": "error", "code": PUBLISH_DENIED, "description": "wrong stream key",
    }  # fmt: skip


# The upstream side ----------------------------------------------------------------------------------------


def ffmpeg_answer(status: dict[str, AmfValue]) -> bytes:
    """FFmpeg's listener: S0 S1 S2, then its answers (Set Chunk Size, its bare onFCPublish, onStatus)."""
    return (
        server_hello(b"\0" * HANDSHAKE_SIZE, S1_RANDOM)
        + set_chunk_size(128)
        + command_message("_result", 1.0, {"fmsVer": "FMS/3,0,1,123"}, {"code": "NetConnection.Connect.Success"})
        + command_message("onFCPublish")
        + command_message("onStatus", 0.0, None, status, stream_id=1)
    )


@pytest.mark.parametrize("piece", [1, 100, 1 << 20])
def test_upstream_gets_the_replay_after_its_handshake_and_starts_on_publish_start(piece: int) -> None:
    side = UpstreamSide(S1_RANDOM, b"REPLAY")
    assert side.hello()[:1] == b"\x03" and len(side.hello()) == 1 + HANDSHAKE_SIZE
    answer = ffmpeg_answer({"level": "status", "code": PUBLISH_STARTED})
    sent = b"".join(side.feed(answer[i : i + piece]) for i in range(0, len(answer), piece))
    assert sent == answer[1 : 1 + HANDSHAKE_SIZE] + b"REPLAY"  # C2 echoes S1
    assert side.started


def test_ffmpeg_refusing_the_push_is_an_error() -> None:
    side = UpstreamSide(S1_RANDOM, b"")
    with pytest.raises(ProtocolError, match="no such stream"):
        side.feed(ffmpeg_answer({"level": "error", "description": "no such stream"}))
    assert not side.started
