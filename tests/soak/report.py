"""Printing a soak's results: surecast's checks, the fault table, and the side-by-side with FFmpeg's upload."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tests.soak.analysis import LAG_SLACK
from tests.soak.config import MBIT

if TYPE_CHECKING:
    from tests.soak.ffmpeg_direct import DirectResult
    from tests.soak.surecast_run import SurecastResult

MB = 1_000_000


def _s(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"


def surecast_lines(r: SurecastResult) -> list[str]:
    cfg = r.config
    lines = [
        f"surecast soak: {cfg.duration:g} s event, ladder {cfg.renditions}, {cfg.segment_seconds:g} s segments, "
        f"policy {cfg.policy}, stream {r.stream_rate / MBIT:.2f} Mbit/s, uplink {cfg.uplink_mbps:g} Mbit/s "
        f"(throttle fault {cfg.throttle_mbps:g} Mbit/s), {cfg.workers} workers x {cfg.concurrency}",
        f"encoder exit code {r.encoder_exit}; wall time {r.wall_seconds:.0f} s; "
        f"load average during the run: mean {r.load[0]:.2f}, max {r.load[1]:.2f}",
        "segments: produced {} ({}) | in bucket {} | journal verified {} | intact (ETag = journal MD5) {} | "
        "lost {} | corrupted in bucket {} | slates {}".format(
            r.produced_total,
            ", ".join(f"{n} {c}" for n, c in r.produced.items()),
            r.in_bucket,
            r.journal_verified,
            r.intact,
            len(r.lost),
            len(r.corrupted),
            sum(r.slates.values()),
        ),
        f"  numbering contiguous: {r.numbering_contiguous}; segment files on the spool never journaled: "
        f"{len(r.unjournaled)}",
        f"live playlists: {r.polls} polls straight from S3, {r.entries_checked} entries checked | polls listing a "
        f"missing object: {r.miss_polls} | corrupted playlist reads: {r.corrupt_reads} | poll errors {r.poll_errors}",
        f"retries {r.retries} (segments {r.segment_retries}) | integrity re-uploads {r.integrity_reuploads} "
        f"(segments {r.segment_integrity_reuploads}) | bodies corrupted by the proxy {r.flips_injected} | "
        f"link faults injected {r.link_faults_injected}",
        f"peak spool {r.peak_spool / MB:.1f} MB | peak worker RSS {r.peak_worker_rss / MB:.1f} MB "
        f"(one process: {r.peak_worker_rss_role}), "
        f"{r.peak_worker_tree_rss / MB:.1f} MB (one worker: main + pool + reconciler + resource tracker)",
        f"FFmpeg: restarts {r.ffmpeg_restarts}, largest gap between segments {r.cadence.max_gap:.2f} s, "
        f"gaps > 1.5 segments {r.cadence.late}, media {r.cadence.media_seconds:.1f} s in "
        f"{r.cadence.wall_seconds:.1f} s wall -> stalled: {'yes' if r.cadence.late or r.ffmpeg_restarts else 'no'}",
        f"disk-low: floor {r.disk_floor_mb} MB free, filler {r.disk_filled / 2**30:.1f} GiB; "
        f"encoder reported low disk {r.low_disk_seen[0]:.0f} s inside "
        f"the window, {r.low_disk_seen[1]:.0f} s outside",
    ]
    for name, vod in r.vods.items():
        if vod is None:
            lines.append(f"VOD {name}: no vod.m3u8 in the bucket")
            continue
        lines.append(
            f"VOD {name}: {vod.entries} entries, {vod.gaps} gaps, ENDLIST {vod.ended}, "
            f"listed {vod.listed_seconds:.1f} s, decoded {vod.decoded_seconds:.1f} s, "
            f"decode errors {vod.decode_errors}, FFmpeg exit {vod.exit_code}"
            + (f" ({vod.error_sample})" if vod.error_sample else "")
        )
    if r.lost:
        lines.append(f"LOST: {', '.join(r.lost[:10])}")
    if r.corrupted:
        lines.append(f"CORRUPTED: {', '.join(r.corrupted[:10])}")
    if r.missing_listed:
        lines.append(f"LISTED BUT MISSING: {', '.join(r.missing_listed[:10])}")
    if r.fault_errors:
        lines.append(f"FAULT STEPS THAT FAILED: {'; '.join(r.fault_errors)}")
    lines.append("")
    lines += fault_table(r)
    return lines


def fault_table(r: SurecastResult) -> list[str]:
    threshold = r.config.segment_seconds + LAG_SLACK
    median = "n/a" if r.median_lag_before_faults is None else f"{r.median_lag_before_faults:.2f} s"
    lines = [
        f"live edge catch-up after each fault (caught up: lag <= {threshold:g} s; median lag before the first "
        f"fault {median})",
        "  backlog: bytes journaled, not yet verified, when the fault was healed; ideal: what an uploader using",
        "  every byte the link let through would have had; minimum: (backlog - stream x lag allowed) / (uplink - "
        "stream)",
        f"{'fault':<18}{'applied':>9}{'healed':>9}{'backlog':>10}{'ideal':>9}{'minimum':>9}{'ideal min':>10}"
        f"{'measured':>10}{'max lag':>9}",
    ]
    for f in r.faults:
        note = "  (overlaps the next fault)" if f.overlaps_next else ""
        lines.append(
            f"{f.kind:<18}{f.started:>8.1f}s{f.healed:>8.1f}s{f.backlog_bytes / MB:>8.1f}MB"
            f"{f.ideal_backlog / MB:>7.1f}MB{f.minimum:>8.1f}s{f.ideal_minimum:>9.1f}s"
            f"{_s(f.catch_up):>10}{f.max_lag:>8.1f}s{note}"
        )
    return lines


def side_by_side(r: SurecastResult | None, direct: Sequence[DirectResult]) -> list[str]:
    """The same schedule against surecast and against FFmpeg's own HTTP upload."""
    heads = (["surecast"] if r else []) + [d.label for d in direct]
    rows: list[tuple[str, list[str]]] = []

    def add(name: str, mine: str | None, theirs: list[str]) -> None:
        rows.append((name, ([mine] if r else []) + theirs))

    add("segments produced", r and str(r.produced_total), [str(d.produced) for d in direct])
    add("segments in the bucket", r and str(r.in_bucket), [str(d.in_bucket) for d in direct])
    add("segments lost", r and str(len(r.lost)), [str(d.lost) for d in direct])
    add(
        "corrupted objects in the bucket",
        r and str(len(r.corrupted)),
        [f"{d.corrupted} (of {d.flipped} corrupted PUTs)" for d in direct],
    )
    add("playlist polls", r and str(r.polls), [str(d.polls) for d in direct])
    add("polls listing a missing object", r and str(r.miss_polls), [str(d.miss_polls) for d in direct])
    add("corrupted playlist reads", r and str(r.corrupt_reads), [str(d.corrupt_reads) for d in direct])
    add("distinct missing objects listed", r and str(len(r.missing_listed)), [str(d.missing_listed) for d in direct])
    add(
        "FFmpeg aborted",
        r and ("no" if not r.ffmpeg_restarts else f"restarted {r.ffmpeg_restarts}x"),
        [d.aborted_text for d in direct],
    )
    add(
        "largest gap between segments",
        r and f"{r.cadence.max_gap:.1f} s",
        [f"{d.max_gap:.1f} s" for d in direct],
    )
    add("media time missing (never encoded)", r and "0 s", [f"{d.unencoded_seconds:.0f} s" for d in direct])
    width = max(len(name) for name, _ in rows) + 2
    cols = [max(len(h), *(len(v[i]) for _, v in rows)) + 2 for i, h in enumerate(heads)]
    lines = [" " * width + "".join(h.rjust(c) for h, c in zip(heads, cols, strict=True))]
    for name, values in rows:
        lines.append(name.ljust(width) + "".join(v.rjust(c) for v, c in zip(values, cols, strict=True)))
    return lines


def markdown_table(lines: list[str]) -> str:
    return "```\n" + "\n".join(lines) + "\n```\n"
