"""The viewers' page as files to publish: ``index.html`` for the channel's folder, and its scripts and
styles for a folder named by their version. Pure: the caller reads the files (``encoder.channel``).

The version is surecast's release plus a hash of every script and style, so a changed page goes to a new
folder: a browser or CDN holding the old ``index.html`` still finds the old files (never rewritten, cached
for a year), and the new ``index.html`` never meets a cached old script. Every address in the page is
relative (``../_player/<version>/viewer.js``), so it works from the bucket's own address, a CDN or a
sub-path.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from core.contract import IMMUTABLE_CACHE_CONTROL, PAGE_CACHE_CONTROL
from core.destinations import player_asset_key, player_asset_uri
from core.web_assets import FAILOVER_JS, HLS_JS, HLS_JS_LICENSE, web_content_type

PAGE_TEMPLATE = "index.html"  # in encoder/viewer/, naming each file it loads as {{name}}
OWN_ASSETS = ("viewer.js", "viewer.css")
# The shared files (core/web) the page loads. Not latency.js: the page shows no glass-to-glass figure (on a
# viewer's own clock it would be off by that clock's error) and tunes hls.js itself (viewer.js: ?delay=).
SHARED_PAGE_ASSETS = (HLS_JS, HLS_JS_LICENSE, FAILOVER_JS)
PAGE_ASSETS = OWN_ASSETS + SHARED_PAGE_ASSETS
HASH_CHARS = 12
_NAMED = re.compile(r"\{\{([A-Za-z0-9._-]+)\}\}")
_VERSION_SAFE = re.compile(r"[^A-Za-z0-9.+-]")


@dataclass(frozen=True)
class PageFile:
    name: str
    data: bytes
    content_type: str
    cache_control: str


@dataclass(frozen=True)
class ViewerPage:
    version: str
    assets: tuple[PageFile, ...]  # for <prefix>/_player/<version>/
    index: PageFile  # for <prefix>/<channel>/index.html


def page_version(release: str, assets: Mapping[str, bytes]) -> str:
    """``<release>-<hash of the assets>``: a new folder whenever any script or style changes."""
    digest = hashlib.sha256()
    for name in sorted(assets):
        digest.update(f"{name}\0{len(assets[name])}\0".encode())
        digest.update(assets[name])
    return f"{_VERSION_SAFE.sub('-', release)}-{digest.hexdigest()[:HASH_CHARS]}"


def render_index(template: str, version: str, names: set[str]) -> str:
    """The page with each ``{{name}}`` replaced by that file's relative address; an unknown name is an error."""

    def address(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            raise ValueError(f"the page names {name!r}, which is not one of its files ({', '.join(sorted(names))})")
        return player_asset_uri(version, name)

    return _NAMED.sub(address, template)


def build_viewer_page(template: str, assets: Mapping[str, bytes], release: str) -> ViewerPage:
    """The page's files: its scripts and styles (immutable) and ``index.html`` naming them (short cache)."""
    version = page_version(release, assets)
    player_asset_key("", version, PAGE_TEMPLATE)  # a version that cannot be a key fails here, not in the bucket
    files = tuple(
        PageFile(name, assets[name], web_content_type(name), IMMUTABLE_CACHE_CONTROL) for name in sorted(assets)
    )
    index = render_index(template, version, set(assets)).encode()
    return ViewerPage(
        version, files, PageFile(PAGE_TEMPLATE, index, web_content_type(PAGE_TEMPLATE), PAGE_CACHE_CONTROL)
    )
