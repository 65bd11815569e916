"""S3 multipart limits and part-size maths. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024
MIN_PART_SIZE = 5 * MIB
MAX_PART_SIZE = 5 * 1024 * MIB
MAX_PARTS = 10_000
MAX_SINGLE_PUT = 5 * 1024 * MIB
# A multipart file of at most this many parts is sent by its own task, part after part (one task, one read);
# only a bigger one is split into a task per part. Splitting costs a task per part, their journal rows and a
# second read of the file: among many files it slowed the worker (every process already busy), and it pays only
# where one big file would otherwise leave the other processes idle. 16 parts: 128 MiB at the default 8 MiB.
SPLIT_ABOVE_PARTS = 16


@dataclass(frozen=True)
class Part:
    number: int  # 1-based, as S3 numbers parts
    offset: int
    size: int


def uses_multipart(size: int, threshold: int) -> bool:
    """Whether a file of ``size`` bytes goes up in parts (at or above threshold, or too big for one PUT)."""
    return size >= threshold or size > MAX_SINGLE_PUT


def splits_into_tasks(size: int, part_size: int) -> bool:
    """Whether a multipart file of ``size`` bytes in ``part_size`` parts goes out as a task per part."""
    return -(-size // part_size) > SPLIT_ABOVE_PARTS


def choose_part_size(size: int, wanted: int) -> int:
    """The part size to use: ``wanted`` raised to S3's minimum, and doubled until the file fits 10,000 parts."""
    part = max(wanted, MIN_PART_SIZE)
    while -(-size // part) > MAX_PARTS:
        part *= 2
    if part > MAX_PART_SIZE:
        raise ValueError(f"a file of {size} bytes cannot be uploaded in {MAX_PARTS} parts of at most 5 GiB")
    return part


def plan_parts(size: int, part_size: int) -> list[Part]:
    """Split ``size`` bytes into consecutive parts; a zero-byte file still gets one (empty) part."""
    if size == 0:
        return [Part(1, 0, 0)]
    return [Part(i + 1, offset, min(part_size, size - offset)) for i, offset in enumerate(range(0, size, part_size))]
