"""What Redis holds for an upload queue: messages waiting, and messages delivered but not acknowledged.

Read from kombu's Redis transport layout; used by the reconciler (has Redis lost anything?) and by
`surecast status` (queue depth).
"""

from __future__ import annotations

import json

import redis

from core.contract import PRIORITY_STEPS

# kombu's Redis transport keeps one list per priority step, named queue + SEP + step (step 0 bare).
PRIORITY_SEP = "\x06\x16"
# ...and keeps messages delivered to a worker but not yet acknowledged in this hash.
UNACKED_KEY = "unacked"


def queue_depth(client: redis.Redis, queue: str) -> int:
    """Messages waiting in Redis for ``queue`` across its priority lists."""
    names = [queue] + [f"{queue}{PRIORITY_SEP}{step}" for step in PRIORITY_STEPS if step]
    return sum(int(client.llen(name)) for name in names)


def unacked_count(client: redis.Redis, queue: str) -> int:
    """Messages of ``queue`` delivered to a worker and not yet acknowledged (running or in a retry countdown).

    Entries are JSON ``[message, exchange, routing_key]``; several venues may share one Redis.
    """
    count = 0
    for _tag, raw in client.hscan_iter(UNACKED_KEY, count=500):
        try:
            routing_key = json.loads(raw)[2]
        except (ValueError, IndexError, TypeError):
            continue
        count += routing_key == queue
    return count


def messages_held(client: redis.Redis, queue: str) -> int:
    """Upload messages Redis holds for ``queue``: waiting, plus delivered but not yet acknowledged."""
    return queue_depth(client, queue) + unacked_count(client, queue)
