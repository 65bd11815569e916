"""Fetch one object with retries inside a bounded deadline, and verify it against its published MD5.

Two loops, kept apart because they mean different things:
- an origin that does not answer (timeout, reset, 5xx) is retried with capped exponential backoff until
  ``start_timeout`` (opening the stream) or ``origin_timeout`` (mid-stream) has passed without an answer;
- a body that does not match its published MD5 is fetched again (asking caches to revalidate), up to
  ``INTEGRITY_ATTEMPTS`` downloads, then IntegrityFailure names the segment.
Every wait is on the stop event, so Ctrl-C ends a retry at once.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from client.errors import (
    IntegrityFailure,
    Missing,
    OriginUnreachable,
    Stopped,
    StreamNotFound,
    TransientError,
    Unresolvable,
)
from client.integrity import Published, mismatch, published_md5
from client.origin import Fetched, Origin
from client.report import Refetch
from core.backoff import backoff_delay
from core.client_settings import ClientSection, Verify

log = logging.getLogger(__name__)
INTEGRITY_ATTEMPTS = 3  # downloads of one segment before a failing MD5 check is fatal (the first included)


@dataclass(frozen=True)
class RetryPolicy:
    backoff_base: float
    backoff_cap: float
    origin_timeout: float
    start_timeout: float
    integrity_attempts: int
    verify: Verify

    @classmethod
    def of(cls, cfg: ClientSection) -> RetryPolicy:
        return cls(
            cfg.backoff_base,
            cfg.backoff_cap,
            cfg.origin_timeout,
            cfg.start_timeout,
            INTEGRITY_ATTEMPTS,
            cfg.verify,
        )

    def deadline(self, starting: bool) -> float:
        return self.start_timeout if starting else self.origin_timeout


@dataclass(frozen=True)
class Outage:
    """Requests failed for ``seconds`` (``retries`` of them) before the origin answered again."""

    retries: int
    seconds: float


@dataclass(frozen=True)
class Verified:
    fetched: Fetched
    published: Published | None


Notice = Outage | Refetch


class Fetcher:
    def __init__(
        self,
        origin: Origin,
        policy: RetryPolicy,
        notify: Callable[[Notice], None],
        stop: threading.Event,
        clock: Callable[[], float] = time.monotonic,
        rand: random.Random | None = None,
    ) -> None:
        self.origin = origin
        self.policy = policy
        self._notify = notify
        self._stop = stop
        self._clock = clock
        self._rand = rand

    def fetch(self, url: str, name: str, starting: bool = False, deadline: float | None = None) -> Verified:
        """The object at ``url``, verified against its published MD5 (named ``name`` in reports);
        ``deadline`` shortens the origin's (a viewer with another destination to turn to)."""
        attempts = self.policy.integrity_attempts
        for attempt in range(1, attempts + 1):
            fetched = self.answered(url, starting, revalidate=attempt > 1, deadline=deadline)
            published = published_md5(fetched.md5_metadata, fetched.etag, self.policy.verify)
            problem = mismatch(fetched.body, published)
            if problem is None:
                return Verified(fetched, published)
            self._notify(Refetch(name, attempt, problem))
            if attempt == attempts:
                raise IntegrityFailure(name, f"{name} failed its integrity check {attempts} times: {problem} ({url})")
            log.warning("%s: %s (download %d of %d); fetching it again", name, problem, attempt, attempts)
            self._sleep(backoff_delay(attempt - 1, self.policy.backoff_base, self.policy.backoff_cap, self._rand))
        raise AssertionError("unreachable")

    def answered(
        self, url: str, starting: bool = False, revalidate: bool = False, deadline: float | None = None
    ) -> Fetched:
        """The origin's answer for ``url``, retrying while it fails, within the start or origin deadline.

        At start a 404 or an unknown host is a wrong URL (StreamNotFound at once); mid-stream they are
        retried like the rest, and a 404 that outlasts the deadline is raised as Missing.
        """
        limit = self.policy.deadline(starting) if deadline is None else min(deadline, self.policy.deadline(starting))
        first_failure: float | None = None
        retries = 0
        while True:
            asked = self._clock()
            try:
                fetched = self.origin.get(url, revalidate)
            except TransientError as exc:
                if starting and isinstance(exc, Missing | Unresolvable):
                    raise StreamNotFound(f"{exc}: check the URL") from exc
                now = self._clock()
                if first_failure is None:
                    first_failure = asked  # a timeout counts from when the question was asked
                    log.warning("%s; retrying for up to %.0f s", exc, limit)
                failing = now - first_failure
                if failing >= limit:
                    self._notify(Outage(retries, failing))
                    if isinstance(exc, Missing):
                        raise
                    setting = "SURECAST_CLIENT_START_TIMEOUT" if starting else "SURECAST_CLIENT_ORIGIN_TIMEOUT"
                    waited = f"{setting}={limit:g}"
                    if limit < self.policy.deadline(starting):
                        waited = f"another destination is tried after {limit:g} s"
                    raise OriginUnreachable(
                        f"the origin stopped answering: {exc}; no answer for {failing:.0f} s ({waited})"
                    ) from exc
                delay = backoff_delay(retries, self.policy.backoff_base, self.policy.backoff_cap, self._rand)
                retries += 1
                self._sleep(min(delay, max(0.0, limit - failing)))
                continue
            if first_failure is not None:
                seconds = self._clock() - first_failure
                log.warning("%s answered again after %.1f s and %d retries", url, seconds, retries)
                self._notify(Outage(retries, seconds))
            return fetched

    def _sleep(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise Stopped("stopped")
