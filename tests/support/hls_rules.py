"""HLS conformance rules, read by an independent parser (the `m3u8` package in strict mode). Pure.

The encoder renders its playlists with core/hls.py; these rules read them back the way a third party would,
with nothing from the encoder, and return each violation as a sentence that names the rule. Three kinds:

- one playlist version on its own (``media_violations``, ``master_violations``, ``version_violations``);
- a playlist across its reloads (``Reloads``: RFC 8216 6.2.1 and 6.2.2, what a live player relies on);
- across renditions (``ProgramTimes``: one capture time per segment number everywhere).

``EdgeWaits`` measures how long a live playlist went without a new segment. Nothing here asks a server:
tests/support/hls_watch.py fetches, these functions judge.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import m3u8

PDT_TOLERANCE = 0.005  # seconds: PDT[i+1] against PDT[i] + EXTINF[i] (both written to the millisecond)
WARM_TARGETS = 3  # RFC 8216 6.3.3: a player starts no closer than three target durations from the end
VARIANT_ATTRIBUTES = ("BANDWIDTH", "AVERAGE-BANDWIDTH", "CODECS", "RESOLUTION", "FRAME-RATE")
_SEGMENT_NUMBER = re.compile(r"(?:^|/)seg_(\d+)\.(?:ts|m4s)$")
_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')


@dataclass(frozen=True)
class Segment:
    """One segment as the independent parser read it."""

    msn: int  # its media sequence number
    uri: str
    duration: float
    discontinuity: bool
    discontinuity_number: int  # EXT-X-DISCONTINUITY-SEQUENCE plus the discontinuities up to it
    program_time: float | None  # its own EXT-X-PROGRAM-DATE-TIME, seconds since the epoch


@dataclass(frozen=True)
class Media:
    target: int
    media_sequence: int
    discontinuity_sequence: int
    segments: tuple[Segment, ...]
    ended: bool
    vod: bool
    independent: bool

    @property
    def listed_seconds(self) -> float:
        return sum(s.duration for s in self.segments)

    @property
    def last_msn(self) -> int:
        return self.media_sequence + len(self.segments) - 1


def parse_strict(text: str) -> m3u8.M3U8:
    """``text`` read by `m3u8` in strict mode; ValueError with the parser's complaint when it refuses.

    (`m3u8.loads` takes no ``strict`` in m3u8 6.0: the model's constructor does.)
    """
    try:
        return m3u8.M3U8(text, strict=True)
    # m3u8's strict mode raises a bare Exception (a list of version errors) as well as its ParseError.
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"m3u8 (strict) refused it: {exc}") from exc


def read_media(parsed: m3u8.M3U8) -> Media:
    sequence = int(parsed.media_sequence or 0)
    disc_sequence = int(parsed.discontinuity_sequence or 0)
    segments = []
    number = disc_sequence
    for i, seg in enumerate(parsed.segments):
        number += 1 if seg.discontinuity else 0
        pdt = seg.program_date_time.timestamp() if seg.program_date_time else None
        segments.append(Segment(sequence + i, seg.uri, float(seg.duration), bool(seg.discontinuity), number, pdt))
    return Media(
        int(parsed.target_duration or 0),
        sequence,
        disc_sequence,
        tuple(segments),
        bool(parsed.is_endlist),
        str(parsed.playlist_type or "").upper() == "VOD",
        bool(parsed.is_independent_segments),
    )


def minimum_version(text: str) -> int:
    """The lowest EXT-X-VERSION the tags used need (RFC 8216 7; draft-pantos-hls-rfc8216bis 8 for 8 and 9)."""
    lines = text.splitlines()
    iframes_only = "#EXT-X-I-FRAMES-ONLY" in lines
    needed = 1
    for line in lines:
        tag = line.split(":", 1)[0]
        if tag == "#EXT-X-KEY":
            if "KEYFORMAT" in line or "METHOD=SAMPLE-AES" in line:
                needed = max(needed, 5)
            elif "IV=" in line:
                needed = max(needed, 2)
        elif tag == "#EXTINF" and "." in line.split(":", 1)[1].split(",", 1)[0]:
            needed = max(needed, 3)
        elif tag in ("#EXT-X-BYTERANGE", "#EXT-X-I-FRAMES-ONLY"):
            needed = max(needed, 4)
        elif tag == "#EXT-X-MAP":
            needed = max(needed, 5 if iframes_only else 6)
        elif tag == "#EXT-X-MEDIA" and 'INSTREAM-ID="SERVICE' in line:
            needed = max(needed, 7)
        elif tag == "#EXT-X-DEFINE":
            needed = max(needed, 8)
        elif tag == "#EXT-X-SKIP":
            needed = max(needed, 9)
    return needed


def version_violations(text: str) -> list[str]:
    """One EXT-X-VERSION, at least what the tags used need."""
    found = [line for line in text.splitlines() if line.startswith("#EXT-X-VERSION")]
    if len(found) > 1:
        return [f"EXT-X-VERSION appears {len(found)} times"]
    declared = int(found[0].split(":", 1)[1]) if found else 1
    needed = minimum_version(text)
    if declared < needed:
        return [f"EXT-X-VERSION {declared}, but the tags used need {needed}"]
    return []


def media_violations(media: Media) -> list[str]:
    """The rules one media playlist version keeps on its own."""
    problems = []
    if not media.independent:
        problems.append("no EXT-X-INDEPENDENT-SEGMENTS")
    for s in media.segments:
        # RFC 8216 4.3.3.1: each EXTINF, rounded to the nearest integer, at most the target duration.
        if math.floor(s.duration + 0.5) > media.target:
            problems.append(f"{s.uri}: EXTINF {s.duration:.3f} above TARGETDURATION {media.target}")
        if s.program_time is None:
            problems.append(f"{s.uri}: no EXT-X-PROGRAM-DATE-TIME")
    for before, after in zip(media.segments, media.segments[1:], strict=False):
        if after.discontinuity or before.program_time is None or after.program_time is None:
            continue
        expected = before.program_time + before.duration
        if abs(after.program_time - expected) > PDT_TOLERANCE:
            problems.append(
                f"{after.uri}: PROGRAM-DATE-TIME {after.program_time - expected:+.3f} s off the end of {before.uri} "
                "without a discontinuity"
            )
    return problems


def vod_violations(media: Media) -> list[str]:
    """What a VOD playlist adds: its type, ENDLIST, and only what the source sent (no slate)."""
    problems = [] if media.vod else ["no EXT-X-PLAYLIST-TYPE:VOD"]
    if not media.ended:
        problems.append("no EXT-X-ENDLIST")
    problems += [f"{s.uri}: a slate in the VOD" for s in media.segments if "slate_" in s.uri]
    return problems


def variant_attributes(text: str) -> list[tuple[dict[str, str], str]]:
    """(attributes as written, URI) of each EXT-X-STREAM-INF of a master playlist."""
    lines = text.splitlines()
    found = []
    for i, line in enumerate(lines):
        if line.startswith("#EXT-X-STREAM-INF:"):
            attributes = {k: v.strip('"') for k, v in _ATTRIBUTE.findall(line.split(":", 1)[1])}
            uri = next((u for u in lines[i + 1 :] if u and not u.startswith("#")), "")
            found.append((attributes, uri))
    return found


def master_violations(text: str, parsed: m3u8.M3U8) -> list[str]:
    """Every variant says what a player chooses by; AVERAGE-BANDWIDTH never above BANDWIDTH."""
    problems = [] if parsed.is_independent_segments else ["no EXT-X-INDEPENDENT-SEGMENTS"]
    variants = variant_attributes(text)
    if not variants or len(variants) != len(parsed.playlists):
        problems.append(f"{len(parsed.playlists)} variant(s) parsed, {len(variants)} EXT-X-STREAM-INF written")
    for attributes, uri in variants:
        missing = [a for a in VARIANT_ATTRIBUTES if not attributes.get(a)]
        if missing:
            problems.append(f"{uri}: no {', '.join(missing)}")
        peak, average = attributes.get("BANDWIDTH"), attributes.get("AVERAGE-BANDWIDTH")
        if peak and average and int(average) > int(peak):
            problems.append(f"{uri}: AVERAGE-BANDWIDTH {average} above BANDWIDTH {peak}")
    return problems


def warm_violations(listed: Mapping[str, Media | None]) -> list[str]:
    """A master may name live playlists only once each holds three target durations (``listed``: each
    variant URI's playlist as it stood when the master was first seen; None if it did not answer)."""
    problems = []
    for uri, media in listed.items():
        if media is None:
            problems.append(f"{uri}: not there when the master was")
        elif not media.ended and media.listed_seconds < WARM_TARGETS * media.target:
            problems.append(
                f"{uri}: {media.listed_seconds:.3f} s listed when the master appeared, under "
                f"{WARM_TARGETS} x TARGETDURATION {media.target}"
            )
    return problems


def bandwidth_violations(declared: int, rates: Mapping[str, float], average: int | None = None) -> list[str]:
    """BANDWIDTH at least every segment's bit rate (size x 8 / EXTINF); AVERAGE-BANDWIDTH at most BANDWIDTH."""
    problems = [
        f"{uri}: {rate:.0f} bit/s, above BANDWIDTH {declared}" for uri, rate in rates.items() if rate > declared
    ]
    if average is not None and average > declared:
        problems.append(f"AVERAGE-BANDWIDTH {average} above BANDWIDTH {declared}")
    return problems


@dataclass
class Reloads:
    """One live playlist across its reloads: media and discontinuity sequences never go back, and a media
    sequence number keeps its URI and its discontinuity number (RFC 8216 6.2.1, 6.2.2)."""

    media_sequence: int = -1
    discontinuity_sequence: int = -1
    uris: dict[int, str] = field(default_factory=dict)
    discontinuity_numbers: dict[int, int] = field(default_factory=dict)

    def observe(self, media: Media) -> list[str]:
        problems = []
        if media.media_sequence < self.media_sequence:
            problems.append(f"EXT-X-MEDIA-SEQUENCE went back from {self.media_sequence} to {media.media_sequence}")
        if media.discontinuity_sequence < self.discontinuity_sequence:
            problems.append(
                f"EXT-X-DISCONTINUITY-SEQUENCE went back from {self.discontinuity_sequence} "
                f"to {media.discontinuity_sequence}"
            )
        self.media_sequence = max(self.media_sequence, media.media_sequence)
        self.discontinuity_sequence = max(self.discontinuity_sequence, media.discontinuity_sequence)
        for s in media.segments:
            uri = self.uris.setdefault(s.msn, s.uri)
            if uri != s.uri:
                problems.append(f"media sequence number {s.msn} was {uri}, now {s.uri}")
            number = self.discontinuity_numbers.setdefault(s.msn, s.discontinuity_number)
            if number != s.discontinuity_number:
                problems.append(f"{s.uri}: discontinuity number {number}, now {s.discontinuity_number}")
        return problems


@dataclass
class ProgramTimes:
    """Segment N (``seg_N``) has one EXT-X-PROGRAM-DATE-TIME in every rendition and every playlist."""

    first: dict[int, tuple[float, str]] = field(default_factory=dict)  # N -> (PDT, the playlist it was seen in)

    def observe(self, where: str, segments: Sequence[Segment]) -> list[str]:
        problems = []
        for s in segments:
            match = _SEGMENT_NUMBER.search(s.uri)
            if match is None or s.program_time is None:
                continue
            pdt, seen_in = self.first.setdefault(int(match.group(1)), (s.program_time, where))
            if abs(pdt - s.program_time) > 0.0005:
                problems.append(
                    f"seg_{match.group(1)}: PROGRAM-DATE-TIME {s.program_time - pdt:+.3f} s in {where} from {seen_in}"
                )
        return problems


@dataclass
class EdgeWaits:
    """How long a live playlist went without a new segment while the event was live: the longest time between
    two versions that added one (``at``: when each version was first seen), from its first segment on. The
    wait into the version with ENDLIST (the event's end: FFmpeg stopped, its last partial segment) is kept
    apart as ``into_end``."""

    last_msn: int = -1
    added_at: float | None = None
    longest: float = 0.0
    longest_before: int = -1  # the media sequence number that ended the longest wait
    ended: bool = False
    into_end: float = 0.0

    def observe(self, media: Media, at: float) -> None:
        if self.ended or not media.segments:
            return
        if media.last_msn > self.last_msn:
            wait = at - self.added_at if self.added_at is not None else 0.0
            if media.ended:
                self.into_end = wait
            elif wait > self.longest:
                self.longest, self.longest_before = wait, media.last_msn
            self.last_msn, self.added_at = media.last_msn, at
        self.ended = media.ended


def describe(problems: Sequence[str], key: str, text: str) -> list[str]:
    """Violations of one playlist version, each with the key, and the text once."""
    return [f"{key}: {p}" for p in problems] + ([f"{key} was:\n{text}"] if problems else [])
