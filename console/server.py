"""The console's web server (Tornado): the page, its assets, the JSON figures and the two actions.

    GET  /                    the page (console/web/index.html), its script, style, uPlot, hls.js, latency.js
    GET  /api/config          the preview's stream URL and latency profile, the channel, refresh intervals,
                              the viewers' link
    GET  /share-qr.svg        the QR code of the viewers' link
    GET  /api/status          the latest figures and the big state
    GET  /api/history?since=  the history points after ``since`` (epoch seconds), up to 30 minutes
    POST /api/retry           {"reason": R or null}: re-queue failed files (of reason R) now
    POST /api/finish          {"event": ID}: ask the encoder to end the event

Every route, unknown ones included, needs HTTP basic auth. The actions also need the header
``X-Surecast: 1``: a cross-site form cannot send a custom header, and a cross-site script that tries
needs a CORS preflight this server never grants. The page may not be framed (clickjacking of the buttons).
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import tornado.httpserver
import tornado.netutil
import tornado.web
from tornado.ioloop import IOLoop

from console.share import qr_svg
from core.web_assets import HLS_JS, HLS_JS_LICENSE, LATENCY_JS, web_asset

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).parent / "web"
ACTION_HEADER = "X-Surecast"
ASSETS: dict[str, tuple[Path, str]] = {
    "/": (WEB_DIR / "index.html", "text/html; charset=utf-8"),
    "/console.js": (WEB_DIR / "console.js", "text/javascript; charset=utf-8"),
    "/console.css": (WEB_DIR / "console.css", "text/css; charset=utf-8"),
    "/uPlot.iife.min.js": (WEB_DIR / "uPlot.iife.min.js", "text/javascript; charset=utf-8"),
    "/uPlot.min.css": (WEB_DIR / "uPlot.min.css", "text/css; charset=utf-8"),
    "/uPlot-LICENSE.txt": (WEB_DIR / "uPlot-LICENSE.txt", "text/plain; charset=utf-8"),
    "/share.js": (WEB_DIR / "share.js", "text/javascript; charset=utf-8"),
    # The vendored hls.js every page shares (core/web: one copy in the repository).
    "/hls.min.js": (web_asset(HLS_JS), "text/javascript; charset=utf-8"),
    "/hls.js-LICENSE.txt": (web_asset(HLS_JS_LICENSE), "text/plain; charset=utf-8"),
    # The glass-to-glass figure and the profiles' hls.js tuning, shared with the web player.
    "/latency.js": (web_asset(LATENCY_JS), "text/javascript; charset=utf-8"),
}


class Backend(Protocol):
    """What the server serves and does; the sampler and the actions in production, a stub in tests."""

    def config(self) -> dict[str, Any]: ...

    def status(self) -> dict[str, Any]: ...

    def history(self, since: float | None) -> list[dict[str, Any]]: ...

    def retry(self, reason: str | None) -> tuple[int, int]: ...

    def finish(self, event: str) -> bool: ...


class Guarded(tornado.web.RequestHandler):
    """Basic auth on every request, no caching, no framing (the fleet page's handlers too)."""

    def initialize(
        self, backend: Any, expected: str, assets: dict[str, tuple[Path, str]] = ASSETS, realm: str = "surecast console"
    ) -> None:
        self.backend = backend
        self._expected = expected
        self._assets = assets
        self._realm = realm

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("Content-Security-Policy", "frame-ancestors 'none'")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")

    def prepare(self) -> None:
        given = self.request.headers.get("Authorization", "")
        self.authorized = hmac.compare_digest(given.encode(), self._expected.encode())
        if not self.authorized:
            self.set_status(401)
            self.set_header("WWW-Authenticate", f'Basic realm="{self._realm}", charset="UTF-8"')
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish("authentication required\n")

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))


class Asset(Guarded):
    def get(self) -> None:
        found = self._assets.get(self.request.path)
        if found is None:
            raise tornado.web.HTTPError(404)
        path, content_type = found
        try:
            body = path.read_bytes()
        except OSError as exc:
            log.error("console: %s is missing from the installation: %s", path.name, exc)
            raise tornado.web.HTTPError(500) from exc
        self.set_header("Content-Type", content_type)
        self.finish(body)


class NotFound(Guarded):
    def prepare(self) -> None:
        super().prepare()
        if self.authorized:
            raise tornado.web.HTTPError(404)


class _Config(Guarded):
    def get(self) -> None:
        self.write_json(self.backend.config())


class _ShareQr(Guarded):
    def get(self) -> None:
        share = self.backend.config().get("share") or {}
        if not share.get("url"):
            raise tornado.web.HTTPError(404)
        self.set_header("Content-Type", "image/svg+xml")
        self.finish(qr_svg(share["url"]))


class _Status(Guarded):
    def get(self) -> None:
        self.write_json({**self.backend.status(), "served_at": time.time()})


class _History(Guarded):
    def get(self) -> None:
        raw = self.get_query_argument("since", None)
        try:
            since = float(raw) if raw else None
        except ValueError:
            raise tornado.web.HTTPError(400, "since must be a number (epoch seconds)") from None
        self.write_json({"points": self.backend.history(since)})


class _Action(Guarded):
    """POST only, with the custom header, and a JSON object as the body."""

    def prepare(self) -> None:
        super().prepare()
        if not self.authorized:
            return
        if self.request.headers.get(ACTION_HEADER) != "1":
            self.write_json({"error": f"actions need the header {ACTION_HEADER}: 1"}, 403)

    def body_json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise tornado.web.HTTPError(400, "the body must be JSON") from None
        if not isinstance(data, dict):
            raise tornado.web.HTTPError(400, "the body must be a JSON object")
        return data


class _Retry(_Action):
    async def post(self) -> None:
        reason = self.body_json().get("reason")
        if reason is not None and not isinstance(reason, str):
            raise tornado.web.HTTPError(400, "reason must be a string or null")
        requeued, published = await IOLoop.current().run_in_executor(None, self.backend.retry, reason)
        log.info("console: retry %s: %d file(s) re-queued, %d published", reason or "all", requeued, published)
        self.write_json({"requeued": requeued, "published": published})


class _Finish(_Action):
    async def post(self) -> None:
        event = self.body_json().get("event")
        if not isinstance(event, str) or not event:
            raise tornado.web.HTTPError(400, "event must be the id of the event to finish")
        asked = await IOLoop.current().run_in_executor(None, self.backend.finish, event)
        if not asked:
            self.write_json({"error": f"event {event} is not live"}, 409)
            return
        log.info("console: finish of event %s requested", event)
        self.write_json({"finishing": event})


def basic_auth_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def console_app(backend: Backend, user: str, password: str) -> tornado.web.Application:
    """The Tornado application; ``user`` and ``password`` are required (there is no anonymous console)."""
    if not user or not password:
        raise ValueError("the console needs a user and a password")
    args = {"backend": backend, "expected": basic_auth_header(user, password)}
    routes: list[Any] = [(path, Asset, args) for path in ASSETS]
    routes += [
        ("/api/config", _Config, args),
        ("/share-qr.svg", _ShareQr, args),
        ("/api/status", _Status, args),
        ("/api/history", _History, args),
        ("/api/retry", _Retry, args),
        ("/api/finish", _Finish, args),
    ]
    return tornado.web.Application(
        routes, default_handler_class=NotFound, default_handler_args=args, log_function=log_request
    )


def log_request(handler: tornado.web.RequestHandler) -> None:
    log.debug("%d %s %s", handler.get_status(), handler.request.method, handler.request.uri)


def listen(app: tornado.web.Application, bind: str, port: int) -> tuple[tornado.httpserver.HTTPServer, int]:
    """Serve ``app`` on ``bind:port`` in the running event loop (port 0 picks one); returns the port."""
    sockets = tornado.netutil.bind_sockets(port, bind)
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    return server, int(sockets[0].getsockname()[1])


def run_console(app: tornado.web.Application, bind: str, port: int, on_ready: Callable[[int], None]) -> None:
    """Serve until SIGINT or SIGTERM."""

    async def serve() -> None:
        server, bound = listen(app, bind, port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        on_ready(bound)
        await stop.wait()
        server.stop()
        await server.close_all_connections()

    asyncio.run(serve())
