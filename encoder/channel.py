"""The channel's files for its viewers, on every destination, through the guaranteed pipeline: the
viewers' page (``index.html``, and its scripts and styles in the folder of their version) and
``channel.json`` (the channel's state, ``encoder.channel_state``).

Each is written to the spool and journaled like any file (``Journal.record``), then published by the pump,
uploaded and verified by that destination's workers, and re-sent until it is. ``index.html`` is journaled
on a destination only once every file it names is verified there (as a live playlist lists only verified
segments): a viewer never loads a page whose scripts are missing. ``channel.json`` is built from the
journal each time (the events table, and which VOD masters each destination has verified), so whoever
writes it (the encoder of a live event, the reconciler finishing an older one) writes the truth; an
unchanged state is not sent again.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.contract import (
    CHANNEL_STATE_CACHE_CONTROL,
    PRIORITY_LIVE,
    PRIORITY_PLAYLIST,
    FileKind,
    UploadJob,
)
from core.destinations import CHANNEL_STATE, channel_page_key, channel_state_key, player_asset_key
from core.files import md5_hex, write_durably
from core.ladder import parse_renditions
from core.version import surecast_version
from core.web_assets import web_asset, web_content_type
from encoder.channel_state import PAST_EVENTS, EventSummary, channel_state, render_channel_state
from encoder.keys import EventLayout, channel_file_path, is_slate, player_asset_path
from encoder.viewer_page import OWN_ASSETS, PAGE_TEMPLATE, SHARED_PAGE_ASSETS, PageFile, ViewerPage, build_viewer_page
from journal.events import EventRow, EventState, EventStore
from journal.files import Journal, State

log = logging.getLogger(__name__)
INDEX_CHECK_EVERY = 0.5  # seconds between two looks whether the page's scripts are verified
VIEWER_DIR = Path(__file__).parent / "viewer"


def load_viewer_page() -> ViewerPage:
    """The installed viewers' page: its template and scripts (``encoder/viewer/``) and the shared ones."""
    assets = {name: (VIEWER_DIR / name).read_bytes() for name in OWN_ASSETS}
    assets.update({name: web_asset(name).read_bytes() for name in SHARED_PAGE_ASSETS})
    return build_viewer_page((VIEWER_DIR / PAGE_TEMPLATE).read_text(), assets, surecast_version())


@dataclass(frozen=True)
class ChannelTarget:
    """One destination, as the channel's files need it."""

    name: str
    prefix: str
    journal: Journal


@dataclass
class ChannelFiles:
    """The page and ``channel.json`` of one channel on ``targets``; ``step`` moves them on."""

    spool: Path
    channel: str
    store: EventStore
    targets: Sequence[ChannelTarget]
    notify: Callable[[], None]
    live_window_seconds: float | None
    segment_seconds: float
    page: ViewerPage = field(default_factory=load_viewer_page)
    _assets_sent: bool = field(default=False, init=False)
    _index_waiting: set[str] = field(default_factory=set, init=False)
    _state_due: bool = field(default=True, init=False)
    _problem: str = field(default="", init=False)
    _next_index_check: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self._index_waiting = {t.name for t in self.targets}

    def changed(self) -> None:
        """The channel's state changed (an event started, ended, got its VOD): publish it at the next step."""
        self._state_due = True

    def step(self) -> None:
        """Journal what is due: the page's scripts (once), ``index.html`` where they are verified, the state.

        A spool or journal error is logged once and tried again at the next step: viewers' files never stop
        an event."""
        try:
            if not self._assets_sent:
                for target in self.targets:
                    self.publish_assets(target)
                self._assets_sent = True
            if self._index_waiting and time.monotonic() >= self._next_index_check:
                self._next_index_check = time.monotonic() + INDEX_CHECK_EVERY
                for target in self.targets:
                    if target.name in self._index_waiting and self.index_ready(target):
                        self.publish_index(target)
                        self._index_waiting.discard(target.name)
            if self._state_due:
                self.publish_state()
                self._state_due = False
        except (sqlite3.Error, OSError) as exc:
            if str(exc) != self._problem:
                log.error("the viewers' page or channel.json could not be journaled, trying again: %s", exc)
            self._problem = str(exc)
        else:
            self._problem = ""

    # The page -------------------------------------------------------------------------------------------------

    def asset_keys(self, target: ChannelTarget) -> list[str]:
        return [player_asset_key(target.prefix, self.page.version, f.name) for f in self.page.assets]

    def publish_assets(self, target: ChannelTarget) -> list[UploadJob]:
        """Journal the page's scripts and styles not yet delivered to ``target``; the jobs journaled."""
        jobs = []
        for asset in self.page.assets:
            key = player_asset_key(target.prefix, self.page.version, asset.name)
            relative = player_asset_path(self.page.version, asset.name)
            path = self.spool / relative
            if not path.is_file() or path.stat().st_size != len(asset.data):
                write_durably(path, asset.data)
            job = self._job(target, key, relative, asset, version=0)
            if self._needed(target, job) and target.journal.record(job, priority=PRIORITY_LIVE):
                jobs.append(job)
        if jobs:
            self.notify()
        return jobs

    def index_ready(self, target: ChannelTarget) -> bool:
        """Whether every file ``index.html`` names is verified on ``target``."""
        keys = self.asset_keys(target)
        return len(target.journal.verified_among(keys)) == len(keys)

    def publish_index(self, target: ChannelTarget) -> UploadJob | None:
        """Journal ``index.html`` for ``target`` (call once ``index_ready``); None if it is there already."""
        return self._versioned(target, channel_page_key(target.prefix, self.channel), self.page.index)

    # The state ------------------------------------------------------------------------------------------------

    def publish_state(self) -> None:
        """Journal ``channel.json`` for every target whose state changed."""
        rows = self.store.recent(self.channel, PAST_EVENTS + 1)
        durations = {r.event: self._recorded_seconds(r) for r in rows if _ended(r)}
        for target in self.targets:
            summaries = [
                EventSummary(
                    r.event, r.started_at, r.ended_at, _ended(r), durations.get(r.event), self._has_replay(target, r)
                )
                for r in rows
            ]
            document = channel_state(
                self.channel,
                summaries[0] if summaries else None,
                summaries[1:],
                self.live_window_seconds,
                self.segment_seconds,
            )
            data = render_channel_state(document)
            state = PageFile(CHANNEL_STATE, data, web_content_type(CHANNEL_STATE), CHANNEL_STATE_CACHE_CONTROL)
            if self._versioned(target, channel_state_key(target.prefix, self.channel), state) is not None:
                current = document["current"]
                log.info(
                    "channel %s on %s: %s", self.channel, target.name,
                    f"event {current['event']} {current['state']}" if current else "no event yet",
                )  # fmt: skip

    def _has_replay(self, target: ChannelTarget, row: EventRow) -> bool:
        return target.journal.is_verified(EventLayout(target.prefix, row.event, self.channel).master_key(vod=True))

    def _recorded_seconds(self, row: EventRow) -> float | None:
        """What the event recorded, slates left out: its first rendition's segments."""
        try:
            first = parse_renditions(row.renditions)[0].name
        except (ValueError, IndexError):
            return None
        return sum(s.duration for s in self.store.load(row.event, first) if not is_slate(s.name))

    # Journaling -----------------------------------------------------------------------------------------------

    def _job(self, target: ChannelTarget, key: str, relative: str, page_file: PageFile, version: int) -> UploadJob:
        return UploadJob(
            path=relative,
            key=key,
            size=len(page_file.data),
            md5=md5_hex(page_file.data),
            content_type=page_file.content_type,
            cache_control=page_file.cache_control,
            kind=FileKind.OTHER,
            version=version,
            destination=target.journal.destination,
        )

    @staticmethod
    def _needed(target: ChannelTarget, job: UploadJob) -> bool:
        row = target.journal.get(job.key)
        return row is None or row.md5 != job.md5 or row.state == State.FAILED

    def _versioned(self, target: ChannelTarget, key: str, page_file: PageFile) -> UploadJob | None:
        """The next version of a file re-written under one key, journaled unless that content is there."""
        row = target.journal.get(key)
        if row is not None and row.md5 == md5_hex(page_file.data) and row.state != State.FAILED:
            return None
        version = row.version + 1 if row else 1
        relative = channel_file_path(self.channel, page_file.name, version, target.journal.destination)
        write_durably(self.spool / relative, page_file.data)
        job = self._job(target, key, relative, page_file, version)
        if not target.journal.record(job, priority=PRIORITY_PLAYLIST):
            return None
        self.notify()
        return job


def _ended(row: EventRow) -> bool:
    return row.state in (EventState.ENDED, EventState.ARCHIVED) or row.ended_at is not None
