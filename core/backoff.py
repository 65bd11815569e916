"""Retry delays: capped exponential backoff with jitter. Pure."""

from __future__ import annotations

import random


def backoff_delay(retries: int, base: float, cap: float, rand: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``retries`` (0-based), between half and all of
    ``min(cap, base * 2**retries)``.

    The jitter spreads a crowd of workers that lost the link at the same moment; the floor of half
    keeps a long outage from turning into a storm of near-immediate retries.
    """
    ceiling = min(cap, base * (2 ** min(retries, 32)))
    return (rand or random).uniform(ceiling / 2, ceiling)
