"""What FFmpeg reads: a source spec string turned into FFmpeg inputs. Pure.

Specs (``SURECAST_ENCODER_SOURCE`` or ``surecast encode --source``)::

    testsrc                      test pattern with a 1 kHz beep and a burnt-in clock (the default)
    file:PATH  or  PATH          a media file played as live: real time, looped
    rtmp://0.0.0.0:1935/live/KEY RTMP listener that OBS or a hardware encoder pushes to
    srt://0.0.0.0:9000           SRT listener (add ?mode=caller to pull instead)
    rtmp-pull://HOST/APP/KEY     pull from an RTMP server
    srt-pull://HOST:PORT         pull from an SRT listener
    http(s)://...                pull an HTTP/HLS stream
    v4l2:/dev/video0             Linux camera; audio from SURECAST_ENCODER_AUDIO (alsa:hw:0, pulse:default)
    dshow:video=NAME[:audio=NAME]    Windows DirectShow device syntax, passed through
    avfoundation:VIDEO[:AUDIO]   macOS AVFoundation device syntax, passed through
    lavfi:GRAPH                  any FFmpeg lavfi source graph
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Pull sources give up after this long without data, so a dead URL is an error, not a hang.
PULL_TIMEOUT_US = 5_000_000


class SourceKind(StrEnum):
    TESTSRC = "testsrc"
    FILE = "file"
    LISTEN = "listen"
    PULL = "pull"
    DEVICE = "device"
    LAVFI = "lavfi"


@dataclass(frozen=True)
class InputSpec:
    """One FFmpeg ``-i``: its target and the input options placed before it."""

    target: str
    options: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    """The inputs to open and which of them carries video and audio."""

    kind: SourceKind
    spec: str
    inputs: tuple[InputSpec, ...]
    video_input: int = 0
    # None: the source has no audio and silence is generated, so every output has an audio track.
    audio_input: int | None = 0
    # The audio stream may be missing (files, pushed streams): mapped with '?'.
    audio_optional: bool = False

    @property
    def waits_for_push(self) -> bool:
        """A listener may legitimately wait a long time for OBS to connect."""
        return self.kind == SourceKind.LISTEN

    @property
    def local_file(self) -> str | None:
        return self.inputs[0].target if self.kind == SourceKind.FILE else None

    @property
    def device(self) -> str | None:
        first = self.inputs[0]
        return first.target if self.kind == SourceKind.DEVICE and first.options.get("f") == "v4l2" else None


def parse_source(spec: str, audio: str, width: int, height: int, framerate: int) -> Source:
    """Turn a source spec into FFmpeg inputs; raise ValueError naming what is wrong with ``spec``."""
    spec = spec.strip()
    if not spec:
        raise ValueError("source is empty")
    scheme, _, rest = spec.partition(":")
    scheme = scheme.lower()
    if spec == "testsrc":
        return _testsrc(width, height, framerate)
    if scheme == "file":
        return _file(rest)
    if scheme == "lavfi":
        if not rest:
            raise ValueError("lavfi: needs a filter graph, e.g. lavfi:testsrc2=size=640x360")
        return Source(SourceKind.LAVFI, spec, (InputSpec(rest, {"f": "lavfi", "re": None}),), audio_input=None)
    if scheme in ("rtmp", "rtmps"):
        return Source(SourceKind.LISTEN, spec, (InputSpec(spec, {"listen": "1"}),), audio_optional=True)
    if scheme == "srt":
        return _srt(spec)
    if scheme in ("rtmp-pull", "srt-pull"):
        real = scheme.removesuffix("-pull") + ":" + rest
        if scheme == "srt-pull":
            real = _with_query(real, mode="caller")
        return Source(
            SourceKind.PULL, spec, (InputSpec(real, {"rw_timeout": str(PULL_TIMEOUT_US)}),), audio_optional=True
        )
    if scheme in ("http", "https"):
        return Source(
            SourceKind.PULL, spec, (InputSpec(spec, {"rw_timeout": str(PULL_TIMEOUT_US)}),), audio_optional=True
        )
    if scheme == "v4l2":
        return _v4l2(rest, audio, framerate)
    if scheme == "dshow":
        if "video=" not in rest:
            raise ValueError("dshow: needs video=DEVICE NAME[:audio=DEVICE NAME]")
        has_audio = "audio=" in rest
        return Source(SourceKind.DEVICE, spec, (InputSpec(rest, {"f": "dshow"}),), audio_input=0 if has_audio else None)
    if scheme == "avfoundation":
        video, _, mic = rest.partition(":")
        if not video:
            raise ValueError("avfoundation: needs VIDEO[:AUDIO] device indexes or names")
        has_audio = bool(mic) and mic.lower() != "none"
        options: dict[str, str | None] = {"f": "avfoundation", "framerate": str(framerate)}
        return Source(SourceKind.DEVICE, spec, (InputSpec(rest, options),), audio_input=0 if has_audio else None)
    if "://" in spec:
        raise ValueError(f"source {spec!r}: unsupported URL scheme {scheme!r}")
    return _file(spec)


def _testsrc(width: int, height: int, framerate: int) -> Source:
    video = InputSpec(f"testsrc2=size={width}x{height}:rate={framerate}", {"f": "lavfi", "re": None})
    tone = InputSpec("sine=frequency=1000:beep_factor=4:sample_rate=48000", {"f": "lavfi", "re": None})
    return Source(SourceKind.TESTSRC, "testsrc", (video, tone), video_input=0, audio_input=1)


def _file(path: str) -> Source:
    if not path:
        raise ValueError("file: needs a path")
    options: dict[str, str | None] = {"re": None, "stream_loop": "-1"}
    return Source(SourceKind.FILE, path, (InputSpec(path, options),), audio_optional=True)


def _srt(spec: str) -> Source:
    query = dict(parse_qsl(urlsplit(spec).query))
    mode = query.get("mode", "listener")
    url = _with_query(spec, mode=mode)
    if mode == "listener":
        return Source(SourceKind.LISTEN, spec, (InputSpec(url),), audio_optional=True)
    return Source(SourceKind.PULL, spec, (InputSpec(url, {"rw_timeout": str(PULL_TIMEOUT_US)}),), audio_optional=True)


def _v4l2(device: str, audio: str, framerate: int) -> Source:
    if not device.startswith("/dev/"):
        raise ValueError(f"v4l2: needs a device path like /dev/video0, got {device!r}")
    inputs = [InputSpec(device, {"f": "v4l2", "framerate": str(framerate)})]
    audio_input: int | None = None
    kind, _, target = audio.partition(":")
    if audio and audio != "none":
        if kind not in ("alsa", "pulse") or not target:
            raise ValueError(f"audio {audio!r} must be alsa:DEVICE, pulse:SOURCE or none")
        inputs.append(InputSpec(target, {"f": kind}))
        audio_input = 1
    return Source(SourceKind.DEVICE, f"v4l2:{device}", tuple(inputs), video_input=0, audio_input=audio_input)


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(params)
    return urlunsplit(parts._replace(query=urlencode(query)))
