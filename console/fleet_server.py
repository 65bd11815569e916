"""The fleet page's server: the console's server (basic auth on every route, no caching, no framing) with
the fleet's routes.

    GET  /            the page (console/web/fleet.html) and its script
    GET  /api/fleet   every venue: state in words, live-edge lag, backlog, last segment, disk, workers,
                      the viewers' link; and whether Redis could be read
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import tornado.web

from console.server import WEB_DIR, Asset, Guarded, NotFound, basic_auth_header, log_request

FLEET_ASSETS = {
    "/": (WEB_DIR / "fleet.html", "text/html; charset=utf-8"),
    "/fleet.js": (WEB_DIR / "fleet.js", "text/javascript; charset=utf-8"),
}


class FleetBackend(Protocol):
    def snapshot(self) -> dict[str, Any]: ...


class _Fleet(Guarded):
    def get(self) -> None:
        self.write_json({**self.backend.snapshot(), "served_at": time.time()})


def fleet_app(backend: FleetBackend, user: str, password: str) -> tornado.web.Application:
    """The fleet page's application; ``user`` and ``password`` are required, as for the console."""
    if not user or not password:
        raise ValueError("the fleet page needs a user and a password")
    args = {
        "backend": backend,
        "expected": basic_auth_header(user, password),
        "assets": FLEET_ASSETS,
        "realm": "surecast fleet",
    }
    routes: list[Any] = [(path, Asset, args) for path in FLEET_ASSETS]
    routes.append(("/api/fleet", _Fleet, args))
    return tornado.web.Application(
        routes, default_handler_class=NotFound, default_handler_args=args, log_function=log_request
    )
