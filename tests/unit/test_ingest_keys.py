"""Which key locks a listener, what FFmpeg is given instead, and the one line a listener without one refuses
to start with. Pure."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.encoder_settings import EncoderSection
from encoder.ingest_keys import (
    GatePlan,
    Listener,
    key_matches,
    listener_of,
    lock_source,
    obs_instructions,
    redact,
    redact_argv,
)
from encoder.sources import Source, parse_source

KEY = "generated-key-0123"


def source(spec: str) -> Source:
    return parse_source(spec, "none", 640, 360, 25)


@pytest.mark.parametrize(
    ("spec", "listener"),
    [
        ("rtmp://0.0.0.0:1935/live/KEY", Listener("rtmp", "0.0.0.0", 1935, "live", "KEY")),
        ("rtmp://0.0.0.0:1935/live", Listener("rtmp", "0.0.0.0", 1935, "live", "")),
        ("rtmp://0.0.0.0/live/", Listener("rtmp", "0.0.0.0", 1935, "live", "")),
        ("rtmp://127.0.0.1:1935/a/b/KEY", Listener("rtmp", "127.0.0.1", 1935, "a/b", "KEY")),
        ("srt://0.0.0.0:9000", Listener("srt", "0.0.0.0", 9000, "", "")),
        ("srt://0.0.0.0:9000?passphrase=0123456789", Listener("srt", "0.0.0.0", 9000, "", "0123456789")),
        ("srt://10.0.0.5:9000?mode=caller", None),
        ("rtmp-pull://host/live/KEY", None),
        ("testsrc", None),
    ],
)
def test_listeners_and_the_keys_their_urls_name(spec: str, listener: Listener | None) -> None:
    assert listener_of(source(spec)) == listener


@pytest.mark.parametrize(
    ("host", "beyond"),
    [("0.0.0.0", True), ("::", True), ("192.168.1.20", True), ("venue-pc", True), ("", True),
     ("127.0.0.1", False), ("127.0.0.2", False), ("::1", False), ("localhost", False)],
)  # fmt: skip
def test_beyond_loopback(host: str, beyond: bool) -> None:
    assert Listener("rtmp", host, 1935, "live", "").beyond_loopback is beyond


def test_an_rtmp_listener_moves_behind_the_gate_with_the_key_of_its_url() -> None:
    locked = lock_source(source("rtmp://0.0.0.0:1935/live/venue-key"), KEY, 41000)
    assert locked.gate == GatePlan("0.0.0.0", 1935, "venue-key", "rtmp://127.0.0.1:41000/live/venue-key")
    assert [(i.target, i.options) for i in locked.source.inputs] == [
        ("rtmp://127.0.0.1:41000/live/venue-key", {"listen": "1"})
    ]
    assert locked.source.spec == "rtmp://0.0.0.0:1935/live/****" and locked.source.waits_for_push


@pytest.mark.parametrize("spec", ["rtmp://0.0.0.0:1935/live", "rtmp://0.0.0.0:1935", "rtmp://127.0.0.1:1935/live"])
def test_an_rtmp_listener_naming_no_key_takes_the_given_one(spec: str) -> None:
    locked = lock_source(source(spec), KEY, 41000)
    assert locked.gate is not None and locked.gate.key == KEY
    assert locked.gate.upstream == f"rtmp://127.0.0.1:41000/live/{KEY}"


def test_an_srt_listener_gets_the_passphrase_libsrt_enforces() -> None:
    locked = lock_source(source("srt://0.0.0.0:9000"), KEY, 41000)
    assert locked.gate is None
    # an input option: FFmpeg names the URL in its messages, and ffmpeg.log keeps no passphrase
    assert locked.source.inputs[0].target == "srt://0.0.0.0:9000?mode=listener"
    assert locked.source.inputs[0].options["passphrase"] == KEY
    own = lock_source(source("srt://0.0.0.0:9000?passphrase=its-own-passphrase"), KEY, 41000)
    assert own.source.inputs[0].options["passphrase"] == "its-own-passphrase"
    assert "passphrase" not in own.source.inputs[0].target


@pytest.mark.parametrize("spec", ["rtmp://127.0.0.1:1935/live", "srt://127.0.0.1:9000", "srt://localhost:9000"])
def test_a_loopback_listener_without_any_key_stays_open_as_before(spec: str) -> None:
    locked = lock_source(source(spec), "", 41000)
    assert locked.gate is None and locked.source == source(spec)


@pytest.mark.parametrize(
    ("spec", "line"),
    [
        (
            "rtmp://0.0.0.0:1935/live",
            "rtmp://0.0.0.0:1935/live takes pushes from other machines (0.0.0.0:1935) without a stream key: "
            "set SURECAST_ENCODER_INGEST_KEY (10 to 79 characters) or end the URL with /KEY",
        ),
        (
            "srt://0.0.0.0:9000",
            "srt://0.0.0.0:9000 takes pushes from other machines (0.0.0.0:9000) without a passphrase: "
            "set SURECAST_ENCODER_INGEST_KEY (10 to 79 characters) or add ?passphrase=... to the URL",
        ),
        (
            "srt://0.0.0.0:9000?passphrase=short",
            "the SRT passphrase must be 10 to 79 characters (libsrt), this one has 5",
        ),
        ("rtmps://0.0.0.0:1935/live/KEY", "an rtmps:// listener's key cannot be checked"),
    ],
)
def test_a_listener_beyond_loopback_without_a_usable_key_refuses_to_start_with_one_line(spec: str, line: str) -> None:
    with pytest.raises(ValueError) as caught:
        lock_source(source(spec), "", 41000)
    assert line in str(caught.value) and "\n" not in str(caught.value)
    assert "short" not in str(caught.value)  # the passphrase itself is never repeated


@pytest.mark.parametrize(
    ("spec", "shown"),
    [
        ("rtmp://0.0.0.0:1935/live/secret", "rtmp://0.0.0.0:1935/live/****"),
        ("rtmp://0.0.0.0:1935/live", "rtmp://0.0.0.0:1935/live"),
        (
            "srt://0.0.0.0:9000?mode=listener&passphrase=secret123456",
            "srt://0.0.0.0:9000?mode=listener&passphrase=****",
        ),
        ("rtmp-pull://host/app/secret", "rtmp-pull://host/app/****"),
        ("file:/tmp/a.mp4", "file:/tmp/a.mp4"),
    ],
)
def test_logs_show_sources_without_their_keys(spec: str, shown: str) -> None:
    assert redact(spec) == shown


@pytest.mark.parametrize(
    ("given", "expected", "match"),
    [("venue-key", "venue-key", True), ("venue-kez", "venue-key", False), ("", "venue-key", False),
     ("venue-key-longer", "venue-key", False), ("VENUE-KEY", "venue-key", False), ("é", "é", True)],
)  # fmt: skip
def test_keys_are_compared_exactly(given: str, expected: str, match: bool) -> None:
    assert key_matches(given, expected) is match


@pytest.mark.parametrize("value", ["", "0123456789", "A-b_c.d~e-0123", "x" * 79])
def test_good_ingest_keys_are_accepted(value: str) -> None:
    assert EncoderSection(ingest_key=value).ingest_key.get_secret_value() == value  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["short", "x" * 80, "has space in it", "has/slash/0123", "has?query=0123"])
def test_bad_ingest_keys_are_refused_at_start(value: str) -> None:
    with pytest.raises(ValidationError, match="RTMP stream key and the SRT passphrase"):
        EncoderSection(ingest_key=value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "origin", "line"),
    [
        (
            "rtmp://0.0.0.0:1935/live",
            "generated",
            "OBS: Settings > Stream: Service Custom, Server rtmp://THIS-PC:1935/live, "
            "Stream Key: the ingest key (`surecast credentials` prints it)",
        ),
        (
            "rtmp://192.168.1.20:1935/live/k",
            "url",
            "OBS: Settings > Stream: Service Custom, Server rtmp://192.168.1.20:1935/live, "
            "Stream Key: the key SURECAST_ENCODER_SOURCE names",
        ),
        (
            "srt://0.0.0.0:9000",
            "setting",
            "OBS: Settings > Stream: Service Custom, Server "
            "srt://THIS-PC:9000?mode=caller&passphrase=<SURECAST_ENCODER_INGEST_KEY>",
        ),
        (
            "rtmp://127.0.0.1:1935/live",
            "none",
            "OBS on this PC: Settings > Stream: Service Custom, Server rtmp://127.0.0.1:1935/live, any Stream Key",
        ),
    ],
)
def test_the_log_says_where_obs_puts_the_address_and_the_key(spec: str, origin: str, line: str) -> None:
    found = listener_of(source(spec))
    assert found is not None and obs_instructions(found, origin) == line


def test_ffmpegs_command_line_in_the_log_hides_the_passphrase_option() -> None:
    argv = ["ffmpeg", "-passphrase", KEY, "-i", "srt://0.0.0.0:9000?mode=listener", "out.m3u8"]
    shown = redact_argv(argv)
    assert KEY not in shown and "-passphrase **** -i srt://0.0.0.0:9000?mode=listener out.m3u8" in shown
