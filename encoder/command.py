"""The FFmpeg invocation, built as data with ffmpeg-python. Pure: nothing here runs FFmpeg.

One FFmpeg process reads the source once, splits the picture into the ladder and writes one HLS output
per rendition into the spool. Keyframes are forced on segment boundaries so every rendition cuts at the
same instants. ``temp_file`` makes FFmpeg write ``seg_N.ts.tmp`` and rename it when complete; its own
playlist lists a segment only after that, which is what the encoder watches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg

from core.encoder_settings import EncoderSection
from core.ladder import Rendition
from encoder.keys import LOCAL_PLAYLIST, init_name, segment_pattern
from encoder.sources import Source, SourceKind

# FFmpeg's own playlist keeps this many entries: the encoder reads it every poll, so this only has to
# cover the longest the encoder could ever fall behind.
LOCAL_LIST_SIZE = 60
GLOBAL_ARGS = ["-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning", "-y"]
HARDWARE_CODECS = {"nvenc": "h264_nvenc", "qsv": "h264_qsv", "vaapi": "h264_vaapi"}
SOFTWARE_CODEC = "libx264"
CLOCK_TEXT = "%{localtime:%Y-%m-%d %X}"


@dataclass(frozen=True)
class EncodePlan:
    """Everything one FFmpeg run needs: what to read, the ladder, where to write, where numbering starts."""

    source: Source
    ladder: tuple[Rendition, ...]
    output_dirs: Mapping[str, Path]
    start_number: int
    settings: EncoderSection
    codec: str = SOFTWARE_CODEC


def h264_level(rendition: Rendition, framerate: int) -> str:
    """The lowest common H.264 level that fits the frame size and rate (players use it to pick a rung)."""
    macroblocks_per_second = ((rendition.width + 15) // 16) * ((rendition.height + 15) // 16) * framerate
    for level, limit in (("3.0", 40_500), ("3.1", 108_000), ("4.0", 245_760), ("4.2", 522_240)):
        if macroblocks_per_second <= limit:
            return level
    return "5.1"


def codecs_attribute(rendition: Rendition, framerate: int) -> str:
    """The CODECS value of the master playlist: H.264 Main at its level, AAC-LC."""
    major, minor = h264_level(rendition, framerate).split(".")
    return f"avc1.4d40{int(major) * 10 + int(minor):02x},mp4a.40.2"


def codec_for(hardware: str) -> str:
    """The FFmpeg encoder for a hardware setting; ``auto`` is resolved by the caller after probing."""
    return HARDWARE_CODECS.get(hardware, SOFTWARE_CODEC)


def buffer_kbits(rendition: Rendition, segment_seconds: float) -> int:
    """The rate control's buffer: one second of the cap, or half a segment where segments are shorter.

    A segment can exceed the cap only by what the buffer holds, so this keeps the declared BANDWIDTH
    (core.ladder, measured with 2 s segments) above every segment even on hard content; with 1 s segments a
    whole second of buffer let noise reach 1.28 x the cap plus audio (tests/bench/bench_bandwidth.py).
    """
    return round(rendition.maxrate_kbps * min(1.0, segment_seconds / 2))


def _video_options(plan: EncodePlan, rendition: Rendition) -> dict[str, Any]:
    cfg = plan.settings
    gop = max(1, round(cfg.framerate * cfg.segment_seconds))
    options: dict[str, Any] = {
        "c:v": plan.codec,
        "b:v": f"{rendition.video_kbps}k",
        "maxrate": f"{rendition.maxrate_kbps}k",
        "bufsize": f"{buffer_kbits(rendition, cfg.segment_seconds)}k",
        "g": gop,
        "keyint_min": gop,
        "force_key_frames": f"expr:gte(t,n_forced*{cfg.segment_seconds:g})",
        "profile:v": "main",
    }
    if plan.codec == SOFTWARE_CODEC:
        options.update({"preset": cfg.preset, "sc_threshold": 0, "level:v": h264_level(rendition, cfg.framerate)})
        if cfg.profile == "low-latency":
            # No lookahead, no B-frames, slice threads: x264 hands each frame over as it comes instead of
            # ~0.5 s later (veryfast, measured), so every segment closes that much sooner; the price is some
            # compression efficiency (no B-frames, no macroblock tree) at the same bit rate.
            options["tune"] = "zerolatency"
    elif plan.codec == "h264_nvenc":
        options.update({"preset": "p4", "forced-idr": 1, "rc": "cbr"})
    return options


def _hls_options(plan: EncodePlan, rendition: Rendition) -> dict[str, Any]:
    cfg = plan.settings
    folder = plan.output_dirs[rendition.name]
    options: dict[str, Any] = {
        "f": "hls",
        "hls_time": f"{cfg.segment_seconds:g}",
        "hls_list_size": LOCAL_LIST_SIZE,
        "hls_flags": "temp_file+independent_segments",
        "hls_segment_type": cfg.segment_type,
        "hls_segment_filename": str(folder / segment_pattern(cfg.segment_type)),
        "start_number": plan.start_number,
    }
    if cfg.segment_type == "fmp4":
        options["hls_fmp4_init_filename"] = init_name(plan.start_number)
    return options


def _audio_options(rendition: Rendition) -> dict[str, Any]:
    return {"c:a": "aac", "b:a": f"{rendition.audio_kbps}k", "ar": 48000, "ac": 2}


def _scaled(stream: Any, rendition: Rendition, codec: str) -> Any:
    w, h = rendition.width, rendition.height
    stream = stream.filter("scale", w, h, force_original_aspect_ratio="decrease")
    stream = stream.filter("pad", w, h, "(ow-iw)/2", "(oh-ih)/2").filter("setsar", 1)
    if codec == "h264_vaapi":
        return stream.filter("format", "nv12").filter("hwupload")
    return stream.filter("format", "yuv420p")


def build_command(plan: EncodePlan) -> Any:
    """The ffmpeg-python graph of one run; ``.get_args()`` gives its arguments."""
    cfg = plan.settings
    inputs = [ffmpeg.input(spec.target, **spec.options) for spec in plan.source.inputs]
    video = inputs[plan.source.video_input].video
    if plan.source.kind == SourceKind.TESTSRC and cfg.clock:
        video = video.drawtext(
            escape_text=False,
            text=CLOCK_TEXT,
            fontsize="h/12",
            fontcolor="white",
            box=1,
            boxcolor="black@0.6",
            x=20,
            y=20,
        )
    if plan.source.kind != SourceKind.TESTSRC:
        video = video.filter("fps", cfg.framerate)
    if plan.source.audio_input is None:
        audio = ffmpeg.input("anullsrc=channel_layout=stereo:sample_rate=48000", f="lavfi")["a"]
    else:
        audio = inputs[plan.source.audio_input]["a?" if plan.source.audio_optional else "a"]
    branches = [video] if len(plan.ladder) == 1 else list(_split(video, len(plan.ladder)))
    outputs = []
    for rendition, branch in zip(plan.ladder, branches, strict=True):
        options = {**_hls_options(plan, rendition), **_video_options(plan, rendition), **_audio_options(rendition)}
        target = str(plan.output_dirs[rendition.name] / LOCAL_PLAYLIST)
        outputs.append(ffmpeg.output(_scaled(branch, rendition, plan.codec), audio, target, **options))
    return outputs[0] if len(outputs) == 1 else ffmpeg.merge_outputs(*outputs)


def _split(video: Any, count: int) -> list[Any]:
    node = video.split()
    return [node[i] for i in range(count)]


def ffmpeg_argv(executable: str, plan: EncodePlan) -> list[str]:
    """The full command line. Global options go first: FFmpeg ignores options trailing the last output."""
    pre: list[str] = list(GLOBAL_ARGS)
    if plan.codec == "h264_vaapi":
        pre += ["-vaapi_device", plan.settings.vaapi_device]
    args: list[str] = build_command(plan).get_args()
    return [executable, *pre, *args]


def probe_encoder_argv(executable: str, codec: str, vaapi_device: str) -> list[str]:
    """A one-frame encode that tells whether ``codec`` works on this machine."""
    pre = ["-vaapi_device", vaapi_device] if codec == "h264_vaapi" else []
    chain = "format=nv12,hwupload" if codec == "h264_vaapi" else "format=yuv420p"
    return [
        executable, *GLOBAL_ARGS[:-1], *pre,
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10",
        "-frames:v", "3", "-vf", chain, "-c:v", codec, "-f", "null", "-",
    ]  # fmt: skip
