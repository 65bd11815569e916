"""The console's server, for real on a free port: every route needs the login, actions need the header."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from console.server import ASSETS, console_app, listen
from core.share import embed_snippet

USER, PASSWORD = "surecast", "s3cret-pass"


@dataclass
class StubBackend:
    retried: list[str | None] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)

    def config(self) -> dict[str, Any]:
        url = "http://127.0.0.1:1/b/live/main/index.html"
        return {
            "stream_url": "http://127.0.0.1:1/b/live/main/master.m3u8",
            "share": {"url": url, "iframe": embed_snippet(url), "others": []},
        }

    def status(self) -> dict[str, Any]:
        return {"now": 1.0, "state": {"label": "LIVE", "detail": "", "level": "ok"}}

    def history(self, since: float | None) -> list[dict[str, Any]]:
        return [{"t": t} for t in (1.0, 3.0, 5.0) if since is None or t > since]

    def retry(self, reason: str | None) -> tuple[int, int]:
        self.retried.append(reason)
        return 3, 3

    def finish(self, event: str) -> bool:
        self.finished.append(event)
        return event == "ev1"


@dataclass
class Running:
    url: str
    backend: StubBackend


@pytest.fixture
def console() -> Iterator[Running]:
    """The Tornado app on 127.0.0.1 and a free port, its event loop in a thread; stopped after the test."""
    backend = StubBackend()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    port: list[int] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)

        async def start() -> None:
            _, bound = listen(console_app(backend, USER, PASSWORD), "127.0.0.1", 0)
            port.append(bound)
            ready.set()

        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10), "the console server did not start"
    yield Running(f"http://127.0.0.1:{port[0]}", backend)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def auth(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def request(
    url: str, method: str = "GET", headers: dict[str, str] | None = None, body: Any = None
) -> tuple[int, bytes, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


ROUTES = [("GET", path) for path in ASSETS] + [
    ("GET", "/api/config"),
    ("GET", "/share-qr.svg"),
    ("GET", "/api/status"),
    ("GET", "/api/history"),
    ("POST", "/api/retry"),
    ("POST", "/api/finish"),
    ("GET", "/no/such/page"),
    ("POST", "/no/such/action"),
    ("POST", "/api/status"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize(
    "headers",
    [{}, auth(password="wrong"), auth(user="admin"), {"Authorization": "Bearer x"}, {"Authorization": "Basic !!!"}],
    ids=["none", "wrong-password", "wrong-user", "other-scheme", "garbage"],
)
def test_every_route_needs_the_login(console: Running, method: str, path: str, headers: dict[str, str]) -> None:
    status, body, answer = request(
        console.url + path, method, {**headers, "X-Surecast": "1"}, {} if method == "POST" else None
    )
    assert status == 401 and body == b"authentication required\n"
    assert answer["WWW-Authenticate"].startswith('Basic realm="surecast console"')
    assert console.backend.retried == [] and console.backend.finished == []


@pytest.mark.parametrize("path", list(ASSETS))
def test_the_page_and_its_assets_are_served_with_the_login(console: Running, path: str) -> None:
    status, body, headers = request(console.url + path, headers=auth())
    assert status == 200 and len(body) > 100
    assert headers["X-Frame-Options"] == "DENY" and headers["Cache-Control"] == "no-store"


def test_unknown_paths_are_404_with_the_login(console: Running) -> None:
    assert request(console.url + "/../../etc/passwd", headers=auth())[0] == 404
    assert request(console.url + "/credentials.json", headers=auth())[0] == 404


def test_the_json_endpoints_answer_with_the_login(console: Running) -> None:
    status, body, _ = request(console.url + "/api/status", headers=auth())
    data = json.loads(body)
    assert status == 200 and data["state"]["label"] == "LIVE" and data["served_at"] > 0
    assert json.loads(request(console.url + "/api/history?since=1", headers=auth())[1]) == {
        "points": [{"t": 3.0}, {"t": 5.0}]
    }
    assert request(console.url + "/api/history?since=soon", headers=auth())[0] == 400
    assert json.loads(request(console.url + "/api/config", headers=auth())[1])["stream_url"].endswith("master.m3u8")


def test_the_share_box_gets_the_viewers_link_its_snippet_and_its_qr_code(console: Running) -> None:
    share = json.loads(request(console.url + "/api/config", headers=auth())[1])["share"]
    assert share["url"].endswith("/live/main/index.html")
    assert share["iframe"].startswith(f'<iframe src="{share["url"]}"')
    status, body, headers = request(console.url + "/share-qr.svg", headers=auth())
    assert status == 200 and headers["Content-Type"] == "image/svg+xml"
    assert body.startswith(b"<?xml") and b"<svg" in body and b"QR code of the viewers' link" in body


@pytest.mark.parametrize("path", ["/api/retry", "/api/finish"])
@pytest.mark.parametrize("header", [None, "0", "true"])
def test_an_action_without_the_custom_header_is_refused(console: Running, path: str, header: str | None) -> None:
    headers = {**auth(), "Content-Type": "application/x-www-form-urlencoded"}
    if header is not None:
        headers["X-Surecast"] = header
    status, body, _ = request(console.url + path, "POST", headers, {"event": "ev1"})
    assert status == 403 and b"X-Surecast" in body
    assert console.backend.retried == [] and console.backend.finished == []


@pytest.mark.parametrize(
    ("body", "reason"), [({}, None), ({"reason": None}, None), ({"reason": "NoSuchBucket"}, "NoSuchBucket")]
)
def test_retry_requeues_through_the_backend(console: Running, body: dict[str, Any], reason: str | None) -> None:
    status, answer, _ = request(console.url + "/api/retry", "POST", {**auth(), "X-Surecast": "1"}, body)
    assert status == 200 and json.loads(answer) == {"requeued": 3, "published": 3}
    assert console.backend.retried == [reason]


@pytest.mark.parametrize(("event", "status"), [("ev1", 200), ("ev0", 409)])
def test_finish_asks_the_backend_and_says_if_the_event_is_not_live(console: Running, event: str, status: int) -> None:
    got, _, _ = request(console.url + "/api/finish", "POST", {**auth(), "X-Surecast": "1"}, {"event": event})
    assert got == status and console.backend.finished == [event]


@pytest.mark.parametrize(("path", "body"), [("/api/finish", {}), ("/api/finish", []), ("/api/retry", {"reason": 3})])
def test_a_malformed_action_is_refused(console: Running, path: str, body: Any) -> None:
    assert request(console.url + path, "POST", {**auth(), "X-Surecast": "1"}, body)[0] == 400
    assert console.backend.retried == [] and console.backend.finished == []


def test_there_is_no_console_without_a_login() -> None:
    with pytest.raises(ValueError, match="needs a user and a password"):
        console_app(StubBackend(), "", "")
