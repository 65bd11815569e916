"""Streams for the client and player tests: real FFmpeg segments published into the S3 test server.

`make_segments` encodes a short test pattern once; `Publisher` puts its segments, their live playlist
and a master playlist into a bucket the way the encoder and uploader do (object metadata ``md5``,
playlists rendered by the encoder's own renderer), either all at once (an ended event) or in real
time from a thread (a live event), so client tests need neither the encoder nor workers.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.contract import MD5_METADATA
from core.hls import Variant, render_master_playlist
from encoder.ffmpegproc import find_ffmpeg
from encoder.live import media_playlist
from encoder.timeline import Entry
from journal.events import Segment

RENDITION = "180p"


@dataclass(frozen=True)
class SegmentFile:
    name: str
    body: bytes
    duration: float

    @property
    def md5(self) -> str:
        return hashlib.md5(self.body).hexdigest()


def make_segments(folder: Path, seconds: int, segment_seconds: int) -> list[SegmentFile]:
    """A 320x180 test pattern with a tone, cut by FFmpeg's HLS muxer into ``seg_<n>.ts``."""
    folder.mkdir(parents=True, exist_ok=True)
    gop = 25 * segment_seconds
    argv = [
        find_ffmpeg(""), "-hide_banner", "-nostdin", "-loglevel", "error",
        "-f", "lavfi", "-i", f"testsrc2=size=320x180:rate=25:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", str(gop), "-keyint_min", str(gop),
        "-sc_threshold", "0", "-c:a", "aac", "-b:a", "64k",
        "-f", "hls", "-hls_time", str(segment_seconds), "-hls_list_size", "0",
        "-hls_segment_filename", str(folder / "seg_%d.ts"), str(folder / "ffmpeg.m3u8"),
    ]  # fmt: skip
    subprocess.run(argv, check=True, timeout=120)
    text = (folder / "ffmpeg.m3u8").read_text()
    found = re.findall(r"#EXTINF:([\d.]+),\s*\n(seg_\d+\.ts)", text)
    return [SegmentFile(name, (folder / name).read_bytes(), float(d)) for d, name in found]


def _segment(seq: int, seg: SegmentFile, key: str) -> Segment:
    return Segment(RENDITION, seq, seq, key, seg.name, seg.name, seg.duration, False, 0.0)


@dataclass
class Publisher:
    """Publishes ``segments`` as event ``event`` under ``prefix`` in ``bucket``, like the encoder would."""

    s3: Any
    bucket: str
    segments: list[SegmentFile]
    event: str = "ev"
    prefix: str = "live"
    window: int = 0  # segments in the live playlist; 0 = all
    published: int = 0
    ended: bool = False
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def root(self) -> str:
        return f"{self.prefix}/{self.event}"

    def key(self, relative: str) -> str:
        return f"{self.root}/{relative}"

    def put(self, key: str, body: bytes, content_type: str, metadata_md5: str | None = None) -> None:
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            Metadata={MD5_METADATA: metadata_md5 or hashlib.md5(body).hexdigest()},
        )

    def publish_master(self) -> None:
        variant = Variant(f"{RENDITION}/live.m3u8", 400_000, 320, 180, 25.0, "avc1.42c00d,mp4a.40.2")
        self.put(self.key("master.m3u8"), render_master_playlist([variant]).encode(), "application/vnd.apple.mpegurl")

    def publish(self, count: int) -> None:
        """Upload the next ``count`` segments, then the live playlist listing them."""
        for seg in self.segments[self.published : self.published + count]:
            self.put(self.key(f"{RENDITION}/{seg.name}"), seg.body, "video/mp2t")
        self.published = min(len(self.segments), self.published + count)
        self._playlist()

    def end(self) -> None:
        self.publish(len(self.segments) - self.published)
        self.ended = True
        self._playlist()

    def _playlist(self) -> None:
        listed = self.segments[: self.published]
        start = max(0, len(listed) - self.window) if self.window else 0
        entries = [Entry(_segment(i, s, self.key(f"{RENDITION}/{s.name}"))) for i, s in enumerate(listed)][start:]
        target = max([1, *(round(s.duration) for s in self.segments)])
        text = media_playlist(entries, target=target, media_sequence=start, ended=self.ended)
        self.put(self.key(f"{RENDITION}/live.m3u8"), text.encode(), "application/vnd.apple.mpegurl")

    def publish_all(self) -> None:
        """An event that has already ended."""
        self.publish_master()
        self.end()

    @contextmanager
    def live(self, preroll: int, end_after: float | None = None) -> Iterator[Publisher]:
        """Publish ``preroll`` segments now, then one per segment duration from a thread.

        With ``end_after`` the event ends (EXT-X-ENDLIST) that many seconds after the preroll.
        """
        self.publish_master()
        self.publish(preroll)
        started = time.monotonic()

        def run() -> None:
            while self.published < len(self.segments) and not self._stop.is_set():
                if self._stop.wait(self.segments[self.published].duration):
                    return
                if end_after is not None and time.monotonic() - started >= end_after:
                    self.end()
                    return
                self.publish(1)
            if not self._stop.is_set():
                self.end()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(10)

    def wait_ended(self, timeout: float) -> None:
        """Wait (bounded) for the live thread to publish EXT-X-ENDLIST."""
        deadline = time.monotonic() + timeout
        while not self.ended:
            if time.monotonic() > deadline:
                raise AssertionError(f"the publisher did not end the event within {timeout:.0f} s")
            time.sleep(0.1)


def public_read(s3: Any, bucket: str) -> None:
    """Anyone may GET objects, as `surecast bucket-setup --public-read` allows for the stream prefix."""
    import json

    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}
        ],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
