"""Read FFmpeg's own (local) playlist: the segments it has finished. Pure.

FFmpeg lists a segment only after closing it and renaming it from ``.tmp``, and writes the playlist
itself through a temporary file, so what is listed here is complete. A last entry without its URI line
(the file caught mid-write by a non-POSIX filesystem) is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

from encoder.keys import segment_seq


@dataclass(frozen=True)
class LocalSegment:
    name: str
    seq: int
    duration: float


@dataclass(frozen=True)
class LocalPlaylist:
    segments: tuple[LocalSegment, ...]
    init_name: str | None
    ended: bool


def parse_local_playlist(text: str) -> LocalPlaylist:
    """Complete segments FFmpeg lists, in order; lines that are not ours are skipped."""
    segments: list[LocalSegment] = []
    duration: float | None = None
    init: str | None = None
    ended = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#EXTINF:"):
            try:
                duration = float(line[len("#EXTINF:") :].split(",", 1)[0])
            except ValueError:
                duration = None
        elif line.startswith("#EXT-X-MAP:"):
            init = _attribute(line, "URI")
        elif line.startswith("#EXT-X-ENDLIST"):
            ended = True
        elif line and not line.startswith("#") and duration is not None:
            name = line.rsplit("/", 1)[-1]
            seq = segment_seq(name)
            if seq is not None:
                segments.append(LocalSegment(name, seq, duration))
            duration = None
    return LocalPlaylist(tuple(segments), init, ended)


def _attribute(line: str, name: str) -> str | None:
    """A quoted attribute of a tag line: ``URI="init_0.mp4"``."""
    marker = f'{name}="'
    start = line.find(marker)
    if start < 0:
        return None
    end = line.find('"', start + len(marker))
    return line[start + len(marker) : end] if end > 0 else None
