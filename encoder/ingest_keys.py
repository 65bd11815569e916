"""Which key locks a listener source, and what FFmpeg is given instead of the listener itself. Pure.

A listener takes the key its URL names (``rtmp://HOST:PORT/APP/KEY``, ``srt://HOST:PORT?passphrase=...``),
else SURECAST_ENCODER_INGEST_KEY, else (beyond loopback) the stack's generated key, passed down by the command
line. One beyond loopback with none of these refuses to start: anyone on the venue's guest Wi-Fi could
replace the picture. FFmpeg's RTMP listener takes any key, so an RTMP listener is moved to a private loopback
port behind the ingest gate (encoder.ingest_gate), which checks the key; libsrt checks an SRT passphrase
itself.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qsl, urlencode, urlsplit

from core.encoder_settings import INGEST_KEY_SETTING as KEY_SETTING
from core.encoder_settings import MAX_PASSPHRASE, MIN_PASSPHRASE
from encoder.sources import InputSpec, Source, SourceKind

DEFAULT_APP = "live"
HIDDEN = "****"
_LOOPBACK_NAMES = ("localhost",)


@dataclass(frozen=True)
class Listener:
    """A listener source's address and the key its URL names ("" when none)."""

    scheme: str  # rtmp, rtmps or srt
    host: str
    port: int
    app: str
    key: str = field(repr=False)

    @property
    def beyond_loopback(self) -> bool:
        """Whether other machines can reach it (0.0.0.0, a LAN address, a host name)."""
        if self.host.lower() in _LOOPBACK_NAMES:
            return False
        try:
            return not ipaddress.ip_address(self.host.strip("[]")).is_loopback
        except ValueError:
            return True


@dataclass(frozen=True)
class GatePlan:
    """Where the ingest gate listens, the key it lets through, and FFmpeg's listener behind it."""

    host: str
    port: int
    key: str = field(repr=False)
    upstream: str = field(repr=False)  # FFmpeg's listener URL, on loopback: it names the key too

    @property
    def upstream_port(self) -> int:
        return urlsplit(self.upstream).port or 1935


@dataclass(frozen=True)
class LockedSource:
    """What FFmpeg reads, and the gate to run in front of it (RTMP with a key only)."""

    source: Source
    gate: GatePlan | None


def listener_of(source: Source) -> Listener | None:
    """The listener a source opens, or None if it opens none (pulls, files, devices)."""
    if source.kind != SourceKind.LISTEN:
        return None
    parts = urlsplit(source.inputs[0].target)
    scheme = parts.scheme.lower()
    port = parts.port or (9000 if scheme == "srt" else 1935)
    host = parts.hostname or ""
    if scheme == "srt":
        return Listener(scheme, host, port, "", dict(parse_qsl(parts.query)).get("passphrase", ""))
    app, _, key = parts.path.strip("/").rpartition("/")
    if not app:  # rtmp://HOST:PORT/live names the app only
        app, key = key, ""
    return Listener(scheme, host, port, app, key)


def lock_source(source: Source, key: str, upstream_port: int) -> LockedSource:
    """FFmpeg's inputs with the listener locked by its key (the URL's, else ``key``); the spec shown in logs
    and errors keeps no key.

    Raises ValueError, one line naming what to set, for a listener beyond loopback left without a key.
    """
    shown = replace(source, spec=redact(source.spec))
    found = listener_of(source)
    if found is None:
        return LockedSource(shown, None)
    key = found.key or key
    if found.scheme == "rtmps":
        if found.beyond_loopback:
            raise ValueError(
                f"{shown.spec}: an rtmps:// listener's key cannot be checked; use "
                f"rtmp://{found.host}:{found.port}/{found.app or DEFAULT_APP} (the key is checked) or srt:// "
                "with a passphrase"
            )
        return LockedSource(shown, None)
    if not key:
        if found.beyond_loopback:
            raise ValueError(missing_key_message(found, shown.spec))
        return LockedSource(shown, None)
    options = dict(source.inputs[0].options)
    if found.scheme == "srt":
        if not MIN_PASSPHRASE <= len(key) <= MAX_PASSPHRASE:
            raise ValueError(
                f"{shown.spec}: the SRT passphrase must be {MIN_PASSPHRASE} to {MAX_PASSPHRASE} characters "
                f"(libsrt), this one has {len(key)}"
            )
        # An input option, not the URL's query: FFmpeg names the URL in its own messages (an input that fails to
        # open), and those go to ffmpeg.log, which must keep no passphrase.
        options["passphrase"] = key
        target = _without_passphrase(source.inputs[0].target)
        return LockedSource(replace(shown, inputs=(InputSpec(target, options),)), None)
    upstream = f"rtmp://127.0.0.1:{upstream_port}/{found.app or DEFAULT_APP}/{key}"
    gate = GatePlan(found.host, found.port, key, upstream)
    return LockedSource(replace(shown, inputs=(InputSpec(upstream, options),)), gate)


def missing_key_message(found: Listener, shown: str) -> str:
    """The one line a listener beyond loopback without a key refuses to start with."""
    where = f"{found.host or 'every address'}:{found.port}"
    if found.scheme == "srt":
        return (
            f"{shown} takes pushes from other machines ({where}) without a passphrase: set {KEY_SETTING} "
            f"({MIN_PASSPHRASE} to {MAX_PASSPHRASE} characters) or add ?passphrase=... to the URL"
        )
    return (
        f"{shown} takes pushes from other machines ({where}) without a stream key: set {KEY_SETTING} "
        f"({MIN_PASSPHRASE} to {MAX_PASSPHRASE} characters) or end the URL with /KEY"
    )


def obs_instructions(found: Listener, origin: str) -> str:
    """Where OBS puts the address and the key, for the encoder's log; names no key. Pure.

    ``origin`` is where the key comes from: ``url``, ``setting``, ``generated``, or ``none`` (loopback only).
    """
    host = "THIS-PC" if found.host in ("", "0.0.0.0", "::") else found.host
    key = {
        "url": "the key SURECAST_ENCODER_SOURCE names",
        "setting": KEY_SETTING,
        "generated": "the ingest key (`surecast credentials` prints it)",
    }.get(origin)
    if found.scheme == "srt":
        secret = f"&passphrase=<{key}>" if key else ""
        return f"OBS: Settings > Stream: Service Custom, Server srt://{host}:{found.port}?mode=caller{secret}"
    server = f"rtmp://{host}:{found.port}/{found.app or DEFAULT_APP}"
    if key is None:
        return f"OBS on this PC: Settings > Stream: Service Custom, Server {server}, any Stream Key"
    return f"OBS: Settings > Stream: Service Custom, Server {server}, Stream Key: {key}"


def redact(spec: str) -> str:
    """A source spec fit for a log: a listener's or a pull's key and passphrase hidden."""
    parts = urlsplit(spec)
    if parts.scheme.lower() not in ("rtmp", "rtmps", "srt", "rtmp-pull", "srt-pull"):
        return spec
    query = "&".join(
        f"{k}={HIDDEN if k.lower() in ('passphrase', 'streamid') else v}" for k, v in parse_qsl(parts.query)
    )
    path = parts.path
    app, _, key = path.strip("/").rpartition("/")
    if app and key and parts.scheme.lower() in ("rtmp", "rtmps", "rtmp-pull"):
        path = f"/{app}/{HIDDEN}"
    return parts._replace(path=path, query=query).geturl()


def redact_argv(argv: list[str]) -> str:
    """FFmpeg's command line fit for a log: URLs redacted, a ``-passphrase`` option's value hidden."""
    before = ["", *argv[:-1]]
    return " ".join(HIDDEN if flag == "-passphrase" else redact(arg) for flag, arg in zip(before, argv, strict=True))


def key_matches(given: str, expected: str) -> bool:
    """Constant-time comparison of a pushed key with the expected one (hashed first: the length leaks too)."""
    digest = hashlib.sha256
    return hmac.compare_digest(digest(given.encode()).digest(), digest(expected.encode()).digest())


def _without_passphrase(url: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k.lower() != "passphrase"]
    return parts._replace(query=urlencode(query)).geturl()
