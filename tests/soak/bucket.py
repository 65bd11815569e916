"""Reading back what landed: object listings, playlists, and a viewer's decode of a playlist with FFmpeg."""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from encoder.ffmpegproc import find_ffmpeg
from tests.soak.observe import playlist_uris

_TIME = re.compile(r"time=(\d+):(\d+):(\d+\.\d+)")


def list_objects(s3: Any, bucket: str, prefix: str) -> dict[str, tuple[str, int]]:
    """key -> (ETag without quotes, size) of every object under ``prefix``."""
    found: dict[str, tuple[str, int]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            found[obj["Key"]] = (str(obj["ETag"]).strip('"'), int(obj["Size"]))
    return found


def get_text(s3: Any, bucket: str, key: str) -> str | None:
    try:
        body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return body.decode("latin-1")


def public_bucket(s3: Any, bucket: str, write: bool = False) -> None:
    """Let anonymous clients read (and with ``write``, PUT) objects: a bucket policy, which the server
    (SeaweedFS) checks on unsigned requests. FFmpeg's own HTTP upload cannot sign requests."""
    actions = ["s3:GetObject", "s3:PutObject"] if write else ["s3:GetObject"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": actions, "Resource": f"arn:aws:s3:::{bucket}/*"}],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


@dataclass(frozen=True)
class Vod:
    """A VOD media playlist as stored, and what FFmpeg made of it."""

    entries: int
    gaps: int
    ended: bool
    listed_seconds: float
    decoded_seconds: float
    decode_errors: int
    exit_code: int
    error_sample: str


def decode(url: str, timeout: float) -> tuple[float, list[str], int]:
    """Decode ``url`` to nothing, as a player would; (seconds decoded, error lines, FFmpeg exit code)."""
    argv = [find_ffmpeg(""), "-hide_banner", "-nostdin", "-v", "error", "-stats"]
    argv += ["-protocol_whitelist", "file,http,tcp", "-i", url, "-f", "null", "-"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    lines = [line.strip() for line in re.split(r"[\r\n]+", result.stderr) if line.strip()]
    times = [_TIME.search(line) for line in lines]
    stamps = [m for m in times if m]
    seconds = 0.0
    if stamps:
        h, m, s = stamps[-1].groups()
        seconds = int(h) * 3600 + int(m) * 60 + float(s)
    errors = [line for line in lines if "time=" not in line and not line.startswith("frame=")]
    return seconds, errors, result.returncode


def discontinuity_runs(text: str, url: str) -> list[str]:
    """``text`` (a media playlist at ``url``) cut at each EXT-X-DISCONTINUITY into VOD playlists of absolute
    URIs. Timestamps start again after a discontinuity (a new FFmpeg run): a player resets its timeline there,
    and FFmpeg's own reader, which guesses across the jump, may find a frame's worth of overlap between the
    runs' audio and video. So each run is decoded on its own, as one continuous stream."""
    target = re.search(r"#EXT-X-TARGETDURATION:(\d+)", text)
    head = f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{target.group(1) if target else 10}\n"
    runs: list[list[str]] = [[]]
    tags: list[str] = []
    for line in text.splitlines():
        if line == "#EXT-X-DISCONTINUITY" and runs[-1]:
            runs.append([])
        elif line.startswith(("#EXTINF", "#EXT-X-BYTERANGE")):
            tags.append(line)
        elif line and not line.startswith("#"):
            runs[-1] += [*tags, urljoin(url, line)]
            tags = []
    return [head + "#EXT-X-PLAYLIST-TYPE:VOD\n" + "\n".join(run) + "\n#EXT-X-ENDLIST\n" for run in runs if run]


def decode_runs(text: str, url: str, timeout: float) -> tuple[float, list[str], int]:
    """``decode`` of each discontinuity run of the playlist ``text`` at ``url``: seconds summed, errors joined,
    the worst exit code."""
    seconds, errors, code = 0.0, list[str](), 0
    with tempfile.TemporaryDirectory(prefix="vod-runs-") as folder:
        for i, run in enumerate(discontinuity_runs(text, url)):
            path = Path(folder) / f"run{i}.m3u8"
            path.write_text(run)
            run_seconds, run_errors, run_code = decode(str(path), timeout)
            seconds, errors, code = seconds + run_seconds, errors + run_errors, max(code, run_code)
    return seconds, errors, code


def check_vod(s3: Any, bucket: str, key: str, http_base: str, timeout: float) -> Vod | None:
    """Read a VOD playlist and decode it over HTTP from the S3 server."""
    text = get_text(s3, bucket, key)
    if text is None:
        return None
    uris = playlist_uris(text)
    listed = sum(float(d) for d in re.findall(r"#EXTINF:([\d.]+),", text))
    seconds, errors, code = decode_runs(text, f"{http_base}/{bucket}/{key}", timeout)
    return Vod(
        entries=len(uris),
        gaps=sum(1 for _, gap in uris if gap),
        ended="#EXT-X-ENDLIST" in text,
        listed_seconds=listed,
        decoded_seconds=seconds,
        decode_errors=len(errors),
        exit_code=code,
        error_sample=" | ".join(errors[:3]),
    )
