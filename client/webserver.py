"""A small HTTP server for the web player and the LAN re-serve (stdlib ``http.server``, one thread per request).

Routes are plain functions from a path to a Response, so what is served can be tested without sockets.
The web player's files are served by a fixed list (its page from ``client/web``, hls.js and the failover
loader from core's shared copies): nothing else on disk is reachable.
"""

from __future__ import annotations

import base64
import errno
import hmac
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from client.errors import OutputError
from core.contract import MD5_HEADER
from core.web_assets import FAILOVER_JS, HLS_JS, HLS_JS_LICENSE, LATENCY_JS, web_asset, web_content_type

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).parent / "web"
STATIC_FILES: dict[str, Path] = {
    "/": WEB_DIR / "index.html",
    "/index.html": WEB_DIR / "index.html",
    "/player.js": WEB_DIR / "player.js",
    "/player.css": WEB_DIR / "player.css",
    **{f"/{name}": web_asset(name) for name in (FAILOVER_JS, HLS_JS, HLS_JS_LICENSE, LATENCY_JS)},
}
# Any page may read what this server serves (a player on another LAN host, a wall of screens).
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "*",
    "Access-Control-Expose-Headers": f"ETag, Content-Length, {MD5_HEADER}",
}


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


Route = Callable[[str], Response | None]
UNAUTHORIZED = Response(
    401,
    b"log in: the user and password `surecast credentials` prints\n",
    headers={"WWW-Authenticate": 'Basic realm="surecast"'},
)


def not_found(path: str) -> Response:
    return Response(404, f"not found: {path}\n".encode())


def static_route(config: dict[str, Any]) -> Route:
    """The web player's files, and ``/config.json`` telling the page what to play."""
    config_body = json.dumps(config).encode()

    def route(path: str) -> Response | None:
        if path == "/config.json":
            return Response(200, config_body, "application/json", {"Cache-Control": "no-cache"})
        found = STATIC_FILES.get(path)
        if found is None:
            return None
        try:
            body = found.read_bytes()
        except OSError:
            return Response(500, f"{found.name} is missing from the installation\n".encode())
        return Response(200, body, web_content_type(found.name), {"Cache-Control": "no-cache"})

    return route


def chain(*routes: Route) -> Route:
    def route(path: str) -> Response | None:
        for r in routes:
            found = r(path)
            if found is not None:
                return found
        return None

    return route


def authorized(header: str | None, login: tuple[str, str] | None) -> bool:
    """Whether an Authorization header carries ``login`` (Basic); everything is authorized without one. Pure."""
    if login is None:
        return True
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except ValueError:
        return False
    return hmac.compare_digest(given, ":".join(login).encode())


def _handler(route: Route, login: tuple[str, str] | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "surecast"
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self._answer(head=False)

        def do_HEAD(self) -> None:  # noqa: N802
            self._answer(head=True)

        def do_OPTIONS(self) -> None:  # noqa: N802
            self.send_response(204)
            for name, value in CORS_HEADERS.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _answer(self, head: bool) -> None:
            path = urlsplit(self.path).path
            if authorized(self.headers.get("Authorization"), login):
                resp = route(path) or not_found(path)
            else:
                resp = UNAUTHORIZED
            self.send_response(resp.status)
            self.send_header("Content-Type", resp.content_type)
            self.send_header("Content-Length", str(len(resp.body)))
            for name, value in {**CORS_HEADERS, **resp.headers}.items():
                self.send_header(name, value)
            self.end_headers()
            if not head:
                self.wfile.write(resp.body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
            log.debug("%s " + format, self.address_string(), *args)

    return Handler


class WebServer:
    """A ThreadingHTTPServer on ``bind:port`` running in a daemon thread until ``close``; with ``login``
    (user, password) every request but a CORS preflight needs it (HTTP Basic)."""

    def __init__(self, bind: str, port: int, route: Route, login: tuple[str, str] | None = None) -> None:
        try:
            self._server = ThreadingHTTPServer((bind, port), _handler(route, login))
        except OSError as exc:
            why = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
            raise OutputError(f"cannot listen on {bind}:{port}: {why}") from exc
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="surecast-web", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, bind: str) -> str:
        host = "127.0.0.1" if bind in ("", "0.0.0.0") else bind
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
