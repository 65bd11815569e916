"""The rows of the ``files`` table as the rest of the code sees them."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from enum import StrEnum

from core.contract import PRIMARY, FileKind, PartJob, UploadJob


class State(StrEnum):
    QUEUED = "queued"
    UPLOADING = "uploading"
    VERIFIED = "verified"
    FAILED = "failed"


@dataclass(frozen=True)
class FileRow:
    key: str
    path: str
    size: int
    md5: str
    content_type: str
    cache_control: str
    kind: FileKind
    version: int
    priority: int
    state: State
    attempts: int
    retries: int
    integrity_reuploads: int
    last_error: str | None
    created_at: float
    updated_at: float
    published_at: float | None
    started_at: float | None
    verified_at: float | None
    upload_id: str | None
    part_size: int | None
    lease_owner: str | None = None
    lease_until: float | None = None
    next_attempt_at: float | None = None
    streak: int = 0
    suspects: int = 0
    failures: int = 0

    def job(self, destination: str = PRIMARY) -> UploadJob:
        """The task payload that delivers this file to ``destination`` (whose journal this row is of)."""
        return UploadJob(
            destination=destination,
            path=self.path,
            key=self.key,
            size=self.size,
            md5=self.md5,
            content_type=self.content_type,
            cache_control=self.cache_control,
            kind=self.kind,
            version=self.version,
        )


@dataclass(frozen=True)
class Totals:
    files: dict[str, int]
    waiting_files: int
    waiting_bytes: int
    oldest_unverified_at: float | None
    retries: int
    integrity_reuploads: int


@dataclass(frozen=True)
class PartRow:
    """A part of a big file waiting to be sent (or being sent), with what its task needs of the file."""

    key: str
    upload_id: str
    number: int
    first_byte: int
    size: int
    md5: str
    sha256: str | None
    path: str
    version: int
    file_md5: str
    priority: int

    def job(self, destination: str = PRIMARY) -> PartJob:
        """The task payload that sends this part to ``destination`` (whose journal this row is of)."""
        return PartJob(
            destination=destination,
            path=self.path,
            key=self.key,
            version=self.version,
            md5=self.file_md5,
            upload_id=self.upload_id,
            part=self.number,
            first_byte=self.first_byte,
            size=self.size,
            part_md5=self.md5,
            part_sha256=self.sha256,
        )

    @property
    def ident(self) -> tuple[str, str, int]:
        return (self.key, self.upload_id, self.number)


def row_of(row: sqlite3.Row) -> FileRow:
    data = dict(row)
    data["kind"] = FileKind(data["kind"])
    data["state"] = State(data["state"])
    return FileRow(**data)
