"""The console's settings, the preview's address, and when the workers count as gone."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from console.stream import preview_url
from core.console_settings import ConsoleSection
from core.settings import S3Section
from encoder.keys import EventLayout
from report.workers import EMPTY_AFTER, STALE_AFTER, shown_workers


@pytest.mark.parametrize(
    ("user", "password"),
    [("volunteer", ""), ("", "secret")],
)
def test_half_a_login_is_refused_naming_both_variables(user: str, password: str) -> None:
    with pytest.raises(ValidationError, match="SURECAST_CONSOLE_USER and SURECAST_CONSOLE_PASSWORD go together"):
        ConsoleSection(user=user, password=SecretStr(password))


@pytest.mark.parametrize(
    ("console", "s3", "channel", "url"),
    [
        (ConsoleSection(), S3Section(endpoint_url="http://127.0.0.1:8333", bucket="venue", prefix="live"), "main",
         "http://127.0.0.1:8333/venue/live/main/master.m3u8"),
        (ConsoleSection(), S3Section(endpoint_url="https://s3.example.org/", bucket="b.c", prefix=""), "hall",
         "https://s3.example.org/b.c/hall/master.m3u8"),
        (ConsoleSection(), S3Section(bucket="venue", prefix="a/b", region="eu-west-1"), "main",
         "https://venue.s3.eu-west-1.amazonaws.com/a/b/main/master.m3u8"),
        (ConsoleSection(stream_url="https://cdn.example.org/main/master.m3u8"), S3Section(), "main",
         "https://cdn.example.org/main/master.m3u8"),
    ],
)  # fmt: skip
def test_the_preview_plays_the_channel_master_viewers_get(
    console: ConsoleSection, s3: S3Section, channel: str, url: str
) -> None:
    assert preview_url(console, s3, channel) == url
    if not console.stream_url:  # the key is the one the encoder writes the channel's master under
        assert url.endswith("/" + EventLayout(s3.prefix, "ev1", channel).channel_master_key())


def test_a_stream_url_must_be_http() -> None:
    with pytest.raises(ValidationError, match="must be empty"):
        ConsoleSection(stream_url="s3://venue/live/main/master.m3u8")


W = {"w1@pc": 2}


@pytest.mark.parametrize(
    ("answer", "answered_ago", "seen", "seen_ago", "shown"),
    [
        (W, 1.0, W, 1.0, W),
        (None, 0.0, {}, 0.0, None),  # never answered: unknown, not "none online"
        (W, STALE_AFTER + 1, W, STALE_AFTER + 1, None),  # no recent answer: unknown
        ({}, 1.0, W, 5.0, W),  # one empty reply just after workers answered: a missed reply
        ({}, 1.0, W, EMPTY_AFTER + 1, {}),  # nobody answered for a while: none online
        ({}, 1.0, {}, 0.0, {}),
    ],
)
def test_workers_count_as_gone_only_when_none_answered_for_a_while(
    answer: dict[str, int] | None,
    answered_ago: float,
    seen: dict[str, int],
    seen_ago: float,
    shown: dict[str, int] | None,
) -> None:
    now = 1000.0
    assert shown_workers(answer, now - answered_ago, seen, now - seen_ago, now) == shown
