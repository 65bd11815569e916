"""The share box of the console and `surecast share`: the viewers' link on each destination, the snippet that
embeds the page in a website, and a QR code of the link (drawn by segno: SVG for the page, text for a
terminal)."""

from __future__ import annotations

import functools
import io
from typing import Any

import segno

from core.contract import PRIMARY
from core.settings import Settings
from core.share import share_links

QR_ERROR_LEVEL = "m"  # survives a smudged or partly covered print-out
QR_SCALE = 4
QR_BORDER = 2


def share_info(settings: Settings) -> dict[str, Any]:
    """The primary's link and snippet, and the link on each other destination (for when the primary is down)."""
    channel = settings.encoder.channel
    links = share_links(settings.s3, channel)
    others = [
        {"destination": d.name, "url": share_links(d.s3, channel).url}
        for d in settings.destinations()
        if d.name != PRIMARY
    ]
    return {"url": links.url, "iframe": links.iframe, "others": others}


@functools.lru_cache(maxsize=8)
def qr_svg(url: str) -> bytes:
    """The QR code of ``url`` as an SVG document (black on white, a quiet zone around it)."""
    out = io.BytesIO()
    segno.make(url, error=QR_ERROR_LEVEL).save(
        out, kind="svg", scale=QR_SCALE, border=QR_BORDER, title="QR code of the viewers' link", dark="#000",
        light="#fff",
    )  # fmt: skip
    return out.getvalue()


def qr_text(url: str) -> str:
    """The QR code of ``url`` drawn with block characters, for a terminal."""
    out = io.StringIO()
    segno.make(url, error=QR_ERROR_LEVEL).terminal(out, compact=True, border=QR_BORDER)
    return out.getvalue()
