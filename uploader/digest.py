"""Hash a spool file in one streaming pass: whole MD5, and per-part MD5s (and SHA-256s) for multipart."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from core.files import chunks
from uploader.parts import Part, plan_parts


@dataclass
class FileDigest:
    md5: str
    sha256: bytes | None
    part_md5s: list[bytes] = field(default_factory=list)
    part_sha256s: list[bytes] = field(default_factory=list)


@dataclass(frozen=True)
class PartDigest:
    part: Part
    md5: bytes
    sha256: bytes | None


class PartHasher:
    """Hash a spool file part after part, yielding each part's digest as soon as it is read (so its task can
    go out while the rest is hashed); ``md5`` is the whole file's once every part has been read."""

    def __init__(self, path: Path, size: int, part_size: int, sha256: bool) -> None:
        self.path, self.size, self.part_size, self.sha256 = path, size, part_size, sha256
        self._whole = hashlib.md5()  # noqa: S324 - the S3 ETag

    def __iter__(self) -> Iterator[PartDigest]:
        with self.path.open("rb") as f:
            for part in plan_parts(self.size, self.part_size):
                p_md5 = hashlib.md5()  # noqa: S324 - the S3 ETag
                p_sha = hashlib.sha256() if self.sha256 else None
                for chunk in chunks(f, part.size):
                    self._whole.update(chunk)
                    p_md5.update(chunk)
                    if p_sha:
                        p_sha.update(chunk)
                yield PartDigest(part, p_md5.digest(), p_sha.digest() if p_sha else None)

    @property
    def md5(self) -> str:
        return self._whole.hexdigest()


def digest_file(path: Path, size: int, part_size: int | None, sha256: bool) -> FileDigest:
    """Hash ``path`` a chunk at a time, so memory does not grow with the file."""
    whole_md5 = hashlib.md5()
    whole_sha = hashlib.sha256() if sha256 else None
    parts: list[Part | None] = list(plan_parts(size, part_size)) if part_size else [None]
    part_md5s: list[bytes] = []
    part_shas: list[bytes] = []
    with path.open("rb") as f:
        for part in parts:
            p_md5 = hashlib.md5()
            p_sha = hashlib.sha256() if sha256 else None
            for chunk in chunks(f, part.size if part else -1):
                whole_md5.update(chunk)
                p_md5.update(chunk)
                if whole_sha and p_sha:
                    whole_sha.update(chunk)
                    p_sha.update(chunk)
            if part:
                part_md5s.append(p_md5.digest())
                if p_sha:
                    part_shas.append(p_sha.digest())
    return FileDigest(whole_md5.hexdigest(), whole_sha.digest() if whole_sha else None, part_md5s, part_shas)
