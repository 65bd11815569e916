"""What a soak run streams and through what link: the full 10-minute profile and the 2-minute smoke. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from tests.support.stack import TEST_ENV

MBIT = 1_000_000 / 8  # bytes per second in one Mbit/s


@dataclass(frozen=True)
class SoakConfig:
    """One soak run: the event, the ladder, the uplink, the workers and the upload limits."""

    duration: float
    renditions: str
    segment_seconds: float = 2.0
    framerate: int = 25
    preset: str = "ultrafast"
    policy: str = "complete"
    # The venue uplink: the fault proxy throttles uploads to this between faults.
    uplink_mbps: float = 20.0
    # The throttle fault: below the stream's bitrate.
    throttle_mbps: float = 4.0
    workers: int = 2
    concurrency: int = 2
    # SURECAST_* upload limits; they decide how long a killed worker's task waits (visibility timeout).
    limits: dict[str, str] = field(default_factory=lambda: dict(TEST_ENV))
    # The disk-low fault: the encoder's free-space floor sits this far below the free space at start,
    # and a preallocated filler file pushes free space under it for the window.
    disk_margin_bytes: int = 4 * 2**30
    disk_overshoot_bytes: int = 512 * 2**20
    poll_interval: float = 0.25
    final_wait: float = 300.0

    @property
    def uplink_bytes_per_sec(self) -> int:
        return int(self.uplink_mbps * MBIT)

    @property
    def throttle_bytes_per_sec(self) -> int:
        return int(self.throttle_mbps * MBIT)


# The test suite's short limits (so a SIGKILLed worker's task is back after 33 s, not 760 s), but S3
# connect/read timeouts at their production defaults: with the tests' 5 s read timeout, an upload slower
# than 5 s on the throttled link times out while the body sits in socket buffers, and starts over.
FULL = SoakConfig(
    duration=600,
    renditions="1280x720@4000k,854x480@2000k",
    limits={**TEST_ENV, "SURECAST_S3_CONNECT_TIMEOUT": "5", "SURECAST_S3_READ_TIMEOUT": "30"},
)

# The smoke in the default test run: every fault, 100 s, a small ladder (about 0.6 Mbit/s) so the
# 2-core CI machine stays free, and upload limits short enough that a SIGKILLed worker's task is back
# within the run (visibility timeout 17 s instead of 33 s).
SMOKE = SoakConfig(
    duration=100,
    renditions="320x180@200k,256x144@100k",
    uplink_mbps=2.0,
    throttle_mbps=0.4,
    workers=2,
    concurrency=1,
    limits={
        **TEST_ENV,
        "SURECAST_UPLOAD_BACKOFF_CAP": "1",
        "SURECAST_UPLOAD_SOFT_TIME_LIMIT": "8",
        "SURECAST_UPLOAD_TIME_LIMIT": "10",
    },
    disk_margin_bytes=2 * 2**30,
    disk_overshoot_bytes=256 * 2**20,
    final_wait=90.0,
)


def for_minutes(minutes: float, base: SoakConfig = FULL) -> SoakConfig:
    return replace(base, duration=minutes * 60)
