"""A TCP relay that adds a fixed delay each way (stdlib only): the round trip of a venue uplink.

There is no netem on the test machines; this relay holds every chunk for ``delay`` seconds before passing
it on, in each direction, without limiting the rate (a reader and a writer thread per direction, a queue
between them). Run inside a network namespace with ``ip netns exec``:

    python -m tests.support.delayline --listen 10.77.0.2:9000 --to 10.77.0.1:8333 --delay 0.05
"""

from __future__ import annotations

import argparse
import contextlib
import queue
import socket
import threading
import time

RECV_SIZE = 65536


def _pump(src: socket.socket, dst: socket.socket, delay: float) -> None:
    line: queue.Queue[tuple[float, bytes]] = queue.Queue()

    def read() -> None:
        try:
            while data := src.recv(RECV_SIZE):
                line.put((time.monotonic() + delay, data))
        except OSError:
            pass
        line.put((time.monotonic() + delay, b""))

    threading.Thread(target=read, daemon=True).start()
    try:
        while True:
            due, data = line.get()
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if not data:
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)
                return
            dst.sendall(data)
    except OSError:
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _serve(client: socket.socket, upstream: tuple[str, int], delay: float) -> None:
    try:
        server = socket.create_connection(upstream, timeout=10)
    except OSError:
        client.close()
        return
    server.settimeout(None)
    for sock in (client, server):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    up = threading.Thread(target=_pump, args=(client, server, delay), daemon=True)
    up.start()
    _pump(server, client, delay)
    up.join()
    client.close()
    server.close()


def relay(listen: tuple[str, int], upstream: tuple[str, int], delay: float) -> None:
    listener = socket.create_server(listen, reuse_port=False)
    while True:
        client, _ = listener.accept()
        threading.Thread(target=_serve, args=(client, upstream, delay), daemon=True).start()


def _address(text: str) -> tuple[str, int]:
    host, port = text.rsplit(":", 1)
    return host, int(port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", type=_address, required=True, help="HOST:PORT to accept on")
    parser.add_argument("--to", type=_address, required=True, help="HOST:PORT to forward to")
    parser.add_argument("--delay", type=float, default=0.05, help="seconds added each way")
    args = parser.parse_args()
    relay(args.listen, args.to, args.delay)


if __name__ == "__main__":
    main()
