"""Headless Chromium driven over the DevTools protocol on a pipe, for the browser tests and benchmarks, and a
static site on loopback for test pages.

Chromium is Debian's `chromium` package; ``CHROMIUM`` is None without it (tests skip with the reason).
``--remote-debugging-pipe``: no port, no websocket library.

``DevTools`` is the browser: ``open_page(url)`` drives its first tab (``evaluate``, ``screenshot``, ``call``),
``new_tab(url)`` opens another window with its own session (a second viewer), whose requests are recorded
(``Tab.requests``) from the protocol's Network events. Tests that play in several tabs at once add
``BACKGROUND_TAB_FLAGS`` to ``CHROMIUM_FLAGS``.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.procs import terminate

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
    "--no-first-run", "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required",
    "--window-size=1280,800",
]  # fmt: skip
# Several tabs play at once: none may be slowed down as a background tab would be.
BACKGROUND_TAB_FLAGS = [
    "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]  # fmt: skip
CDP_TIMEOUT = 20.0


class DevTools:
    """Chromium's DevTools protocol over ``--remote-debugging-pipe``: NUL-separated JSON on fds 3 and 4."""

    def __init__(self, argv: list[str], log: Path) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def wire_fds() -> None:  # in the child: its fd 3 reads our commands, its fd 4 writes answers
            a, b = os.dup(to_chrome_r), os.dup(from_chrome_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [*argv, "--remote-debugging-pipe"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=wire_fds,  # only dup and dup2 run between fork and exec
                close_fds=False,
                start_new_session=True,
            )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._id = 0
        self.session = ""
        self.events: list[dict[str, Any]] = []  # every event received, of every session that enabled some

    def call(self, method: str, params: dict[str, Any] | None = None, session: bool | str = True) -> dict[str, Any]:
        """Send one command (to the first tab's session, another ``session`` given by id, or the browser with
        ``session=False``) and wait for its answer; events read meanwhile are kept in ``events``."""
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        target = session if isinstance(session, str) else (self.session if session else "")
        if target:
            message["sessionId"] = target
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + CDP_TIMEOUT
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                answer = json.loads(raw)
                if "method" in answer and "id" not in answer:
                    self.events.append(answer)
                elif answer.get("id") == self._id:
                    if "error" in answer:
                        raise RuntimeError(f"{method}: {answer['error']}")
                    result: dict[str, Any] = answer["result"]
                    return result
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"Chromium did not answer {method} within {CDP_TIMEOUT:g} s")
            ready, _, _ = select.select([self._from_chrome], [], [], left)
            if ready:
                chunk = os.read(self._from_chrome, 1 << 20)
                if not chunk:
                    raise EOFError("Chromium closed the DevTools pipe")
                self._buffer += chunk

    def open_page(self, url: str) -> None:
        targets = self.call("Target.getTargets", session=False)["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})["sessionId"]
        self.call("Page.enable")
        self.call("Page.navigate", {"url": url})

    def navigate(self, url: str) -> None:
        """Load ``url`` in the page ``open_page`` attached to."""
        self.call("Page.navigate", {"url": url})

    def new_tab(self, url: str, record_requests: bool = True) -> Tab:
        """Another window with its own session, recording its requests from the first one on."""
        target = self.call("Target.createTarget", {"url": "about:blank", "newWindow": True}, session=False)
        session = self.call("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, session=False)
        tab = Tab(self, target["targetId"], session["sessionId"])
        tab.call("Page.enable")
        if record_requests:
            tab.call("Network.enable")
        tab.call("Page.navigate", {"url": url})
        return tab

    def drain(self) -> None:
        """Keep the events already waiting in the pipe, without waiting for more."""
        while select.select([self._from_chrome], [], [], 0)[0]:
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise EOFError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        while b"\0" in self._buffer:
            raw, self._buffer = self._buffer.split(b"\0", 1)
            message = json.loads(raw)
            if "method" in message and "id" not in message:
                self.events.append(message)

    def evaluate(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})["result"].get("value")

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"]))

    def close(self) -> None:
        try:
            self.call("Browser.close", session=False)
            self.proc.wait(10)
        except (OSError, TimeoutError, EOFError, RuntimeError, subprocess.TimeoutExpired):
            terminate(self.proc)  # type: ignore[arg-type]
        finally:
            os.close(self._to_chrome)
            os.close(self._from_chrome)


def start_chromium(tmp: Path) -> DevTools:
    """Headless Chromium with its profile and log under ``tmp``, attached to its blank page."""
    assert CHROMIUM is not None
    argv = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'profile'}", "about:blank"]
    browser = DevTools(argv, tmp / "chromium.log")
    try:
        browser.open_page("about:blank")
    except (OSError, TimeoutError, EOFError, RuntimeError):
        browser.close()
        raise
    return browser


class StaticSite:
    """Files on 127.0.0.1 for a test page: each URL path's first part names a folder (``/web/page.html``)."""

    def __init__(self, folders: Mapping[str, Path]) -> None:
        class Handler(SimpleHTTPRequestHandler):
            def translate_path(self, path: str) -> str:
                top, _, rest = path.split("?", 1)[0].lstrip("/").partition("/")
                folder = folders.get(top)
                if folder is None or ".." in rest.split("/"):
                    return str(Path(os.devnull) / "missing")
                return str(folder / rest)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=os.devnull))
        threading.Thread(target=self.server.serve_forever, name="static-site", daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Tab:
    """One window of the browser, with its own DevTools session."""

    def __init__(self, browser: DevTools, target_id: str, session: str) -> None:
        self.browser = browser
        self.target_id = target_id
        self.session = session

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.call(method, params, session=self.session)

    def evaluate(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})["result"].get("value")

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"]))

    def _events(self, method: str) -> list[dict[str, Any]]:
        self.browser.drain()
        return [
            e["params"] for e in self.browser.events if e.get("sessionId") == self.session and e["method"] == method
        ]

    def requests(self) -> list[dict[str, Any]]:
        """Every request this tab made: url, type (Document, Script, XHR, Fetch, ...) and requestId."""
        return [
            {"url": e["request"]["url"], "type": e.get("type", ""), "id": e["requestId"]}
            for e in self._events("Network.requestWillBeSent")
        ]

    def received_bytes(self) -> dict[str, int]:
        """Bytes received per request id (as sent on the wire, headers included), for finished requests."""
        return {e["requestId"]: int(e["encodedDataLength"]) for e in self._events("Network.loadingFinished")}

    def close(self) -> None:
        self.browser.call("Target.closeTarget", {"targetId": self.target_id}, session=False)
