"""`surecast bucket-setup`'s last step: the viewers' page on every destination, delivered now.

The page is journaled like any file (``encoder.channel``), then delivered in this process by the uploader's
own ``deliver``: the same PUT with Content-MD5, the same integrity test, the outcome recorded in the same
journal. Why not leave it to a worker: bucket-setup is run once, at a desk, usually before the stack runs
(no worker yet), and whoever runs it wants to open the link at once, or to see at once why it cannot be
opened. Whatever is not delivered now stays journaled: the first upload worker's reconciler publishes it.
The scripts go first; ``index.html`` is journaled only once they are verified (``ChannelFiles``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from core.contract import PRIMARY
from core.destinations import channel_page_key
from core.settings import Settings
from encoder.channel import ChannelFiles, ChannelTarget, load_viewer_page
from journal.events import EventStore
from journal.files import Journal, State
from uploader.deliver import Delivery, deliver
from uploader.errors import UploadError
from uploader.s3client import make_s3_client
from uploader.transfer import Target

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PageOutcome:
    destination: str
    delivered: bool
    detail: str  # why not, when not


def _delivery(settings: Settings, journal: Journal) -> Delivery:
    s3 = settings.s3
    return Delivery(
        client=make_s3_client(s3),
        journal=journal,
        spool_dir=Path(settings.spool.dir),
        target=Target(s3.bucket, s3.checksum_algorithm == "SHA256"),
        multipart_threshold=s3.multipart_threshold,
        part_size=s3.part_size,
        verify_stored=s3.verify == "head",
    )


def _deliver_unverified(journal: Journal, keys: list[str], delivery: Delivery) -> None:
    for key in keys:
        row = journal.get(key)
        if row is not None and row.state != State.VERIFIED:
            deliver(row.job(journal.destination), delivery)


def publish_page_now(settings: Settings) -> list[PageOutcome]:
    """Journal the viewers' page for every destination and deliver it now; one outcome per destination."""
    spool = Path(settings.spool.dir)
    cfg = settings.encoder
    page = load_viewer_page()
    primary = Journal(spool)
    outcomes = []
    try:
        store = EventStore(primary)
        for found in settings.destinations():
            served = settings.for_destination(found.name)
            journal = primary if found.name == PRIMARY else Journal(spool, destination=found.name)
            try:
                target = ChannelTarget(found.name, served.s3.prefix, journal)
                window = cfg.live_window * cfg.segment_seconds or None
                files = ChannelFiles(
                    spool, cfg.channel, store, [target], lambda: None, window, cfg.segment_seconds, page
                )
                delivery = _delivery(served, journal)
                files.publish_assets(target)
                _deliver_unverified(journal, files.asset_keys(target), delivery)
                if not files.index_ready(target):
                    outcomes.append(PageOutcome(found.name, False, "its scripts are not verified there"))
                    continue
                files.publish_index(target)
                _deliver_unverified(journal, [channel_page_key(target.prefix, cfg.channel)], delivery)
                outcomes.append(PageOutcome(found.name, True, ""))
            except UploadError as exc:
                log.warning("viewers' page on %s not delivered now: %s", found.name, exc)
                outcomes.append(PageOutcome(found.name, False, str(exc)))
            finally:
                if journal is not primary:
                    journal.close()
    finally:
        primary.close()
    return outcomes
