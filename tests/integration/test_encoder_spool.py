"""The encoder's spool-side components against a real journal file: readiness, coalescing, disk guard."""

from __future__ import annotations

import os
import time
from pathlib import Path

from core.contract import PRIORITY_LIVE, FileKind
from encoder.diskguard import DiskGuard
from encoder.ingest import Ingest, RenditionWatcher
from encoder.keys import EventLayout
from encoder.versions import PlaylistVersions
from journal.events import EventStore
from journal.files import Journal, State

LAYOUT = EventLayout("live", "ev")


def _ffmpeg_wrote(spool: Path, names: list[str], sizes: int = 1000) -> None:
    """Imitate FFmpeg: segment files, then its playlist listing them."""
    folder = spool / LAYOUT.rendition_dir("720p")
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:2"]
    for name in names:
        path = folder / name
        if not path.exists():
            path.write_bytes(name.encode() * (sizes // len(name)))
        lines += ["#EXTINF:2.000000,", name]
    tmp = folder / "ffmpeg.m3u8.tmp"
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, folder / "ffmpeg.m3u8")


def _watcher(spool: Path) -> tuple[RenditionWatcher, Journal, EventStore]:
    journal = Journal(spool)
    store = EventStore(journal)
    ctx = Ingest(spool, "ev", LAYOUT, journal, store, time.time)
    return RenditionWatcher(ctx, "720p", store.load("ev", "720p")), journal, store


def test_listed_segments_are_journaled_once_with_live_priority_and_immutable_headers(tmp_path: Path) -> None:
    watcher, journal, store = _watcher(tmp_path)
    assert watcher.poll() == []  # no FFmpeg playlist yet
    _ffmpeg_wrote(tmp_path, ["seg_0.ts", "seg_1.ts"])
    first = watcher.poll()
    assert [s.key for s in first] == ["live/ev/720p/seg_0.ts", "live/ev/720p/seg_1.ts"]
    assert [s.msn for s in first] == [0, 1]
    _ffmpeg_wrote(tmp_path, ["seg_0.ts", "seg_1.ts", "seg_2.ts"])
    assert [s.seq for s in watcher.poll()] == [2]
    row = journal.get("live/ev/720p/seg_2.ts")
    assert row is not None and row.state == State.QUEUED and row.kind == FileKind.SEGMENT
    assert row.priority == PRIORITY_LIVE
    assert (row.content_type, row.cache_control) == ("video/mp2t", "max-age=31536000, immutable")
    assert len(store.load("ev", "720p")) == 3


def test_after_a_restart_the_next_segment_carries_a_discontinuity(tmp_path: Path) -> None:
    watcher, _, _ = _watcher(tmp_path)
    _ffmpeg_wrote(tmp_path, ["seg_0.ts", "seg_1.ts"])
    watcher.poll()
    watcher.restarted()
    _ffmpeg_wrote(tmp_path, ["seg_2.ts", "seg_3.ts"])  # the new FFmpeg run's own playlist
    fresh = watcher.poll()
    assert [(s.seq, s.msn, s.discontinuity) for s in fresh] == [(2, 2, True), (3, 3, False)]


def test_a_key_journaled_with_other_content_is_never_overwritten(tmp_path: Path) -> None:
    watcher, journal, _ = _watcher(tmp_path)
    _ffmpeg_wrote(tmp_path, ["seg_0.ts"])
    watcher.poll()
    before = journal.get("live/ev/720p/seg_0.ts")
    # A second encoder for the same event, with different bytes under the same name.
    other, _, _ = _watcher(tmp_path)
    other.segments.clear()
    (tmp_path / LAYOUT.segment_path("720p", "seg_0.ts")).write_bytes(b"different")
    _ffmpeg_wrote(tmp_path, ["seg_0.ts"])
    assert other.poll() == []
    assert journal.get("live/ev/720p/seg_0.ts") == before


def test_a_resumed_event_continues_numbering_and_marks_a_break(tmp_path: Path) -> None:
    watcher, _, _ = _watcher(tmp_path)
    _ffmpeg_wrote(tmp_path, ["seg_0.ts", "seg_1.ts"])
    watcher.poll()
    resumed, _, store = _watcher(tmp_path)
    assert resumed.last_seq == 1 and store.max_seq("ev") == 1
    _ffmpeg_wrote(tmp_path, ["seg_2.ts"])
    assert [(s.msn, s.discontinuity) for s in resumed.poll()] == [(2, True)]


def test_empty_segment_files_are_never_handed_on(tmp_path: Path) -> None:
    watcher, journal, _ = _watcher(tmp_path)
    folder = tmp_path / LAYOUT.rendition_dir("720p")
    folder.mkdir(parents=True)
    (folder / "seg_0.ts").write_bytes(b"")
    _ffmpeg_wrote(tmp_path, ["seg_0.ts"])
    assert watcher.poll() == []
    assert journal.get("live/ev/720p/seg_0.ts") is None


def _writer(spool: Path, now: list[float]) -> tuple[PlaylistVersions, Journal, list[int]]:
    journal = Journal(spool)
    pokes: list[int] = []
    writer = PlaylistVersions(spool, LAYOUT, journal, lambda: pokes.append(1), lambda: now[0], supersede_after=2.0)
    return writer, journal, pokes


def test_playlist_versions_are_new_files_and_coalesce_while_one_is_in_flight(tmp_path: Path) -> None:
    now = [100.0]
    writer, journal, pokes = _writer(tmp_path, now)
    key = LAYOUT.live_key("720p")
    assert writer.offer(key, "v1\n")
    assert not writer.offer(key, "v2\n")  # v1 not verified yet: held
    assert not writer.offer(key, "v3\n")  # replaces the held v2
    row = journal.get(key)
    assert row is not None and row.version == 1 and row.kind == FileKind.PLAYLIST
    assert (row.content_type, row.cache_control) == ("application/vnd.apple.mpegurl", "no-cache")
    journal.mark_verified(key, row.md5)
    assert writer.flush()
    row = journal.get(key)
    assert row is not None and row.version == 2
    assert (tmp_path / row.path).read_text() == "v3\n"
    assert (tmp_path / LAYOUT.playlist_path(key, 1)).read_text() == "v1\n"  # the old version file is untouched
    assert len(pokes) == 2


def test_a_stuck_playlist_flight_is_superseded(tmp_path: Path) -> None:
    now = [100.0]
    writer, journal, _ = _writer(tmp_path, now)
    key = LAYOUT.live_key("720p")
    writer.offer(key, "v1\n")
    assert not writer.offer(key, "v2\n")
    now[0] = 102.5
    assert writer.flush()
    row = journal.get(key)
    assert row is not None and row.version == 2


def test_playlist_versions_continue_after_an_encoder_restart(tmp_path: Path) -> None:
    now = [100.0]
    writer, _, _ = _writer(tmp_path, now)
    key = LAYOUT.live_key("720p")
    writer.offer(key, "v1\n")
    again, journal, _ = _writer(tmp_path, now)
    again.offer(key, "v2\n", force=True)
    row = journal.get(key)
    assert row is not None and row.version == 2


def test_disk_guard_removes_only_verified_copies_after_retention(tmp_path: Path) -> None:
    watcher, journal, store = _watcher(tmp_path)
    _ffmpeg_wrote(tmp_path, ["seg_0.ts", "seg_1.ts", "seg_2.ts"])
    segments = watcher.poll()
    for s in segments[:2]:
        row = journal.get(s.key)
        assert row is not None
        journal.mark_verified(s.key, row.md5)
    guard = DiskGuard(tmp_path, journal, retention=60, min_free_bytes=0)
    guard.track(segments)
    assert guard.sweep(time.time(), None).removed == 0  # verified, but within the retention
    report = guard.sweep(time.time() + 61, None)
    assert report.removed == 2 and not report.low
    assert [(tmp_path / s.path).exists() for s in segments] == [False, False, True]


def test_disk_guard_waives_retention_when_space_is_low_but_keeps_unverified_files(tmp_path: Path) -> None:
    watcher, journal, store = _watcher(tmp_path)
    _ffmpeg_wrote(tmp_path, ["seg_0.ts", "seg_1.ts"])
    segments = watcher.poll()
    row = journal.get(segments[0].key)
    assert row is not None
    journal.mark_verified(segments[0].key, row.md5)
    guard = DiskGuard(tmp_path, journal, retention=3600, min_free_bytes=2**62)
    guard.track(segments)
    report = guard.sweep(time.time() + 1, None)
    assert report.low and report.removed == 1
    assert (tmp_path / segments[1].path).exists()


def test_the_journal_notices_commits_from_other_connections(tmp_path: Path) -> None:
    watcher, journal, _ = _watcher(tmp_path)
    _ffmpeg_wrote(tmp_path, ["seg_0.ts"])
    (segment,) = watcher.poll()
    journal.changed()
    assert not journal.changed()
    assert journal.verified_among([segment.key]) == set()
    worker = Journal(tmp_path)  # a worker's own connection
    row = worker.get(segment.key)
    assert row is not None
    worker.mark_verified(segment.key, row.md5)
    assert journal.changed() and journal.verified_among([segment.key]) == {segment.key}
