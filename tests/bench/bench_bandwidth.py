"""BANDWIDTH headroom benchmark: does every rung's declared peak hold on hard content? Prints; asserts nothing.

Run:  .venv/bin/python -m tests.bench.bench_bandwidth [--seconds 40] [--ladder 720p,480p,360p]
          [--profile standard|low-latency]

The encoder's own FFmpeg command (encoder/command.py, the shipped rate control) on sources a test pattern
never is: a mandelbrot zoom (every frame new detail), heavy noise over a moving pattern (nothing to predict),
and the calm test pattern for scale. For each rung: the largest segment's bit rate (audio and MPEG-TS
included), the average, the BANDWIDTH and AVERAGE-BANDWIDTH the live master declares, and the headroom:
declared peak / measured peak - 1 (negative: a segment exceeded what the master promised).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from core.encoder_settings import EncoderSection
from core.ffmpeg import find_ffmpeg
from core.hls import MediaPlaylist, parse_playlist
from encoder.command import EncodePlan, ffmpeg_argv
from encoder.keys import LOCAL_PLAYLIST
from encoder.sources import parse_source

SOURCES = {
    "mandelbrot zoom": "lavfi:mandelbrot=size=1280x720:rate=30",
    "noise over testsrc2": "lavfi:testsrc2=size=1280x720:rate=30,noise=alls=100:allf=t+u",
    "test pattern": "lavfi:testsrc2=size=1280x720:rate=30",
}


def encode(source: str, cfg: EncoderSection, seconds: float, folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Run the encoder's FFmpeg command for ``seconds``; (bytes, duration) of each rung's complete segments."""
    dirs = {r.name: folder / r.name for r in cfg.ladder}
    for path in dirs.values():
        path.mkdir(parents=True)
    top = cfg.ladder[0]
    plan = EncodePlan(parse_source(source, "none", top.width, top.height, cfg.framerate), cfg.ladder, dirs, 0, cfg)
    proc = subprocess.Popen(ffmpeg_argv(find_ffmpeg(), plan), stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(seconds)
    proc.send_signal(signal.SIGINT)
    proc.wait(30)
    found = {}
    for name, path in dirs.items():
        playlist = parse_playlist((path / LOCAL_PLAYLIST).read_text())
        assert isinstance(playlist, MediaPlaylist)
        found[name] = [((path / s.uri).stat().st_size, s.duration) for s in playlist.segments if s.duration > 0.5]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--ladder", default="720p,480p,360p")
    parser.add_argument("--profile", default="standard", help="SURECAST_ENCODER_PROFILE: its segments and GOP")
    args = parser.parse_args()
    cfg = EncoderSection(renditions=args.ladder, clock=False, profile=args.profile)
    print(f"{'source':<22} {'rung':<6} {'segments':>8} {'peak':>11} {'average':>11} {'BANDWIDTH':>11} "
          f"{'AVG-BW':>11} {'headroom':>8}")  # fmt: skip
    worst = float("inf")
    for label, source in SOURCES.items():
        with tempfile.TemporaryDirectory(prefix="surecast-bw-") as tmp:
            segments = encode(source, cfg, args.seconds, Path(tmp))
        for rung in cfg.ladder:
            rates = [size * 8 / duration for size, duration in segments[rung.name]]
            if not rates:
                print(f"{label:<22} {rung.name:<6} no complete segment")
                continue
            peak = max(rates)
            average = sum(size * 8 for size, _ in segments[rung.name]) / sum(d for _, d in segments[rung.name])
            headroom = rung.bandwidth / peak - 1
            worst = min(worst, headroom)
            print(
                f"{label:<22} {rung.name:<6} {len(rates):>8} {peak:>11,.0f} {average:>11,.0f} {rung.bandwidth:>11,} "
                f"{rung.average_bandwidth:>11,} {headroom:>+8.1%}"
            )
    print(f"smallest headroom of BANDWIDTH over a measured segment: {worst:+.1%}")


if __name__ == "__main__":
    main()
