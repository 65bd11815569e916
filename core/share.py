"""What a venue shares with its viewers: the link to its viewers' page, and a snippet that embeds the page
in the church's own website. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from core.destinations import channel_page_url
from core.s3_section import S3Section

EMBED_TITLE = "Live broadcast"


@dataclass(frozen=True)
class ShareLinks:
    url: str
    iframe: str


def embed_snippet(url: str, title: str = EMBED_TITLE) -> str:
    """An iframe that shows the viewers' page at ``url`` within another page, as wide as its column."""
    return (
        f'<iframe src="{escape(url)}" title="{escape(title)}" '
        'style="width:100%;max-width:960px;aspect-ratio:4/3;border:0" '
        'allow="autoplay; fullscreen; picture-in-picture" allowfullscreen></iframe>'
    )


def share_links(s3: S3Section, channel: str) -> ShareLinks:
    """The viewers' page of ``channel`` on a destination (its public address: SURECAST_S3_PUBLIC_URL, else
    the bucket's own), and the snippet embedding it."""
    url = channel_page_url(s3, channel)
    return ShareLinks(url, embed_snippet(url))
