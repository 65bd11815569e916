"""Watches a live event's playlists over HTTP, as players reload them, and checks every new version against
tests/support/hls_rules.py.

A thread fetches the master playlists and every live media playlist every ``interval`` seconds (anonymously,
as a viewer reads the bucket). Each version seen for the first time is parsed strictly and checked on its own,
against the versions before it and against the other renditions; every URI it lists is asked for (HEAD) right
then, and a master seen for the first time has the playlists it names read at once. Violations are collected,
never raised in the thread: the test asserts on them after the event.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urljoin

import urllib3

from tests.support.hls_rules import (
    EdgeWaits,
    Media,
    ProgramTimes,
    Reloads,
    describe,
    master_violations,
    media_violations,
    parse_strict,
    read_media,
    variant_attributes,
    version_violations,
    warm_violations,
)

POLL_INTERVAL = 0.1
HTTP_TIMEOUT = urllib3.Timeout(connect=2.0, read=5.0)


@dataclass
class Watched:
    """One playlist URL's history as the watcher saw it."""

    url: str
    versions: int = 0
    text: str | None = None
    media: Media | None = None
    reloads: Reloads = field(default_factory=Reloads)
    waits: EdgeWaits = field(default_factory=EdgeWaits)


class Http:
    """Anonymous GET and HEAD on the bucket, as a viewer's player reads it."""

    def __init__(self) -> None:
        self.pool = urllib3.PoolManager(timeout=HTTP_TIMEOUT, retries=False)

    def get(self, url: str) -> tuple[int, bytes]:
        response = self.pool.request("GET", url)
        return response.status, response.data

    def text(self, url: str) -> str | None:
        """The body of ``url``, or None where it is not there yet (404)."""
        status, body = self.get(url)
        if status == 404:
            return None
        if status != 200:
            raise AssertionError(f"GET {url}: HTTP {status}")
        return body.decode()

    def head(self, url: str) -> tuple[int, int | None]:
        """(status, Content-Length) of ``url``."""
        response = self.pool.request("HEAD", url)
        length = response.headers.get("Content-Length")
        return response.status, int(length) if length is not None else None


class PlaylistWatch:
    """Checks every version of ``media_urls`` and ``master_urls`` (and of any playlist a master names)."""

    def __init__(self, media_urls: Sequence[str], master_urls: Sequence[str], interval: float = POLL_INTERVAL) -> None:
        self.http = Http()
        self.media = {url: Watched(url) for url in media_urls}
        self.masters = {url: Watched(url) for url in master_urls}
        self.interval = interval
        self.violations: list[str] = []
        self.programs = ProgramTimes()
        self.sizes: dict[str, int] = {}  # every URI a playlist listed, by absolute URL, with its Content-Length
        self.durations: dict[str, float] = {}  # each segment's EXTINF, by absolute URL
        self.rounds = 0
        self._stop = threading.Event()
        self._failure: BaseException | None = None

    # The loop --------------------------------------------------------------------------------------------

    @contextmanager
    def running(self) -> Iterator[PlaylistWatch]:
        thread = threading.Thread(target=self._run, name="playlist-watch", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(10)
        if self._failure is not None:
            raise AssertionError(f"the playlist watcher failed: {self._failure!r}") from self._failure

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                self.round()
        except (AssertionError, OSError, urllib3.exceptions.HTTPError, ValueError) as exc:
            self._failure = exc

    def round(self) -> None:
        """One look at every playlist: masters first, so the playlists a new master names are read after it."""
        for watched in list(self.masters.values()):
            self._look(watched, master=True)
        for watched in list(self.media.values()):
            self._look(watched, master=False)
        self.rounds += 1

    def _look(self, watched: Watched, master: bool) -> None:
        text = self.http.text(watched.url)
        if text is None or text == watched.text:
            return
        at = time.monotonic()
        first = watched.text is None
        watched.text = text
        watched.versions += 1
        try:
            parsed = parse_strict(text)
        except ValueError as exc:
            self.violations += describe([str(exc)], watched.url, text)
            return
        problems = version_violations(text)
        if master:
            problems += master_violations(text, parsed)
            uris = [urljoin(watched.url, uri) for _, uri in variant_attributes(text)]
            if first:
                problems += warm_violations({uri: self._media_now(uri) for uri in uris})
            for uri in uris:
                self.media.setdefault(uri, Watched(uri))
        else:
            media = read_media(parsed)
            watched.media = media
            problems += media_violations(media)
            problems += watched.reloads.observe(media)
            problems += self.programs.observe(watched.url, media.segments)
            watched.waits.observe(media, at)
            uris = [urljoin(watched.url, s.uri) for s in media.segments]
            self.durations.update(zip(uris, (s.duration for s in media.segments), strict=True))
        problems += self.missing(uris)
        self.violations += describe(problems, watched.url, text)

    def _media_now(self, url: str) -> Media | None:
        text = self.http.text(url)
        return read_media(parse_strict(text)) if text is not None else None

    def missing(self, urls: Sequence[str]) -> list[str]:
        """The URIs of ``urls`` that do not answer 200 now (each asked once: an object, once there, stays)."""
        problems = []
        for url in urls:
            if url in self.sizes:
                continue
            status, length = self.http.head(url)
            if status == 200 and length is not None:
                self.sizes[url] = length
            else:
                problems.append(f"{url}: HTTP {status} when the playlist listing it was first seen")
        return problems

    # Figures ---------------------------------------------------------------------------------------------

    def rates(self, playlist_url: str) -> dict[str, float]:
        """Each segment a live playlist listed (any version), with its bit rate: size x 8 / EXTINF."""
        folder = playlist_url.rsplit("/", 1)[0] + "/"
        return {
            url: self.sizes[url] * 8 / duration
            for url, duration in self.durations.items()
            if url.startswith(folder) and url in self.sizes and duration > 0
        }
