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


def link_origin(s3: S3Section) -> str:
    """Which settings the link's address comes from, in words: a link built from defaults nobody chose
    would send viewers to someone else's bucket, so it says which to set."""
    if s3.public_url:
        return "(its address is SURECAST_S3_PUBLIC_URL)"
    if "bucket" not in s3.model_fields_set:
        return (
            f"(SURECAST_S3_BUCKET is not set: this is the default bucket {s3.bucket!r} on "
            f"{s3.endpoint_url or 'AWS S3'}; set SURECAST_S3_BUCKET, and SURECAST_S3_ENDPOINT_URL unless the "
            "bucket is on AWS, or SURECAST_S3_PUBLIC_URL to a CDN's address)"
        )
    server = "SURECAST_S3_ENDPOINT_URL" if s3.endpoint_url else "SURECAST_S3_REGION"
    return (
        f"(the bucket's own address, from {server}, SURECAST_S3_BUCKET and SURECAST_S3_PREFIX; "
        "set SURECAST_S3_PUBLIC_URL to share a CDN's address instead)"
    )


def share_links(s3: S3Section, channel: str) -> ShareLinks:
    """The viewers' page of ``channel`` on a destination (its public address: SURECAST_S3_PUBLIC_URL, else
    the bucket's own), and the snippet embedding it."""
    url = channel_page_url(s3, channel)
    return ShareLinks(url, embed_snippet(url))
