"""Hash a spool file in one streaming pass: whole MD5, and per-part MD5s (and SHA-256s) for multipart."""

from __future__ import annotations

import hashlib
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
