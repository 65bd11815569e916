"""A venue's heartbeat in the central Redis, and the fleet's reading of it: the key layout's one owner.

Every sample, a venue's console writes its state to ``surecast:fleet:beat:<venue>`` with a time to live of
``BEAT_TTL`` seconds, and the same payload into the hash ``surecast:fleet:venues`` (no time to live: the
fleet remembers a venue after its beat expires, and what it last said). A venue whose beat key is gone
without a sign-off went silent: its PC, its console or its link is down. A console that stops cleanly
signs off (the key removed, ``signed_off`` in the hash), so a venue switched off after the service is not
reported as lost. The payload is built here from the console's figures (pure).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

BEAT_TTL = 30  # seconds: a venue silent this long is OFFLINE
PREFIX = "surecast:fleet:"
VENUES_KEY = PREFIX + "venues"


def beat_key(venue: str) -> str:
    return f"{PREFIX}beat:{venue}"


def beat_payload(
    venue: str,
    channel: str,
    figures: Mapping[str, Any],
    viewers_url: str,
    alerts_waiting: int,
    now: float,
    version: str = "",
) -> dict[str, Any]:
    """What the fleet page shows of a venue, from one sample of the console's figures. Pure."""
    lag: Mapping[str, float] = figures.get("live_edge_lag") or {}
    event = figures.get("event") or {}
    lines: Sequence[Mapping[str, Any]] = figures.get("destination_lines") or []
    return {
        "venue": venue,
        "channel": channel,
        "at": now,
        "version": version,
        "state": dict(figures.get("state") or {}),
        "event": event.get("id"),
        "lag_seconds": round(max(lag.values(), default=0.0), 1),
        "backlog_files": figures.get("waiting_files"),
        "backlog_bytes": figures.get("waiting_bytes"),
        "last_segment_at": figures.get("last_verified_at"),
        "hours_left": figures.get("hours_left"),
        "disk_free_bytes": figures.get("disk_free_bytes"),
        "workers": figures.get("workers_online"),
        "viewers_url": viewers_url,
        "destinations": [{"name": d["name"], "state": d["state"]} for d in lines],
        "alerts_waiting": alerts_waiting,
        "signed_off": False,
    }


def publish_beat(client: redis.Redis, payload: Mapping[str, Any]) -> None:
    """The beat with its time to live, and the venue's last word in the hash, in one round trip."""
    data = json.dumps(payload)
    pipe = client.pipeline(transaction=True)
    pipe.set(beat_key(payload["venue"]), data, ex=BEAT_TTL)
    pipe.hset(VENUES_KEY, payload["venue"], data)
    pipe.execute()


def sign_off(client: redis.Redis, payload: Mapping[str, Any]) -> None:
    """A clean stop: the beat removed and the venue marked as signed off, so the fleet does not raise OFFLINE."""
    pipe = client.pipeline(transaction=True)
    pipe.delete(beat_key(payload["venue"]))
    pipe.hset(VENUES_KEY, payload["venue"], json.dumps({**payload, "signed_off": True}))
    pipe.execute()


def forget(client: redis.Redis, venue: str) -> bool:
    """Remove a venue from the fleet (a venue that will not come back); True if it was there."""
    pipe = client.pipeline(transaction=True)
    pipe.delete(beat_key(venue))
    pipe.hdel(VENUES_KEY, venue)
    return bool(pipe.execute()[1])


@dataclass(frozen=True)
class VenueBeat:
    venue: str
    payload: dict[str, Any]  # the live beat, or the last word the hash kept
    alive: bool  # its beat key exists

    @property
    def signed_off(self) -> bool:
        return bool(self.payload.get("signed_off"))


def read_fleet(client: redis.Redis) -> list[VenueBeat]:
    """Every venue the fleet knows, by name; raises redis.RedisError when Redis cannot be read."""
    known: dict[bytes, bytes] = client.hgetall(VENUES_KEY)  # type: ignore[assignment]
    names = sorted(k.decode() for k in known)
    beats: list[bytes | None] = client.mget([beat_key(n) for n in names]) if names else []  # type: ignore[assignment]
    found = []
    for name, beat in zip(names, beats, strict=True):
        raw = beat if beat is not None else known[name.encode()]
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = {"venue": name}
        found.append(VenueBeat(name, payload if isinstance(payload, dict) else {"venue": name}, beat is not None))
    return found
