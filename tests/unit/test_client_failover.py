"""A viewer between destinations (client.routes, client.downloader): no I/O, a fake clock, two fake origins.

The world: destinations ``a`` (the master's own) and ``b`` carry the same live rendition, one 2 s segment
every 2 s, numbered alike; either may refuse connections, freeze (answer a playlist that stops moving)
or announce a gap, for a span of the fake clock. The downloader must hand over every segment, in order,
verified, whatever one of them does, and come back to ``a``.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest

from client.downloader import Downloader, Timing
from client.errors import Missing, TransientError
from client.fetcher import Fetcher, RetryPolicy
from client.follow import Follower
from client.items import EndItem, GapItem, Item, SegmentItem
from client.origin import Fetched
from client.playlist import MasterPlaylist, alternates, parse_playlist
from client.report import Report, render_report
from client.routes import Routes

END = 20  # the last segment's number: the stream ends at t = 40 s
POLICY = RetryPolicy(0.25, 2.0, origin_timeout=30.0, start_timeout=5.0, integrity_attempts=3, verify="auto")


@dataclass
class World:
    now: float = 0.0
    refused: dict[str, tuple[float, float]] = field(default_factory=dict)  # host -> [from, to)
    frozen: dict[str, tuple[float, float]] = field(default_factory=dict)  # the playlist stops moving
    gaps: dict[str, set[int]] = field(default_factory=dict)  # segments a host lists as EXT-X-GAP
    requests: list[str] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def _within(self, spans: dict[str, tuple[float, float]], host: str) -> bool:
        start, stop = spans.get(host, (-1.0, -1.0))
        return start <= self.now < stop

    def last(self, host: str) -> int:
        at = self.frozen[host][0] if self._within(self.frozen, host) else self.now
        return min(int(at // 2), END)

    def get(self, url: str, revalidate: bool = False) -> Fetched:
        host = urlsplit(url).netloc
        self.requests.append(url)
        if self._within(self.refused, host):
            raise TransientError(f"{url}: connection refused")
        name = url.rsplit("/", 1)[1]
        last = self.last(host)
        if name == "live.m3u8":
            lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:2", "#EXT-X-MEDIA-SEQUENCE:0"]
            for seq in range(last + 1):
                if seq in self.gaps.get(host, set()):
                    lines.append("#EXT-X-GAP")
                lines += ["#EXTINF:2.0,", f"seg_{seq}.ts"]
            if last == END and self.now >= 2 * END:
                lines.append("#EXT-X-ENDLIST")
            return Fetched(url, "\n".join(lines).encode() + b"\n", None, None)
        seq = int(name.removeprefix("seg_").removesuffix(".ts"))
        if seq > last or seq in self.gaps.get(host, set()):
            raise Missing(f"{url}: not found (HTTP 404)")
        body = f"segment {seq}".encode()
        return Fetched(url, body, hashlib.md5(body).hexdigest(), None)

    def close(self) -> None:
        return None


class FakeStop(threading.Event):
    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world

    def wait(self, timeout: float | None = None) -> bool:
        self.world.now += timeout or 0.0
        return self.is_set()


def _url(host: str) -> str:
    return f"http://{host}/live/ev/180p/live.m3u8"


def play(world: World, hosts: tuple[str, ...] = ("a", "b")) -> tuple[list[Item], Routes]:
    stop = FakeStop(world)
    out: queue.Queue[Item] = queue.Queue()
    fetcher = Fetcher(world, POLICY, lambda _: None, stop, world.clock)
    routes = Routes.of([(h, _url(h)) for h in hosts], probe_every=10.0)
    first = parse_playlist(world.get(_url(hosts[0])).body, _url(hosts[0]))
    downloader = Downloader(
        fetcher,
        routes,
        first,
        Follower(6.0, from_first=True),
        Timing(120.0, 4.0),
        out,
        stop,
        world.clock,  # type: ignore[arg-type]
    )
    downloader.run()
    items = []
    while not out.empty():
        items.append(out.get_nowait())
    return items, routes


def _played(items: list[Item]) -> list[int]:
    return [i.entry.seq for i in items if isinstance(i, SegmentItem)]


def test_the_master_names_each_rendition_once_per_destination_and_the_viewer_keeps_them_together() -> None:
    text = "\n".join(
        [
            "#EXTM3U",
            '#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,PATHWAY-ID="primary"',
            "360p/live.m3u8",
            '#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,PATHWAY-ID="b2"',
            "https://cdn.example/backup/ev/360p/live.m3u8",
            '#EXT-X-STREAM-INF:BANDWIDTH=300000,RESOLUTION=320x180,PATHWAY-ID="primary"',
            "180p/live.m3u8",
            '#EXT-X-STREAM-INF:BANDWIDTH=300000,RESOLUTION=320x180,PATHWAY-ID="b2"',
            "https://cdn.example/backup/ev/180p/live.m3u8",
        ]
    )
    master = parse_playlist(text.encode(), "http://venue:8333/bucket/live/ev/master.m3u8")
    assert isinstance(master, MasterPlaylist)
    chosen = master.variants[2]
    found = alternates(master.variants, chosen)
    assert [(v.pathway, v.uri) for v in found] == [
        ("primary", "http://venue:8333/bucket/live/ev/180p/live.m3u8"),
        ("b2", "https://cdn.example/backup/ev/180p/live.m3u8"),
    ]


def test_a_destination_that_stops_answering_is_left_for_the_other_and_taken_back_when_it_returns() -> None:
    world = World(refused={"a": (9.0, 25.0)})
    items, routes = play(world)
    assert _played(items) == list(range(END + 1)), "every segment, once, in order"
    assert not [i for i in items if isinstance(i, GapItem)]
    assert isinstance(items[-1], EndItem) and items[-1].ended
    assert [(s.source, s.target) for s in routes.switches] == [("a", "b"), ("b", "a")]
    left, back = routes.switches
    assert 9.0 <= left.at <= 9.0 + 2 * 4.0, "within the failover deadline (a playlist load, then a segment)"
    assert 25.0 <= back.at <= 25.0 + 10.0 + 2.0, "back within one probe interval of its return"
    a, b = routes.figures
    assert a.segments + b.segments == END + 1 and b.segments > 0 and a.left == 1 and b.left == 1


def test_a_destination_whose_playlist_stops_moving_is_left_for_one_that_is_further_along() -> None:
    world = World(frozen={"a": (10.0, 40.0)})  # its uploads fail (wrong credentials): it still answers
    items, routes = play(world)
    assert _played(items) == list(range(END + 1))
    assert routes.switches and routes.switches[0].target == "b"
    assert "stopped moving" in routes.switches[0].reason
    assert routes.switches[0].at <= 10.0 + 3 * 2.0 + 2.0 + 1.0


def test_a_gap_on_one_destination_is_filled_from_the_other_without_leaving_it() -> None:
    world = World(gaps={"a": {5, 6}})
    items, routes = play(world)
    assert _played(items) == list(range(END + 1))
    assert routes.switches == []
    assert routes.figures[1].segments == 2


def test_with_both_down_the_viewer_waits_out_the_origin_timeout_and_loses_nothing() -> None:
    world = World(refused={"a": (9.0, 20.0), "b": (0.0, 22.0)})
    items, _ = play(world)
    assert _played(items) == list(range(END + 1))


def test_one_destination_alone_behaves_as_before_a_missing_segment_is_a_gap() -> None:
    world = World(gaps={"a": {5}})
    items, routes = play(world, hosts=("a",))
    assert 5 not in _played(items) and [i.seq for i in items if isinstance(i, GapItem)] == [5]
    assert not routes.redundant and routes.switches == []


def test_the_report_shows_each_destination() -> None:
    world = World(refused={"a": (9.0, 25.0)})
    _, routes = play(world)
    report = Report(_url("a"))
    report.add_routes(routes, world.now)
    text = render_report(report)
    assert "destination       a: " in text and "destination       b: " in text
    assert "failovers         2: a -> b" in text
    assert report.as_dict()["destinations"][1]["segments"] > 0


@pytest.mark.parametrize("hosts", [("a", "b"), ("a", "b", "c")])
def test_the_order_to_try_is_after_the_current_one(hosts: tuple[str, ...]) -> None:
    routes = Routes.of([(h, _url(h)) for h in hosts], probe_every=10.0)
    routes.switch(1, 0.0, "test")
    assert [routes.figures[i].name for i in routes.others()] == [*hosts[2:], hosts[0]]
