"""A TCP fault proxy for S3 integration tests (stdlib only).

The proxy listens on 127.0.0.1, forwards each client connection to an S3 server on loopback, and injects a
fault chosen at runtime with `FaultProxy.set_mode`:

- ``pass``: forward both ways.
- ``refuse``: reset (RST) every existing connection at once and every new one on accept; cuts the link.
- ``stall``: forward nothing either way until the mode changes; existing connections stall too.
- ``reset_mid_body``: forward a request until ``after_bytes`` of it have gone upstream, then reset both
  sides; ``count`` connections get this, then the mode reverts to ``pass``.
- ``throttle``: limit client->server bytes to ``bytes_per_sec``, shared by all connections.
- ``flip``: XOR 0xFF one byte at ``offset`` into the body of the next ``count`` requests that carry a body,
  then revert to ``pass``.
- ``flip_head``: change one byte (XOR ``xor``) in the middle of one header value of the next ``count``
  requests, then revert to ``pass``: a signed header (Authorization, X-Amz-Date, X-Amz-Content-SHA256) or
  Content-MD5, taking them in turn, as a link that corrupts bytes would. Servers answer these with
  SignatureDoesNotMatch, InvalidDigest, InvalidRequest or a bare 400.
- ``http_error``: answer each request itself with an S3 XML error (``status``, ``code``, ``message``) and
  ``Connection: close``.
- ``portal``: answer each request itself with an HTML page and ``status`` (404 by default), as a venue's
  captive portal or proxy does while the real uplink is gone.

Each connection is served by one thread that polls both sockets with a short timeout, so a mode change reaches
existing keepalive connections within one poll interval. The client->server stream is parsed into HTTP/1.1
requests (head, then a ``Content-Length`` body) so faults can target request bodies and request boundaries;
a chunked request makes the rest of that connection opaque (forwarded, never corrupted).
"""

from __future__ import annotations

import contextlib
import http
import logging
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from xml.sax.saxutils import escape

logger = logging.getLogger(__name__)

POLL_INTERVAL = 0.05  # seconds: how soon a mode change reaches an existing connection
CONNECT_TIMEOUT = 2.0  # upstream connect
SEND_TIMEOUT = 10.0  # bound on any single sendall to a peer that does not read
DRAIN_TIMEOUT = 1.0  # reading a client's leftovers after a canned error, before closing
STOP_TIMEOUT = 2.0  # waiting for connection threads to close
RECV_SIZE = 65536
MAX_HEAD_BYTES = 65536  # a request head larger than this makes the connection opaque
# Header values ``flip_head`` corrupts, in turn (lower case, as parsed).
HEAD_TARGETS = ("authorization", "x-amz-date", "x-amz-content-sha256", "content-md5")

_DEFAULTS: dict[str, dict[str, Any]] = {
    "pass": {},
    "refuse": {},
    "stall": {},
    "reset_mid_body": {"after_bytes": 65536, "count": 1},
    "throttle": {"bytes_per_sec": None},
    "flip": {"count": 1, "offset": 100},
    "flip_head": {"count": 1, "xor": 0x01},
    "http_error": {"status": 503, "code": "SlowDown", "message": "Please reduce your request rate."},
    "portal": {"status": 404},
}
MODES = frozenset(_DEFAULTS)


class _RateLimiter:
    """Paces client->server bytes to one rate shared by all connections."""

    def __init__(self, bytes_per_sec: int) -> None:
        self.bytes_per_sec = bytes_per_sec
        self.chunk_size = max(1, min(RECV_SIZE, bytes_per_sec // 20))
        self._next_free = time.monotonic()
        self._lock = threading.Lock()

    def wait_time(self) -> float:
        """Seconds until the next chunk may be read (0 when it may be read now)."""
        with self._lock:
            return max(0.0, self._next_free - time.monotonic())

    def consume(self, nbytes: int) -> None:
        with self._lock:
            start = max(time.monotonic(), self._next_free)
            self._next_free = start + nbytes / self.bytes_per_sec


@dataclass
class _Mode:
    """One `set_mode` call; replaced as a whole so connections can detect a change by identity."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    remaining: int = 0  # connections or requests still to fault, for counted modes
    limiter: _RateLimiter | None = None


def _validated_mode(mode: str, params: dict[str, Any]) -> _Mode:
    if mode not in _DEFAULTS:
        raise ValueError(f"unknown fault proxy mode {mode!r}; expected one of {sorted(MODES)}")
    unknown = set(params) - set(_DEFAULTS[mode])
    if unknown:
        raise ValueError(f"mode {mode!r} takes no parameter(s) {sorted(unknown)}")
    merged = {**_DEFAULTS[mode], **params}
    for name in ("count", "bytes_per_sec"):
        if name in merged and not (isinstance(merged[name], int) and merged[name] >= 1):
            raise ValueError(f"mode {mode!r}: {name} must be an int >= 1, got {merged[name]!r}")
    if mode == "flip_head" and not (isinstance(merged["xor"], int) and 1 <= merged["xor"] <= 0x7F):
        raise ValueError(f"mode 'flip_head': xor must be an int from 1 to 127, got {merged['xor']!r}")
    for name in ("after_bytes", "offset"):
        if name in merged and not (isinstance(merged[name], int) and merged[name] >= 0):
            raise ValueError(f"mode {mode!r}: {name} must be an int >= 0, got {merged[name]!r}")
    if mode in ("http_error", "portal") and not 100 <= int(merged["status"]) <= 599:
        raise ValueError(f"mode {mode!r}: status must be an HTTP status, got {merged['status']!r}")
    limiter = _RateLimiter(merged["bytes_per_sec"]) if mode == "throttle" else None
    return _Mode(mode, merged, remaining=int(merged.get("count", 0)), limiter=limiter)


def _reset_close(sock: socket.socket) -> None:
    """Close with SO_LINGER 0 so the peer gets an RST instead of a FIN."""
    # The socket may already be dead (peer reset); closing it is all that matters then.
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@dataclass
class _RequestHead:
    method: str
    target: str  # the request line's path and query
    content_length: int  # -1 when absent framing cannot be trusted (chunked or malformed)
    expect_continue: bool


def _parse_head(head: bytes) -> _RequestHead:
    lines = head.decode("latin-1").split("\r\n")
    request_line = lines[0].split(" ")
    method = request_line[0].upper()
    target = request_line[1] if len(request_line) > 1 else ""
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    length = 0
    if "chunked" in headers.get("transfer-encoding", "").lower():
        length = -1
    elif "content-length" in headers:
        try:
            length = int(headers["content-length"])
        except ValueError:
            length = -1
    expect = headers.get("expect", "").lower() == "100-continue"
    return _RequestHead(method, target, length, expect)


def flip_header_byte(head: bytes, turn: int, xor: int) -> bytes:
    """``head`` with one byte changed in the middle of the value of one of HEAD_TARGETS (chosen by ``turn``
    among those the request has); unchanged if it has none. Pure."""
    lines = head.split(b"\r\n")
    present = [
        i
        for i, line in enumerate(lines[1:], 1)
        if line.split(b":", 1)[0].strip().lower().decode("latin-1") in HEAD_TARGETS
    ]
    if not present:
        return head
    index = present[turn % len(present)]
    name, _, value = lines[index].partition(b":")
    start = len(value) - len(value.lstrip())
    middle = start + (len(value) - start) // 2
    changed = bytearray(value)
    changed[middle] ^= xor
    lines[index] = name + b":" + bytes(changed)
    return b"\r\n".join(lines)


def _error_response(params: dict[str, Any], method: str) -> bytes:
    status = int(params["status"])
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    if "code" in params:
        content_type = "application/xml"
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f"<Error><Code>{escape(str(params['code']))}</Code>"
            f"<Message>{escape(str(params['message']))}</Message></Error>"
        ).encode()
    else:  # a captive portal's page
        content_type = "text/html; charset=utf-8"
        page = f"<!DOCTYPE html><html><head><title>{reason}</title></head><body><h1>Venue Wi-Fi</h1></body></html>"
        body = page.encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        + ("x-amz-request-id: FAULTPROXY\r\n" if "code" in params else "")
        + "Connection: close\r\n\r\n"
    ).encode()
    return head if method == "HEAD" else head + body


class _Connection:
    """One client connection and its upstream connection, served by one thread."""

    def __init__(self, proxy: FaultProxy, client: socket.socket) -> None:
        self._proxy = proxy
        self._client = client
        self._client.settimeout(SEND_TIMEOUT)
        self._upstream: socket.socket | None = None
        self._abort = threading.Event()
        self.closed = threading.Event()
        self._done = False
        # Client->server request tracking.
        self._head = bytearray()
        self._opaque = False
        self._in_body = False
        self._discarding = False
        self._body_left = 0
        self._body_pos = 0
        self._flip_at: int | None = None
        self._request_bytes = 0
        self._method = ""
        self._error_params: dict[str, Any] = {}

    def abort(self) -> None:
        """Ask the serving thread to reset both sides; it acts within one poll interval."""
        self._abort.set()

    def run(self) -> None:
        try:
            self._serve()
        except OSError as exc:
            logger.debug("fault proxy connection ended: %r", exc)
            self._close(reset=True)
        finally:
            self._close(reset=False)

    def _serve(self) -> None:
        while not self._done:
            if self._abort.is_set():
                self._close(reset=True)
                return
            mode = self._proxy.current_mode()
            if mode.name == "stall":
                self._abort.wait(POLL_INTERVAL)
                continue
            poller = select.poll()
            timeout = POLL_INTERVAL
            recv_size = RECV_SIZE
            read_client = True
            if mode.limiter is not None:
                wait = mode.limiter.wait_time()
                read_client = wait <= 0
                timeout = min(timeout, wait) if wait > 0 else timeout
                recv_size = mode.limiter.chunk_size
            if read_client:
                poller.register(self._client, select.POLLIN)
            if self._upstream is not None:
                poller.register(self._upstream, select.POLLIN)
            events = poller.poll(int(timeout * 1000) + 1)
            if self._proxy.current_mode() is not mode:
                continue  # re-plan: e.g. a stall set while polling must stop this data
            ready = {fd for fd, _ in events}
            if self._upstream is not None and self._upstream.fileno() in ready:
                data = self._upstream.recv(RECV_SIZE)
                if not data:
                    self._close(reset=False)
                    return
                # Count before the client can see the data, so a test reading counters after a call is exact.
                self._proxy.count(down=len(data))
                self._client.sendall(data)
            if read_client and self._client.fileno() in ready:
                data = self._client.recv(recv_size)
                if not data:
                    self._close(reset=False)
                    return
                if mode.limiter is not None:
                    mode.limiter.consume(len(data))
                self._on_client_data(data)

    def _on_client_data(self, data: bytes) -> None:
        view = data
        while view and not self._done:
            if self._opaque:
                self._forward_up(view)
                return
            if self._discarding:
                taken = min(self._body_left, len(view))
                self._body_left -= taken
                view = view[taken:]
                if self._body_left == 0:
                    self._answer_error()
                continue
            if self._in_body:
                taken = min(self._body_left, len(view))
                chunk = bytearray(view[:taken])
                if self._flip_at is not None and self._body_pos <= self._flip_at < self._body_pos + taken:
                    chunk[self._flip_at - self._body_pos] ^= 0xFF
                    self._flip_at = None
                    self._proxy.count(faults=1)
                self._body_pos += taken
                self._body_left -= taken
                self._in_body = self._body_left > 0
                view = view[taken:]
                self._forward_up(bytes(chunk))
                continue
            self._head += view
            view = b""
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                if len(self._head) > MAX_HEAD_BYTES:
                    self._opaque = True
                    view = bytes(self._head)
                    self._head.clear()
                continue
            head = bytes(self._head[: end + 4])
            view = bytes(self._head[end + 4 :])
            self._head.clear()
            self._start_request(head)

    def _start_request(self, head: bytes) -> None:
        self._request_bytes = 0
        parsed = _parse_head(head)
        self._method = parsed.method
        self._proxy.note_request(parsed.method, parsed.target)
        mode = self._proxy.current_mode()
        if mode.name in ("http_error", "portal"):
            self._error_params = mode.params
            if parsed.content_length <= 0 or parsed.expect_continue:
                # No body, unknown framing, or the client waits for our verdict before sending the body.
                self._answer_error()
            else:
                self._discarding = True
                self._body_left = parsed.content_length
            return
        flip_head = self._proxy.claim("flip_head")
        if flip_head is not None:
            head = flip_header_byte(head, self._proxy.next_turn(), flip_head["xor"])
            self._proxy.count(faults=1)
        if parsed.content_length < 0:
            self._opaque = True
        elif parsed.content_length > 0:
            self._in_body = True
            self._body_left = parsed.content_length
            self._body_pos = 0
            flip = self._proxy.claim("flip")
            if flip is not None:
                self._flip_at = min(flip["offset"], parsed.content_length - 1)
        self._forward_up(head)

    def _forward_up(self, data: bytes) -> None:
        if self._upstream is None:
            self._upstream = socket.create_connection(
                (self._proxy.upstream_host, self._proxy.upstream_port), timeout=CONNECT_TIMEOUT
            )
            self._upstream.settimeout(SEND_TIMEOUT)
        mode = self._proxy.current_mode()
        if mode.name == "reset_mid_body" and self._request_bytes + len(data) > mode.params["after_bytes"]:
            params = self._proxy.claim("reset_mid_body")
            if params is not None:
                keep = max(0, params["after_bytes"] - self._request_bytes)
                self._proxy.count(up=keep, faults=1)
                if keep:
                    self._upstream.sendall(data[:keep])
                self._close(reset=True)
                return
        self._request_bytes += len(data)
        self._proxy.count(up=len(data))
        self._upstream.sendall(data)

    def _answer_error(self) -> None:
        """Send the canned error, then close gracefully after a bounded drain so the client reads it."""
        self._proxy.count(faults=1)
        self._client.sendall(_error_response(self._error_params, self._method))
        self._client.shutdown(socket.SHUT_WR)
        self._client.settimeout(0.1)
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while time.monotonic() < deadline:
            try:
                if not self._client.recv(RECV_SIZE):
                    break
            except TimeoutError:
                continue
        self._close(reset=False)

    def _close(self, reset: bool) -> None:
        if self._done:
            return
        self._done = True
        for sock in (self._client, self._upstream):
            if sock is None:
                continue
            if reset:
                _reset_close(sock)
            else:
                sock.close()
        self._proxy.forget(self)
        self.closed.set()


class FaultProxy:
    """TCP proxy from 127.0.0.1:`port` to `host`:`upstream_port` that injects faults on command."""

    def __init__(self, upstream_port: int, host: str = "127.0.0.1") -> None:
        self.upstream_port = upstream_port
        self.upstream_host = host
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._mode = _Mode("pass")
        self._conns: set[_Connection] = set()
        self._threads: list[threading.Thread] = []
        self._accept_thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._bytes_up = 0
        self._bytes_down = 0
        self._connections = 0
        self._faults = 0
        self._requests: list[tuple[str, str]] = []
        self._turns = 0

    # Lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start accepting connections."""
        if self._accept_thread is not None:
            raise RuntimeError("FaultProxy already started")
        self._listener.listen(64)
        self._listener.settimeout(POLL_INTERVAL * 2)
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"faultproxy-accept-{self.port}", daemon=True
        )
        self._accept_thread.start()

    def stop(self) -> None:
        """Stop accepting, reset every open connection and wait (bounded) for their threads."""
        self._stopping.set()
        if self._accept_thread is not None:
            self._accept_thread.join(STOP_TIMEOUT)
        self._listener.close()
        self._abort_all()
        deadline = time.monotonic() + STOP_TIMEOUT
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> FaultProxy:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # Control ---------------------------------------------------------------------------------------------

    def set_mode(self, mode: str, **params: Any) -> None:
        """Switch the fault mode; ``refuse`` returns only after existing connections are reset (bounded)."""
        new = _validated_mode(mode, params)
        with self._lock:
            self._mode = new
        logger.debug("fault proxy %d: mode %s %s", self.port, mode, new.params)
        if mode == "refuse":
            self.count(faults=self._abort_all())

    @property
    def mode(self) -> str:
        """Name of the current mode (counted modes revert to ``pass`` once spent)."""
        return self._mode.name

    def reset_counters(self) -> None:
        with self._lock:
            self._bytes_up = self._bytes_down = self._connections = self._faults = 0
            self._requests.clear()

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path and query) of every request seen since the last reset, in order."""
        with self._lock:
            return list(self._requests)

    def note_request(self, method: str, target: str) -> None:
        with self._lock:
            self._requests.append((method, target))

    @property
    def bytes_up(self) -> int:
        """Client->server bytes forwarded upstream since the last reset."""
        with self._lock:
            return self._bytes_up

    @property
    def bytes_down(self) -> int:
        """Server->client bytes forwarded since the last reset (canned errors not included)."""
        with self._lock:
            return self._bytes_down

    @property
    def connections(self) -> int:
        """Client connections accepted since the last reset."""
        with self._lock:
            return self._connections

    @property
    def faults_injected(self) -> int:
        """Faults applied since the last reset: refused or reset connections, flips, canned errors."""
        with self._lock:
            return self._faults

    # Used by connections -----------------------------------------------------------------------------------

    def current_mode(self) -> _Mode:
        return self._mode

    def claim(self, kind: str) -> dict[str, Any] | None:
        """Take one unit of a counted mode's budget; returns its params, or None if not in that mode."""
        with self._lock:
            mode = self._mode
            if mode.name != kind or mode.remaining <= 0:
                return None
            mode.remaining -= 1
            if mode.remaining == 0:
                self._mode = _Mode("pass")
            return mode.params

    def next_turn(self) -> int:
        """A counter shared by all connections: which header ``flip_head`` takes next."""
        with self._lock:
            self._turns += 1
            return self._turns

    def count(self, up: int = 0, down: int = 0, faults: int = 0) -> None:
        with self._lock:
            self._bytes_up += up
            self._bytes_down += down
            self._faults += faults

    def forget(self, conn: _Connection) -> None:
        with self._lock:
            self._conns.discard(conn)

    # Internals -------------------------------------------------------------------------------------------

    def _abort_all(self) -> int:
        """Reset every open connection, waiting (bounded) until they are closed; returns how many."""
        with self._lock:
            victims = list(self._conns)
        for conn in victims:
            conn.abort()
        deadline = time.monotonic() + STOP_TIMEOUT
        for conn in victims:
            conn.closed.wait(max(0.0, deadline - time.monotonic()))
        return len(victims)

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError as exc:
                if not self._stopping.is_set():
                    logger.warning("fault proxy %d: accept failed: %r", self.port, exc)
                return
            with self._lock:
                self._connections += 1
                refuse = self._mode.name == "refuse"
                if refuse:
                    self._faults += 1
            if refuse:
                _reset_close(client)
                continue
            conn = _Connection(self, client)
            thread = threading.Thread(target=conn.run, name=f"faultproxy-conn-{self.port}", daemon=True)
            with self._lock:
                self._conns.add(conn)
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()
