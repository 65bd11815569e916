"""Headless Chromium driven over the DevTools protocol on a pipe, for the browser tests and benchmarks, and a
static site on loopback for test pages.

Chromium is Debian's `chromium` package; ``CHROMIUM`` is None without it (tests skip with the reason).
``--remote-debugging-pipe``: no port, no websocket library.
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

    def call(self, method: str, params: dict[str, Any] | None = None, session: bool = True) -> dict[str, Any]:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + CDP_TIMEOUT
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                answer = json.loads(raw)
                if answer.get("id") == self._id:
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
