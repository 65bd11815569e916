"""Which FFmpeg to run: one answer for the encoder and the decoding client. Reads only the file system."""

from __future__ import annotations

import os
from pathlib import Path

from core.errors import SurecastError


class FFmpegMissing(SurecastError):
    """No usable FFmpeg: the configured path is not an executable file, or imageio-ffmpeg has none."""


def find_ffmpeg(configured: str = "", setting: str = "SURECAST_ENCODER_FFMPEG_PATH") -> str:
    """The configured path if set (it must be an executable file), else the binary imageio-ffmpeg ships.

    ``setting`` names the variable a user sets, for the message when neither is usable.
    """
    if configured:
        if not (Path(configured).is_file() and os.access(configured, os.X_OK)):
            raise FFmpegMissing(f"{setting}={configured}: not an executable file")
        return configured
    try:
        import imageio_ffmpeg

        exe: str = imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as exc:
        raise FFmpegMissing(f"no FFmpeg: set {setting} or install imageio-ffmpeg ({exc})") from exc
    return exe
