"""A TCP relay that, while armed, flips one byte in the body of every request, chunked bodies included.

``tests.support.faultproxy.FaultProxy`` corrupts ``Content-Length`` bodies only and forwards a chunked request
untouched. FFmpeg's HTTP PUT always sends ``Transfer-Encoding: chunked``, so the FFmpeg-direct soak puts
this relay between the link proxy and the S3 server. The byte flipped is the ``offset``-th of the body's
data (of the first chunk, for a chunked body; its last byte if the chunk is shorter): the framing stays
valid, so the server stores a corrupted object, as it would after corruption its checks do not catch.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import struct
import threading
from dataclasses import dataclass, field

log = logging.getLogger(__name__)
POLL_SECONDS = 0.05
CONNECT_TIMEOUT = 2.0
SEND_TIMEOUT = 10.0
STOP_TIMEOUT = 2.0
RECV_SIZE = 65536
MAX_LINE = 65536


def _reset_close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@dataclass
class RequestCorrupter:
    """Follows the client->server byte stream request by request and flips one body byte of each armed one."""

    armed: threading.Event
    offset: int = 100
    flipped: list[str] = field(default_factory=list)
    _state: str = "head"
    _buf: bytearray = field(default_factory=bytearray)
    _left: int = 0
    _pos: int = 0
    _flip: bool = False
    _request: str = ""
    _opaque: bool = False
    _head: str = ""

    def feed(self, data: bytes) -> bytes:
        """The same bytes, with at most one flipped per armed request."""
        out = bytearray(data)
        i = 0
        while i < len(out) and not self._opaque:
            i = self._step(out, i)
        return bytes(out)

    def _step(self, out: bytearray, i: int) -> int:
        if self._state in ("head", "size", "crlf", "trailer"):
            end = out.find(b"\n", i)
            stop = len(out) if end < 0 else end + 1
            self._buf += out[i:stop]
            if len(self._buf) > MAX_LINE:
                self._opaque = True  # not HTTP we understand: forward the rest untouched
            if end >= 0:
                self._line(bytes(self._buf))
                self._buf.clear()
            return stop
        # "body" (Content-Length) or "data" (one chunk): count, and flip the chosen byte.
        take = min(self._left, len(out) - i)
        if self._flip:
            target = min(self.offset, self._pos + self._left - 1)
            if self._pos <= target < self._pos + take:
                out[i + target - self._pos] ^= 0xFF
                self.flipped.append(self._request)
                self._flip = False
        self._pos += take
        self._left -= take
        if self._left == 0:
            if self._state == "body":
                self._state = "head"
            else:
                self._state, self._pos = "crlf", 0
                self._flip = False  # only the first chunk
        return i + take

    def _line(self, raw: bytes) -> None:
        line = raw.rstrip(b"\r\n")
        if self._state == "head":
            self._head_line(raw, line)
        elif self._state == "size":
            size = int(line.split(b";")[0] or b"0", 16)
            self._state, self._left = ("trailer", 0) if size == 0 else ("data", size)
        elif self._state == "crlf":
            self._state = "size"
        elif self._state == "trailer" and not line:
            self._state = "head"

    def _head_line(self, raw: bytes, line: bytes) -> None:
        self._head += raw.decode("latin-1")
        if line:
            return
        head, self._head = self._head, ""
        lines = head.split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:]) if k}
        self._request = lines[0]
        self._flip = self.armed.is_set()
        self._pos = 0
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._state = "size"
        elif int(headers.get("content-length", "0") or 0) > 0:
            self._state, self._left = "body", int(headers["content-length"])
        else:
            self._flip = False


class FlipRelay:
    """Listens on 127.0.0.1, relays to ``upstream_port``; ``armed`` decides whether requests get a flipped byte."""

    def __init__(self, upstream_port: int, offset: int = 100) -> None:
        self.upstream_port = upstream_port
        self.offset = offset
        self.armed = threading.Event()
        self.flipped: list[str] = []
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._listener.listen(64)
        self._listener.settimeout(POLL_SECONDS * 4)
        thread = threading.Thread(target=self._accept, name=f"fliprelay-{self.port}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stopping.set()
        for thread in list(self._threads):
            thread.join(STOP_TIMEOUT)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=CONNECT_TIMEOUT)
        except OSError:
            _reset_close(client)
            return
        client.settimeout(SEND_TIMEOUT)
        upstream.settimeout(SEND_TIMEOUT)
        corrupter = RequestCorrupter(self.armed, self.offset)
        try:
            self._pump(client, upstream, corrupter)
        except OSError as exc:
            log.debug("flip relay connection ended: %r", exc)
            _reset_close(client)
            _reset_close(upstream)
        else:
            client.close()
            upstream.close()
        finally:
            with self._lock:
                self.flipped += corrupter.flipped

    def _pump(self, client: socket.socket, upstream: socket.socket, corrupter: RequestCorrupter) -> None:
        client_open = True
        while not self._stopping.is_set():
            watched = [upstream, client] if client_open else [upstream]
            ready, _, _ = select.select(watched, [], [], POLL_SECONDS)
            if upstream in ready:
                data = upstream.recv(RECV_SIZE)
                if not data:
                    return
                client.sendall(data)
            if client_open and client in ready:
                data = client.recv(RECV_SIZE)
                if not data:
                    client_open = False
                    upstream.shutdown(socket.SHUT_WR)
                    continue
                upstream.sendall(corrupter.feed(data))
        raise OSError("relay stopping")
