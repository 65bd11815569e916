"""The remote live playlists of one event: rendered from the journal's verified segments, never copied
from FFmpeg, so a listed segment is already in the bucket (or marked as a gap, under ``live-edge``).

Each rendition's frontier advances by policy (encoder.timeline); the master playlist goes out once every
rendition's live playlist is in the bucket holding at least three target durations: a player never meets a
404 behind it, and never starts closer to the live edge than the spec allows (RFC 8216 6.3.3).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass

from core.contract import PRIMARY, PRIORITY_BACKFILL
from core.encoder_settings import EncoderSection
from core.hls import (
    MediaPlaylist,
    MediaSegment,
    Variant,
    render_master_playlist,
    render_media_playlist,
    target_duration,
    written_duration,
)
from core.ladder import Rendition
from encoder.command import codecs_attribute
from encoder.keys import EventLayout, is_slate, media_uri
from encoder.timeline import Entry, advance_frontier, discontinuities_before, is_ready, live_window
from encoder.versions import PlaylistVersions
from journal.events import Segment
from journal.files import Journal

log = logging.getLogger(__name__)
# A master playlist names a live playlist only once it lists this many target durations (RFC 8216 6.3.3:
# a player starts no closer to the end than three target durations).
WARM_TARGETS = 3


@dataclass
class Edge:
    """One rendition's live edge: its segments (shared with the ingest) and how far the playlist lists them."""

    spec: Rendition
    segments: list[Segment]
    frontier: int = 0
    dirty: bool = True
    target: int = 0
    # When a live playlist first listed three target durations: a master may name it once that version landed.
    warm_since: float | None = None


def media_playlist(
    entries: Iterable[Entry],
    target: int,
    media_sequence: int = 0,
    discontinuity_sequence: int = 0,
    vod: bool = False,
    ended: bool = False,
) -> str:
    """The text of a media playlist of the event's segments (names relative to the playlist)."""
    segments = tuple(
        MediaSegment(
            e.segment.name,
            e.segment.duration,
            e.segment.discontinuity,
            e.gap,
            e.segment.init_name,
            e.segment.program_time,
        )
        for e in entries
    )
    return render_media_playlist(
        MediaPlaylist(segments, target, media_sequence, discontinuity_sequence, vod=vod, ended=ended)
    )


def measured_bandwidth(segments: Iterable[Segment]) -> tuple[int | None, int | None]:
    """(peak, average) bits per second of the recorded segments (slates left out), for a VOD master: the
    largest segment's rate and the whole's; (None, None) where sizes were not kept."""
    # Each over its duration as its EXTINF says it: a short last segment of 0.5333 s written as 0.533 has a
    # higher rate for a player (or a validator) than over its exact length.
    recorded = [(s.size, written_duration(s.duration)) for s in segments if s.size and not is_slate(s.name)]
    recorded = [(size, duration) for size, duration in recorded if duration > 0]
    if not recorded:
        return None, None
    peak = max(size * 8 / duration for size, duration in recorded)
    average = sum(size for size, _ in recorded) * 8 / sum(duration for _, duration in recorded)
    return math.ceil(peak), math.ceil(average)


@dataclass(frozen=True)
class Mirror:
    """Another destination, as the redundant master playlists name it: where viewers read it, its keys."""

    name: str
    public_base: str
    layout: EventLayout

    def url(self, key: str) -> str:
        return f"{self.public_base}/{key}"


class LivePlaylists:
    """Keeps each rendition's live playlist in one destination's bucket up to date with what is verified
    there. Segments are named by their primary keys (the events table's); ``layout`` gives this
    destination's."""

    def __init__(
        self,
        cfg: EncoderSection,
        layout: EventLayout,
        renditions: list[tuple[Rendition, list[Segment]]],
        versions: PlaylistVersions,
        journal: Journal,
        primary: EventLayout | None = None,
        mirrors: tuple[Mirror, ...] = (),
        name: str = PRIMARY,
    ) -> None:
        self.cfg = cfg
        self.layout = layout
        self.edges = [Edge(spec, segments) for spec, segments in renditions]
        self.versions = versions
        self.journal = journal
        self.primary = primary or layout
        self.mirrors = mirrors
        self.name = name
        self.verified: set[str] = set()
        self.pending: set[str] = set()
        self.stuck: set[str] = set()  # pending, and their upload failed for good (slow retries only)
        self.master_sent = False
        for edge in self.edges:
            self.pending.update(k for s in edge.segments for k in s.object_keys())
            edge.frontier = len(edge.segments)  # a resumed event's earlier segments were listed before

    def own_key(self, primary_key: str) -> str:
        """This destination's key of an object the events table names by its primary key."""
        root = self.primary.key_root
        return self.layout.key_root + primary_key[len(root) :] if primary_key.startswith(root + "/") else primary_key

    def track(self, edge: Edge, segment: Segment) -> None:
        """A segment was journaled: wait for it to be verified."""
        self.pending.update(segment.object_keys())
        edge.target = max(edge.target, target_duration([segment.duration], self.cfg.target_duration))
        edge.dirty = True

    def refresh_verified(self) -> None:
        """Ask the journal which pending objects the workers verified since the last call."""
        if not self.pending:
            return
        own = {self.own_key(k): k for k in self.pending}
        stuck = {own[k] for k in self.journal.failed_among(own)} - self.stuck
        if stuck:
            self.stuck |= stuck
            for edge in self.edges:
                edge.dirty = True
        landed = {own[k] for k in self.journal.verified_among(own)}
        if not landed:
            return
        self.pending -= landed
        self.stuck -= landed
        self.verified |= landed
        for edge in self.edges:
            edge.dirty = True

    def update(self, now: float, ended: bool = False) -> None:
        """Advance each frontier and offer changed live playlists; ``ended`` lists everything with ENDLIST."""
        cfg = self.cfg
        delay = 0.0 if ended else cfg.publish_delay  # the final playlist lists everything
        for edge in self.edges:
            frontier = advance_frontier(
                edge.segments, edge.frontier, self.verified, cfg.policy, now, delay, cfg.gap_deadline, self.stuck
            )
            if frontier != edge.frontier:
                skipped = [s for s in edge.segments[edge.frontier : frontier] if not is_ready(s, self.verified)]
                if skipped:
                    self.journal.demote([self.own_key(k) for s in skipped for k in s.object_keys()], PRIORITY_BACKFILL)
                    log.warning(
                        "%s: live edge passed %d missing segment(s) with EXT-X-GAP", edge.spec.name, len(skipped)
                    )
                edge.frontier = frontier
                edge.dirty = True
            if not (edge.dirty or ended) or edge.frontier == 0:
                continue
            edge.dirty = False
            entries, first = live_window(edge.segments, edge.frontier, cfg.live_window, self.verified)
            listed = sum(e.segment.duration for e in entries)
            if edge.warm_since is None and (ended or listed >= WARM_TARGETS * self.target(edge)):
                edge.warm_since = now  # an ended playlist may be started anywhere
            text = media_playlist(
                entries,
                target=self.target(edge),
                media_sequence=first,
                discontinuity_sequence=discontinuities_before(edge.segments, first),
                ended=ended,
            )
            self.versions.offer(self.layout.live_key(edge.spec.name), text, force=ended)
        self.versions.flush()

    def target(self, edge: Edge) -> int:
        return max(edge.target, self.cfg.target_duration)

    def variants(self, vod: bool, channel: bool = False) -> list[Variant]:
        """The ladder as the master playlist announces it: live or VOD, from the event's folder or the
        channel's; each rung once more per other destination (the HLS redundant-stream form: same
        BANDWIDTH, another URI), so players fail over when this destination stops answering."""
        found = []
        for e in self.edges:
            name = e.spec.name
            uris = [(self.name, self.layout.channel_uri(name) if channel else media_uri(name, vod))]
            for mirror in self.mirrors:
                uris.append(
                    (mirror.name, mirror.url(mirror.layout.vod_key(name) if vod else mirror.layout.live_key(name)))
                )
            for pathway, uri in uris:
                peak, average = measured_bandwidth(e.segments) if vod else (None, None)
                found.append(
                    Variant(
                        uri,
                        peak or e.spec.bandwidth,
                        e.spec.width,
                        e.spec.height,
                        float(self.cfg.framerate),
                        codecs_attribute(e.spec, self.cfg.framerate),
                        pathway if self.mirrors else None,
                        average or e.spec.average_bandwidth,
                    )
                )
        return found

    def maybe_master(self) -> None:
        """The master goes out once every rendition's live playlist is in the bucket listing three target
        durations: no 404 behind it, and room for a player to start where the spec says. The channel's
        master, the venue's stable address, then points at this event."""
        if self.master_sent:
            return
        if all(
            e.warm_since is not None and self.versions.landed_since(self.layout.live_key(e.spec.name), e.warm_since)
            for e in self.edges
        ):
            self.versions.offer(self.layout.master_key(), render_master_playlist(self.variants(vod=False)))
            channel = render_master_playlist(self.variants(vod=False, channel=True))
            self.versions.offer(self.layout.channel_master_key(), channel, force=True)
            self.master_sent = True
