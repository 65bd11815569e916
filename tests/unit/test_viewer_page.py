"""The viewers' page, channel.json and the share link: key layout, versions, cache headers, the state document,
and that the page names no host but its own. Pure, but for the last tests (a journal on a tmp dir)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urljoin

import pytest

from core.contract import (
    CHANNEL_STATE_CACHE_CONTROL,
    IMMUTABLE_CACHE_CONTROL,
    PAGE_CACHE_CONTROL,
    PRIMARY,
    check_object_key,
)
from core.destinations import (
    channel_master_key,
    channel_page_key,
    channel_page_url,
    channel_state_key,
    player_asset_key,
    player_asset_uri,
)
from core.s3_section import S3Section
from core.share import embed_snippet, share_links
from core.web_assets import FAILOVER_JS, HLS_JS, WEB_DIR
from encoder.channel import VIEWER_DIR, ChannelFiles, ChannelTarget, load_viewer_page
from encoder.channel_state import PAST_EVENTS, EventSummary, channel_state, render_channel_state
from encoder.keys import channel_file_path, master_uri_from_channel, player_asset_path
from encoder.viewer_page import OWN_ASSETS, build_viewer_page, page_version, render_index
from journal.events import EventStore, Segment
from journal.files import Journal, State

# Absolute addresses inside hls.min.js that no request is made to: an XML namespace, an emsg scheme id, a
# licence link in a comment (and the end of a regular expression the pattern takes for one).
HLS_JS_IDENTIFIERS = {
    "//i.test(At",
    "http://www.w3.org/ns/ttml#styling",
    "https://aomedia.org/emsg/ID3",
    "https://github.com/babel/babel/blob/main/packages/babel-helpers/LICENSE",
}
ABSOLUTE = re.compile(r"""(?:https?:)?//[A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z]{2,}[^\s"'`)<>]*""")


# Keys and addresses -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "page", "state", "asset"),
    [
        ("live", "live/main/index.html", "live/main/channel.json", "live/_player/1.0-abc/viewer.js"),
        ("", "main/index.html", "main/channel.json", "_player/1.0-abc/viewer.js"),
        ("/a/b/", "a/b/main/index.html", "a/b/main/channel.json", "a/b/_player/1.0-abc/viewer.js"),
    ],
)
def test_the_page_and_state_live_in_the_channels_folder_and_scripts_in_a_versioned_one(
    prefix: str, page: str, state: str, asset: str
) -> None:
    assert channel_page_key(prefix, "main") == page
    assert channel_state_key(prefix, "main") == state
    assert player_asset_key(prefix, "1.0-abc", "viewer.js") == asset
    assert channel_master_key(prefix, "main") == page.replace("index.html", "master.m3u8")


@pytest.mark.parametrize("prefix", ["live", "", "venue/stream"])
@pytest.mark.parametrize("base", ["https://bucket.s3.eu-west-1.amazonaws.com", "https://cdn.example.org/sub/path"])
def test_the_pages_relative_addresses_reach_their_objects_from_any_host_or_sub_path(prefix: str, base: str) -> None:
    page = f"{base}/{channel_page_key(prefix, 'main')}"
    assert (
        urljoin(page, player_asset_uri("1.0-abc", "viewer.js"))
        == f"{base}/{player_asset_key(prefix, '1.0-abc', 'viewer.js')}"
    )
    assert urljoin(page, "channel.json") == f"{base}/{channel_state_key(prefix, 'main')}"
    assert (
        urljoin(page, master_uri_from_channel("ev1", vod=True))
        == f"{base}/{'/'.join(p for p in (prefix, 'ev1') if p)}/master_vod.m3u8"
    )


def test_a_channel_cannot_name_the_scripts_folder() -> None:
    with pytest.raises(ValueError):
        channel_page_key("live", "_player")


@pytest.mark.parametrize(
    ("channel", "name", "version", "destination", "expected"),
    [
        ("main", "index.html", 3, PRIMARY, "channels/main/index.3.html"),
        ("main", "channel.json", 1, "b2", "channels/main/channel@b2.1.json"),
    ],
)
def test_each_version_of_a_channels_file_has_its_own_spool_file(
    channel: str, name: str, version: int, destination: str, expected: str
) -> None:
    assert channel_file_path(channel, name, version, destination) == expected


def test_the_pages_scripts_have_one_spool_file_per_version() -> None:
    assert player_asset_path("1.0-abc", "hls.min.js") == "channels/_player/1.0-abc/hls.min.js"


# Versions, the page, cache headers ---------------------------------------------------------------------------


def test_any_changed_script_gives_a_new_version_that_can_be_a_key() -> None:
    assets = {"viewer.js": b"a", "viewer.css": b"b"}
    first = page_version("0.1.0", assets)
    assert first.startswith("0.1.0-") and first == page_version("0.1.0", dict(reversed(assets.items())))
    assert page_version("0.1.0", {**assets, "viewer.js": b"a2"}) != first
    assert page_version("0.1.1", assets) != first
    odd = page_version("1.0.dev3+g12ab/local", assets)
    assert check_object_key(player_asset_key("live", odd, "viewer.js"))


def test_the_page_names_each_file_by_its_relative_address_and_refuses_an_unknown_one() -> None:
    html = render_index('<script src="{{viewer.js}}"></script>', "v1", {"viewer.js"})
    assert html == '<script src="../_player/v1/viewer.js"></script>'
    with pytest.raises(ValueError, match="nope.js"):
        render_index('<script src="{{nope.js}}"></script>', "v1", {"viewer.js"})


def test_the_page_is_cached_briefly_its_scripts_for_good() -> None:
    page = build_viewer_page("<link href='{{viewer.css}}'>", {"viewer.css": b"x", "viewer.js": b"y"}, "0.1.0")
    assert page.index.cache_control == PAGE_CACHE_CONTROL == "max-age=60"
    assert page.index.content_type.startswith("text/html")
    assert {f.cache_control for f in page.assets} == {IMMUTABLE_CACHE_CONTROL}
    assert {f.name: f.content_type for f in page.assets} == {
        "viewer.css": "text/css; charset=utf-8",
        "viewer.js": "text/javascript; charset=utf-8",
    }
    assert CHANNEL_STATE_CACHE_CONTROL == "max-age=5"


def test_the_installed_page_loads_every_file_it_publishes_and_nothing_else() -> None:
    page = load_viewer_page()
    html = page.index.data.decode()
    named = set(re.findall(r'(?:src|href)="\.\./_player/' + re.escape(page.version) + r'/([^"]+)"', html))
    assert named == {f.name for f in page.assets} == set(OWN_ASSETS) | {HLS_JS, FAILOVER_JS, "hls.js-LICENSE.txt"}
    assert "{{" not in html


def test_the_page_and_its_scripts_name_no_host_but_their_own() -> None:
    page = load_viewer_page()
    ours = {"index.html": page.index.data.decode()}
    ours.update({f.name: f.data.decode() for f in page.assets if f.name.endswith((".js", ".css")) and f.name != HLS_JS})
    assert set(ours) == {"index.html", "viewer.js", "viewer.css", FAILOVER_JS}
    for name, text in ours.items():
        assert ABSOLUTE.findall(text) == [], name
    # hls.js names a few absolute addresses as identifiers; it fetches only what it is given.
    assert set(ABSOLUTE.findall((WEB_DIR / HLS_JS).read_text())) <= HLS_JS_IDENTIFIERS
    assert (VIEWER_DIR / "viewer.js").read_text().count("fetch(") == 1  # channel.json, relative


# channel.json ------------------------------------------------------------------------------------------------


def summary(
    event: str, start: float, ended: bool = True, replay: bool = True, duration: float | None = 60.0
) -> EventSummary:
    return EventSummary(event, start, start + 100 if ended else None, ended, duration, replay)


def test_before_the_first_event_there_is_no_current_event() -> None:
    doc = channel_state("main", None, [], 60.0, 2.0)
    assert doc == {"schema": 1, "channel": "main", "live_window_seconds": 60.0, "segment_seconds": 2.0,
                   "current": None, "past": []}  # fmt: skip


def test_a_live_event_names_its_master_relative_to_the_channel_and_no_replay_or_duration() -> None:
    doc = channel_state("main", summary("ev2", 1_700_000_000, ended=False, replay=False, duration=12.0), [], None, 2.0)
    assert doc["current"] == {
        "event": "ev2",
        "state": "live",
        "started_at": "2023-11-14T22:13:20Z",
        "ended_at": None,
        "live": "../ev2/master.m3u8",
        "replay": None,
        "duration": None,
    }


@pytest.mark.parametrize("replay", [False, True])
def test_an_ended_event_says_so_with_its_duration_and_its_replay_once_verified(replay: bool) -> None:
    doc = channel_state("main", summary("ev2", 1_700_000_000, replay=replay, duration=3725.04), [], 60.0, 2.0)
    current = doc["current"]
    assert current["state"] == "ended" and current["ended_at"] == "2023-11-14T22:15:00Z"
    assert current["duration"] == 3725.0
    assert current["replay"] == ("../ev2/master_vod.m3u8" if replay else None)


def test_past_events_list_only_replays_there_the_latest_first_at_most_ten() -> None:
    current = summary("now", 5000, ended=False, replay=False)
    past = [summary(f"e{i}", 1000 + i, replay=i != 3) for i in range(15)] + [current]
    doc = channel_state("main", current, past, 60.0, 2.0)
    events = [p["event"] for p in doc["past"]]
    assert len(events) == PAST_EVENTS and events[0] == "e14" and "e3" not in events and "now" not in events
    assert doc["past"][0] == {"event": "e14", "started_at": "1970-01-01T00:16:54Z", "duration": 60.0,
                              "replay": "../e14/master_vod.m3u8"}  # fmt: skip


def test_the_same_state_renders_the_same_bytes() -> None:
    a = render_channel_state(channel_state("main", summary("ev", 1.0), [], 60.0, 2.0))
    b = render_channel_state(json.loads(a))
    assert a == b and a.endswith(b"\n") and json.loads(a)["current"]["event"] == "ev"


# The share link ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "url"),
    [
        (S3Section(bucket="church", prefix="live", public_url="https://cdn.example.org/"),
         "https://cdn.example.org/live/main/index.html"),
        (S3Section(bucket="church", prefix="live", endpoint_url="http://127.0.0.1:8333"),
         "http://127.0.0.1:8333/church/live/main/index.html"),
        (S3Section(bucket="church", prefix="", region="eu-west-1"),
         "https://church.s3.eu-west-1.amazonaws.com/main/index.html"),
    ],
)  # fmt: skip
def test_the_share_link_is_the_channels_page_at_the_public_address(section: S3Section, url: str) -> None:
    assert channel_page_url(section, "main") == url
    links = share_links(section, "main")
    assert links.url == url and f'src="{url}"' in links.iframe


def test_the_embed_snippet_is_one_iframe_that_allows_full_screen_and_escapes_the_address() -> None:
    snippet = embed_snippet('https://x.example/a"b?c=1&d=2', title="St <Mary>")
    assert snippet.startswith("<iframe ") and snippet.endswith("</iframe>") and "\n" not in snippet
    assert 'src="https://x.example/a&quot;b?c=1&amp;d=2"' in snippet and 'title="St &lt;Mary&gt;"' in snippet
    assert "allowfullscreen" in snippet and "autoplay" in snippet


# The channel's files in the journal ---------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path) -> ChannelFiles:
    journal = Journal(tmp_path)
    store = EventStore(journal)
    targets = [ChannelTarget(PRIMARY, "live", journal), ChannelTarget("b2", "bk", Journal(tmp_path, destination="b2"))]
    return ChannelFiles(tmp_path, "main", store, targets, lambda: None, 60.0, 2.0)


def test_the_page_is_journaled_on_a_destination_only_once_its_scripts_are_verified_there(files: ChannelFiles) -> None:
    primary, backup = files.targets
    files.step()
    page_key = channel_page_key("live", "main")
    assets = files.asset_keys(primary)
    assert all(primary.journal.get(k) for k in assets) and all(backup.journal.get(k) for k in files.asset_keys(backup))
    assert primary.journal.get(page_key) is None
    for key in assets:
        row = primary.journal.get(key)
        assert row is not None and row.cache_control == IMMUTABLE_CACHE_CONTROL
        assert (files.spool / row.path).read_bytes() == next(f.data for f in files.page.assets if key.endswith(f.name))
        primary.journal.mark_verified(key, row.md5)
    files._next_index_check = 0.0
    files.step()
    row = primary.journal.get(page_key)
    assert row is not None and row.state == State.QUEUED and row.cache_control == PAGE_CACHE_CONTROL
    assert (files.spool / row.path).read_bytes() == files.page.index.data
    assert backup.journal.get(channel_page_key("bk", "main")) is None  # the backup's scripts are not there yet
    assert files.publish_assets(primary) == []  # delivered: not sent again


def test_channel_json_follows_the_events_table_and_each_destinations_replays(files: ChannelFiles) -> None:
    primary, backup = files.targets
    key = channel_state_key("live", "main")

    def state(target: ChannelTarget, key: str = key) -> dict[str, object]:
        row = target.journal.get(key)
        assert row is not None and row.cache_control == CHANNEL_STATE_CACHE_CONTROL
        return dict(json.loads((files.spool / row.path).read_text()))

    files.step()
    assert state(primary)["current"] is None
    files.store.begin("ev1", "main", "320x180@250k", 25, "mpegts")
    for n in range(3):
        files.store.add("ev1", Segment("180p", n, n, f"live/ev1/180p/seg_{n}.ts", f"seg_{n}.ts", "p", 2.0, False, 0.0))
    files.store.add("ev1", Segment("180p", 3, 3, "live/ev1/180p/slate_3.ts", "slate_3.ts", "p", 2.0, False, 0.0))
    files.changed()
    files.step()
    live = state(primary)
    assert live["current"] == {**live["current"], "event": "ev1", "state": "live", "live": "../ev1/master.m3u8"}  # type: ignore[dict-item]
    version = primary.journal.get(key).version  # type: ignore[union-attr]
    files.changed()
    files.step()
    assert primary.journal.get(key).version == version  # type: ignore[union-attr]  # unchanged: not sent again

    files.store.mark_recording_stopped("ev1")
    vod = "live/ev1/master_vod.m3u8"
    primary.journal.record(files._job(primary, vod, "x", files.page.index, 1))
    primary.journal.mark_verified(vod, primary.journal.get(vod).md5)  # type: ignore[union-attr]
    files.changed()
    files.step()
    ended = state(primary)["current"]
    assert ended["state"] == "ended" and ended["duration"] == 6.0 and ended["replay"] == "../ev1/master_vod.m3u8"  # type: ignore[index]
    assert state(backup, channel_state_key("bk", "main"))["current"]["replay"] is None  # type: ignore[index]
    assert primary.journal.get(key).path == channel_file_path("main", "channel.json", version + 1)  # type: ignore[union-attr]
