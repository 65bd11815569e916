"""The browser files several pages serve, kept once in ``core/web/`` (package data): hls.js, vendored with
its licence, the failover loader (``failover.js``) and the glass-to-glass figure with each latency profile's
hls.js tuning (``latency.js``). The web player (`surecast player`), the console's
preview and the viewers' page in the bucket all use these copies; ``web_asset`` gives a file's path.
"""

from __future__ import annotations

from pathlib import Path

WEB_DIR = Path(__file__).parent / "web"
HLS_JS = "hls.min.js"
HLS_JS_LICENSE = "hls.js-LICENSE.txt"
FAILOVER_JS = "failover.js"
LATENCY_JS = "latency.js"
SHARED_ASSETS = (HLS_JS, HLS_JS_LICENSE, FAILOVER_JS, LATENCY_JS)

# Content types of the files a page is made of, by extension (without the dot).
WEB_CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "json": "application/json",
    "txt": "text/plain; charset=utf-8",
    "svg": "image/svg+xml",
}


def web_asset(name: str) -> Path:
    """The path of one shared browser file (one of ``SHARED_ASSETS``)."""
    if name not in SHARED_ASSETS:
        raise ValueError(f"{name!r} is not a shared browser file; they are {', '.join(SHARED_ASSETS)}")
    return WEB_DIR / name


def web_content_type(name: str) -> str:
    """The content type of a page's file by its extension; ``application/octet-stream`` if unknown."""
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return WEB_CONTENT_TYPES.get(extension, "application/octet-stream")
