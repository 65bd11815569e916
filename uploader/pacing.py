"""How long to wait for S3's answer to a request of N bytes, from the upload rate measured so far. Pure.

boto3 hands the whole body to the socket, then waits for the answer: on a slow link the kernel's buffer
is still draining when the read timeout starts counting. A fixed short timeout then re-sends the same
PUT from byte 0 again and again; so the timeout grows with the size and the measured rate.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_SAMPLE_BYTES = 256 * 1024  # smaller uploads measure the round trip, not the rate
SMOOTHING = 0.3
HEADROOM = 3.0  # the rate may drop by this much during one request before it times out
MAX_STEPS = 6  # at most 64 times the configured read timeout


@dataclass
class UploadRate:
    """The smoothed rate of this process's uploads, bytes per second (0 until measured)."""

    bytes_per_second: float = 0.0

    def note(self, sent: int, seconds: float) -> None:
        if sent < MIN_SAMPLE_BYTES or seconds <= 0:
            return
        sample = sent / seconds
        if not self.bytes_per_second:
            self.bytes_per_second = sample
        else:
            self.bytes_per_second += SMOOTHING * (sample - self.bytes_per_second)


def read_timeout_for(nbytes: int, rate: float, base: float) -> float:
    """``base`` doubled until it covers sending ``nbytes`` at a third of ``rate`` (at most 64 x base).

    Steps rather than exact values, so a process needs only a few S3 clients (one per step).
    """
    if rate <= 0:
        return base
    needed = HEADROOM * nbytes / rate + base / 2
    timeout = base
    for _ in range(MAX_STEPS):
        if timeout >= needed:
            break
        timeout *= 2
    return timeout
