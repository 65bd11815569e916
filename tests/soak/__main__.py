"""`python -m tests.soak`: the soak with faults, and optionally FFmpeg's own upload under the same schedule."""

from __future__ import annotations

import argparse
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from tests.soak.config import FULL, SMOKE
from tests.soak.report import markdown_table, side_by_side, surecast_lines
from tests.soak.schedule import describe, scaled


def _machine() -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False, timeout=10
    ).stdout.strip()
    return (
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}, commit {commit or 'unknown'}, {os.cpu_count()} CPU(s) "
        f"({platform.processor() or platform.machine()}), Python {platform.python_version()}, {platform.system()} "
        f"{platform.release()}, all servers on 127.0.0.1"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__)
    parser.add_argument(
        "--minutes", type=float, default=None, help="event length (default 10, or 100 s with --smoke); faults scale"
    )
    parser.add_argument("--smoke", action="store_true", help="the small ladder and short limits of the smoke test")
    parser.add_argument("--policy", choices=["complete", "live-edge"], default=None)
    parser.add_argument("--compare", action="store_true", help="then run FFmpeg's own HTTP upload, same schedule")
    parser.add_argument("--only-ffmpeg", action="store_true", help="only FFmpeg's direct upload")
    parser.add_argument("--report", type=Path, default=None, help="also write the results here (Markdown)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep logs, spool and journal here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = SMOKE if args.smoke else FULL
    if args.minutes:
        cfg = replace(cfg, duration=args.minutes * 60)
    if args.policy:
        cfg = replace(cfg, policy=args.policy)
    command = "python -m tests.soak " + " ".join(sys.argv[1:] if argv is None else argv)
    out = [f"command: {command}", f"machine: {_machine()}", "", "fault schedule (seconds into the event):"]
    out += describe(scaled(cfg.duration))
    print("\n".join(out), flush=True)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="soak-"))
    result = None
    if not args.only_ffmpeg:
        from tests.soak.surecast_run import run_surecast

        result = run_surecast(cfg, workdir / "surecast")
        out += ["", *surecast_lines(result)]
        print("\n".join(["", *surecast_lines(result)]), flush=True)
    direct = []
    if args.compare or args.only_ffmpeg:
        from tests.soak.ffmpeg_direct import run_direct

        before = os.getloadavg()[0]
        direct = run_direct(cfg, workdir / "ffmpeg-direct")
        table = [
            "",
            f"FFmpeg direct phase: load average {before:.2f} at its start, {os.getloadavg()[0]:.2f} at its end",
            "same schedule, side by side:",
            *side_by_side(result, direct),
        ]
        out += table
        print("\n".join(table), flush=True)
    out.append(f"\nlogs, spool and journal: {workdir}")
    print(out[-1])
    if args.report:
        args.report.write_text(markdown_table(out))
    failed = result is not None and (result.lost or result.corrupted or result.miss_polls or result.encoder_exit != 0)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
