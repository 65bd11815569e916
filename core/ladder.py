"""The rendition ladder: presets and custom rungs, parsed from ``SURECAST_ENCODER_RENDITIONS``. Pure.

The spec is a comma-separated list of presets (``1080p,720p,480p``) or custom entries
``WIDTHxHEIGHT@VIDEOk`` (``640x360@800k``); the first entry is the top of the ladder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAXRATE_FACTOR = 1.1  # the video rate control's cap over the target rate
# Measured on high-motion, noisy sources (mandelbrot zoom, noise over testsrc2) with a one-second buffer: the
# largest segment reached 1.15 x (maxrate + audio); 1.3 keeps a margin above it.
PEAK_HEADROOM = 1.3
TS_OVERHEAD = 1.05  # MPEG-TS packets and PES headers over the elementary streams


@dataclass(frozen=True)
class Rendition:
    """One rung of the ladder: a name used in keys and paths, a frame size and bitrates in kbit/s."""

    name: str
    width: int
    height: int
    video_kbps: int
    audio_kbps: int = 128

    @property
    def maxrate_kbps(self) -> int:
        """The video rate the encoder's rate control caps at (its buffer holds one second of it)."""
        return int(self.video_kbps * MAXRATE_FACTOR)

    @property
    def bandwidth(self) -> int:
        """BANDWIDTH: the peak bit rate of any segment, what a player must be able to fetch in real time.

        The capped video rate plus audio, with the headroom the hardest content measured needs over it
        (MPEG-TS overhead and the rate control's one-second buffer): tests/bench/bench_bandwidth.py.
        """
        return int((self.maxrate_kbps + self.audio_kbps) * 1000 * PEAK_HEADROOM)

    @property
    def average_bandwidth(self) -> int:
        """AVERAGE-BANDWIDTH of a live variant: the target rates plus MPEG-TS overhead (a VOD master gives
        the measured one)."""
        return int((self.video_kbps + self.audio_kbps) * 1000 * TS_OVERHEAD)


PRESETS: dict[str, Rendition] = {
    "1080p": Rendition("1080p", 1920, 1080, 5000),
    "720p": Rendition("720p", 1280, 720, 2800),
    "480p": Rendition("480p", 854, 480, 1200, 96),
    "360p": Rendition("360p", 640, 360, 800, 96),
    "240p": Rendition("240p", 426, 240, 400, 64),
    "180p": Rendition("180p", 320, 180, 250, 64),
}
_CUSTOM = re.compile(r"^(?P<w>\d{2,4})x(?P<h>\d{2,4})@(?P<kbps>\d{2,6})k$")


def parse_renditions(spec: str) -> tuple[Rendition, ...]:
    """Parse a ladder spec into renditions, raising ValueError that names the bad entry."""
    ladder: list[Rendition] = []
    for raw in spec.split(","):
        item = raw.strip().lower()
        if not item:
            continue
        if item in PRESETS:
            ladder.append(PRESETS[item])
            continue
        match = _CUSTOM.match(item)
        if not match:
            raise ValueError(f"rendition {raw.strip()!r} is neither a preset ({', '.join(PRESETS)}) nor WxH@NNNk")
        width, height, kbps = int(match["w"]), int(match["h"]), int(match["kbps"])
        if width % 2 or height % 2:
            raise ValueError(f"rendition {item!r}: width and height must be even for H.264 4:2:0")
        ladder.append(Rendition(f"{height}p", width, height, kbps, 128 if height >= 720 else 96))
    if not ladder:
        raise ValueError("at least one rendition is required")
    names = [r.name for r in ladder]
    if len(set(names)) != len(names):
        raise ValueError(f"renditions must have distinct heights, got {', '.join(names)}")
    return tuple(ladder)
