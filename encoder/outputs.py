"""One event's outputs: a destination each (the primary, then the backups), with its own journal, live
playlists (listing only what is verified there), playlist versions and archive. Their master playlists
name every destination (the HLS redundant-stream form), so players fail over between them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from core.destinations import PRIMARY
from core.ladder import Rendition
from core.settings import Settings
from encoder.archive import DestinationArchive
from encoder.keys import EventLayout
from encoder.live import LivePlaylists, Mirror
from encoder.versions import PlaylistVersions
from journal.events import Segment
from journal.files import Journal


@dataclass
class Output:
    name: str
    layout: EventLayout
    journal: Journal
    versions: PlaylistVersions
    live: LivePlaylists
    archive: DestinationArchive


def build_outputs(
    settings: Settings,
    event_id: str,
    spool: Path,
    primary_journal: Journal,
    renditions: list[tuple[Rendition, list[Segment]]],
    notify: Callable[[], None],
    clock: Callable[[], float],
    only: Iterable[str] | None = None,
) -> list[Output]:
    """The outputs of ``event_id`` (all destinations, or ``only`` those named), the primary's first."""
    cfg = settings.encoder
    destinations = settings.destinations()
    layouts = {d.name: EventLayout(d.s3.prefix, event_id, cfg.channel) for d in destinations}
    wanted = set(only) if only is not None else set(layouts)
    outputs = []
    for d in destinations:
        if d.name not in wanted:
            continue
        journal = primary_journal if d.name == PRIMARY else Journal(spool, clock, destination=d.name)
        versions = PlaylistVersions(
            spool, layouts[d.name], journal, notify, clock, supersede_after=max(1.0, cfg.segment_seconds)
        )
        mirrors = tuple(Mirror(e.name, e.public_base, layouts[e.name]) for e in destinations if e.name != d.name)
        live = LivePlaylists(cfg, layouts[d.name], renditions, versions, journal, layouts[PRIMARY], mirrors, d.name)
        outputs.append(Output(d.name, layouts[d.name], journal, versions, live, DestinationArchive(d.name, live)))
    return outputs
