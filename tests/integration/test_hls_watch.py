"""The playlist watcher of the conformance test, against a small HTTP server on loopback whose playlists the
test writes: it reports a master that came too early, a listed segment that is not there, a segment number
that changed its file between reloads, and measures the wait between new segments."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.hls_watch import PlaylistWatch

MASTER = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-STREAM-INF:BANDWIDTH=440700,AVERAGE-BANDWIDTH=329700,RESOLUTION=320x180,FRAME-RATE=15.000,CODECS="avc1.4d401e,mp4a.40.2"
180p/live.m3u8
"""


def live(first: int, count: int, ended: bool = False) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:2", f"#EXT-X-MEDIA-SEQUENCE:{first}"]
    lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
    for n in range(first, first + count):
        lines += [f"#EXT-X-PROGRAM-DATE-TIME:2025-06-01T18:00:{2 * n:02d}.000Z", "#EXTINF:2.000,", f"seg_{n}.ts"]
    return "\n".join([*lines, "#EXT-X-ENDLIST"] if ended else lines) + "\n"


class Bucket:
    """Serves ``objects`` (path -> body) to GET and HEAD; anything else is a 404."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        objects = self.objects

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                self._answer(body=True)

            def do_HEAD(self) -> None:  # noqa: N802
                self._answer(body=False)

            def _answer(self, body: bool) -> None:
                found = objects.get(self.path)
                self.send_response(200 if found is not None else 404)
                self.send_header("Content-Length", str(len(found or b"")))
                self.end_headers()
                if body and found:
                    self.wfile.write(found)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def put(self, path: str, body: str | bytes) -> None:
        self.objects[path] = body.encode() if isinstance(body, str) else body

    def segments(self, first: int, count: int) -> None:
        for n in range(first, first + count):
            self.put(f"/ev/180p/seg_{n}.ts", b"\x47" * 1880)


@pytest.fixture
def bucket() -> Iterator[Bucket]:
    b = Bucket()
    yield b
    b.server.shutdown()
    b.server.server_close()


def test_a_conforming_event_leaves_no_violation_and_its_waits_are_measured(bucket: Bucket) -> None:
    watch = PlaylistWatch([f"{bucket.base}/ev/180p/live.m3u8"], [f"{bucket.base}/ev/master.m3u8"])
    for count in (1, 2, 3):
        bucket.segments(0, count)
        bucket.put("/ev/180p/live.m3u8", live(0, count))
        watch.round()
        watch.round()  # a reload that finds nothing new
    bucket.put("/ev/master.m3u8", MASTER)
    watch.round()
    bucket.put("/ev/180p/live.m3u8", live(0, 3, ended=True))
    watch.round()
    seen = watch.media[f"{bucket.base}/ev/180p/live.m3u8"]
    assert watch.violations == []
    assert seen.versions == 4 and watch.masters[f"{bucket.base}/ev/master.m3u8"].versions == 1
    assert seen.waits.ended and seen.waits.longest > 0
    assert watch.rates(f"{bucket.base}/ev/180p/live.m3u8") == {
        f"{bucket.base}/ev/180p/seg_{n}.ts": 1880 * 8 / 2 for n in range(3)
    }


def test_an_early_master_a_missing_segment_and_a_renamed_number_are_reported(bucket: Bucket) -> None:
    watch = PlaylistWatch([f"{bucket.base}/ev/180p/live.m3u8"], [f"{bucket.base}/ev/master.m3u8"])
    bucket.segments(0, 2)
    bucket.put("/ev/180p/live.m3u8", live(0, 2))
    bucket.put("/ev/master.m3u8", MASTER)
    watch.round()
    bucket.put("/ev/180p/live.m3u8", live(0, 3))  # seg_2.ts is not there
    watch.round()
    bucket.put("/ev/180p/live.m3u8", live(0, 3).replace("seg_2.ts", "seg_7.ts"))
    bucket.segments(7, 1)
    watch.round()
    found = "\n".join(watch.violations)
    assert "180p/live.m3u8: 4.000 s listed when the master appeared, under 3 x TARGETDURATION 2" in found
    assert "180p/seg_2.ts: HTTP 404 when the playlist listing it was first seen" in found
    assert "media sequence number 2 was seg_2.ts, now seg_7.ts" in found
