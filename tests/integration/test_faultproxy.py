"""Behaviour of the fault proxy between boto3 and a real moto S3 server on loopback.

moto's server (Werkzeug) answers every request with ``Connection: close``, so boto3 opens one connection
per request there. The proxy's effect on existing keepalive connections is therefore checked separately
against a small HTTP/1.1 keepalive server from the standard library.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from tests.support.faultproxy import FaultProxy
from tests.support.procs import S3Server

pytestmark = pytest.mark.timeout(60)

BUCKET = "faultproxy-test"
MiB = 1024 * 1024
READ_TIMEOUT = 3
LINK_ERRORS = (EndpointConnectionError, ConnectionClosedError)


def s3_client(endpoint_url: str, **config: Any) -> Any:
    """A boto3 S3 client with no retries and short timeouts, so a fault shows up as one failed call."""
    settings: dict[str, Any] = {
        # botocore reads retries["max_attempts"] as retries after the first try (1 means two tries);
        # total_max_attempts counts the first try.
        "retries": {"total_max_attempts": 1},
        "connect_timeout": 2,
        "read_timeout": READ_TIMEOUT,
        "s3": {"addressing_style": "path"},
        **config,
    }
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(**settings),
    )


@pytest.fixture(scope="module")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    log_path: Path = tmp_path_factory.mktemp("moto") / "moto.log"
    with S3Server(log_path) as server:
        server.start()
        s3_client(server.endpoint_url).create_bucket(Bucket=BUCKET)
        yield server


@pytest.fixture
def proxy(moto_server: S3Server) -> Iterator[FaultProxy]:
    with FaultProxy(moto_server.port) as fault_proxy:
        yield fault_proxy


@pytest.fixture
def client(proxy: FaultProxy) -> Any:
    return s3_client(f"http://127.0.0.1:{proxy.port}")


@pytest.fixture
def direct(moto_server: S3Server) -> Any:
    """A client that bypasses the proxy, to inspect what the server really stored.

    moto keeps the upload's x-amz-checksum-crc32 header without checking it, and botocore validates it on
    GET by default, so reading a corrupted object back needs response checksum validation off.
    """
    return s3_client(moto_server.endpoint_url, response_checksum_validation="when_required")


def test_pass_mode_round_trips_an_object(client: Any, proxy: FaultProxy) -> None:
    body = os.urandom(200_000)
    client.put_object(Bucket=BUCKET, Key="pass", Body=body)
    assert client.get_object(Bucket=BUCKET, Key="pass")["Body"].read() == body
    assert proxy.connections >= 1
    assert proxy.bytes_down > len(body)
    assert proxy.faults_injected == 0


def test_bytes_up_counts_forwarded_request_bytes(client: Any, proxy: FaultProxy) -> None:
    client.head_bucket(Bucket=BUCKET)
    proxy.reset_counters()
    body = os.urandom(100_000)
    client.put_object(Bucket=BUCKET, Key="counted", Body=body)
    assert len(body) <= proxy.bytes_up < len(body) + 4096  # body plus one request head
    assert proxy.connections == 1


def test_refuse_mode_fails_calls_until_pass_is_restored(client: Any, proxy: FaultProxy) -> None:
    client.put_object(Bucket=BUCKET, Key="before-cut", Body=b"x" * 1000)
    proxy.set_mode("refuse")
    with pytest.raises(LINK_ERRORS):
        client.put_object(Bucket=BUCKET, Key="during-cut", Body=b"x" * 1000)
    assert proxy.faults_injected >= 1
    proxy.set_mode("pass")
    client.put_object(Bucket=BUCKET, Key="after-cut", Body=b"x" * 1000)


def test_stall_mode_makes_a_call_time_out_within_the_read_timeout(client: Any, proxy: FaultProxy) -> None:
    proxy.set_mode("stall")
    started = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        client.put_object(Bucket=BUCKET, Key="stalled", Body=b"x" * 1000)
    elapsed = time.monotonic() - started
    assert READ_TIMEOUT * 0.8 <= elapsed < READ_TIMEOUT + 2
    proxy.set_mode("pass")
    client.put_object(Bucket=BUCKET, Key="after-stall", Body=b"x" * 1000)


def test_flip_mode_stores_a_corrupted_object_of_the_same_size(client: Any, direct: Any, proxy: FaultProxy) -> None:
    body = os.urandom(300_000)
    sent_md5 = hashlib.md5(body).hexdigest()
    proxy.set_mode("flip")
    client.put_object(Bucket=BUCKET, Key="flipped", Body=body)  # no ContentMD5: moto would not check it
    client.put_object(Bucket=BUCKET, Key="intact", Body=body)  # count=1 spent, back to pass

    stored = direct.get_object(Bucket=BUCKET, Key="flipped")
    data = stored["Body"].read()
    assert len(data) == len(body)
    assert stored["ETag"].strip('"') != sent_md5
    assert [i for i in range(len(body)) if data[i] != body[i]] == [100]
    assert direct.get_object(Bucket=BUCKET, Key="intact")["ETag"].strip('"') == sent_md5
    assert proxy.faults_injected == 1
    assert proxy.mode == "pass"


def test_reset_mid_body_fails_a_large_put_once(client: Any, direct: Any, proxy: FaultProxy) -> None:
    proxy.set_mode("reset_mid_body", after_bytes=65536)
    with pytest.raises(LINK_ERRORS):
        client.put_object(Bucket=BUCKET, Key="reset", Body=os.urandom(MiB))
    assert proxy.bytes_up == 65536
    assert proxy.mode == "pass"
    with pytest.raises(ClientError):
        direct.head_object(Bucket=BUCKET, Key="reset")
    client.put_object(Bucket=BUCKET, Key="reset", Body=os.urandom(MiB))


def test_throttle_mode_slows_an_upload_to_the_rate(client: Any, proxy: FaultProxy) -> None:
    rate = MiB  # bytes per second: a 1 MiB upload should take about a second
    proxy.set_mode("throttle", bytes_per_sec=rate)
    started = time.monotonic()
    client.put_object(Bucket=BUCKET, Key="throttled", Body=os.urandom(MiB))
    assert time.monotonic() - started >= 0.5 * MiB / rate


def test_http_error_mode_answers_slowdown_503_without_reaching_s3(client: Any, proxy: FaultProxy) -> None:
    proxy.set_mode("http_error")
    calls: list[Callable[[], object]] = [
        lambda: client.put_object(Bucket=BUCKET, Key="slowed", Body=os.urandom(200_000)),
        lambda: client.get_object(Bucket=BUCKET, Key="pass"),
    ]
    for call in calls:
        with pytest.raises(ClientError) as info:
            call()
        assert info.value.response["Error"]["Code"] == "SlowDown"
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert proxy.bytes_up == 0
    assert proxy.faults_injected == 2


def test_unknown_mode_or_parameter_is_rejected(proxy: FaultProxy) -> None:
    with pytest.raises(ValueError, match="unknown fault proxy mode"):
        proxy.set_mode("drop")
    with pytest.raises(ValueError, match="takes no parameter"):
        proxy.set_mode("flip", after_bytes=3)
    with pytest.raises(ValueError, match="bytes_per_sec"):
        proxy.set_mode("throttle")


# Existing keepalive connections -------------------------------------------------------------------------


class _StoreHandler(BaseHTTPRequestHandler):
    """PUT stores the body under the path, GET returns it; HTTP/1.1 keepalive."""

    protocol_version = "HTTP/1.1"
    timeout = 5  # bounds the handler thread's wait for a next request
    store: dict[str, bytes] = {}

    def handle(self) -> None:
        # The proxy resets connections on purpose; that is not a server error worth a traceback.
        with contextlib.suppress(ConnectionResetError):
            super().handle()

    def do_PUT(self) -> None:
        self.store[self.path] = self.rfile.read(int(self.headers["Content-Length"]))
        self._reply(b"")

    def do_GET(self) -> None:
        self._reply(self.store.get(self.path, b""))

    def _reply(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return  # keep test output quiet


@pytest.fixture
def keepalive_proxy() -> Iterator[tuple[FaultProxy, dict[str, bytes]]]:
    store: dict[str, bytes] = {}
    handler = type("Handler", (_StoreHandler,), {"store": store})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        with FaultProxy(server.server_address[1]) as fault_proxy:
            yield fault_proxy, store
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _request(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None) -> Any:
    conn.request(method, path, body=body)
    response = conn.getresponse()
    return response, response.read()


def test_flip_applies_to_the_next_bodies_on_an_existing_keepalive_connection(
    keepalive_proxy: tuple[FaultProxy, dict[str, bytes]],
) -> None:
    proxy, store = keepalive_proxy
    body = os.urandom(50_000)
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=3)
    _request(conn, "PUT", "/before", body)
    proxy.set_mode("flip", count=2, offset=7)
    _request(conn, "GET", "/before")  # no body: not counted
    _request(conn, "PUT", "/first", body)
    _request(conn, "PUT", "/second", body)
    _request(conn, "PUT", "/after", body)
    conn.close()

    assert proxy.connections == 1
    assert store["/before"] == body and store["/after"] == body
    for path in ("/first", "/second"):
        assert [i for i in range(len(body)) if store[path][i] != body[i]] == [7]


def test_refuse_resets_an_existing_keepalive_connection(
    keepalive_proxy: tuple[FaultProxy, dict[str, bytes]],
) -> None:
    proxy, _ = keepalive_proxy
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=3)
    _request(conn, "PUT", "/a", b"x" * 100)
    proxy.set_mode("refuse")
    assert proxy.faults_injected == 1
    with pytest.raises(ConnectionResetError):
        _request(conn, "PUT", "/b", b"x" * 100)
    conn.close()


def test_stall_holds_an_existing_keepalive_connection(
    keepalive_proxy: tuple[FaultProxy, dict[str, bytes]],
) -> None:
    proxy, store = keepalive_proxy
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=1)
    _request(conn, "PUT", "/a", b"x" * 100)
    proxy.set_mode("stall")
    with pytest.raises(TimeoutError):
        _request(conn, "PUT", "/b", b"y" * 100)
    assert "/b" not in store
    conn.close()


def test_http_error_answers_the_next_request_on_an_existing_keepalive_connection(
    keepalive_proxy: tuple[FaultProxy, dict[str, bytes]],
) -> None:
    proxy, store = keepalive_proxy
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=3)
    _request(conn, "PUT", "/a", b"x" * 100)
    proxy.set_mode("http_error", status=500, code="InternalError", message="We encountered an error.")
    response, payload = _request(conn, "PUT", "/b", os.urandom(100_000))
    conn.close()

    assert response.status == 500
    assert response.getheader("Connection") == "close"
    assert b"<Code>InternalError</Code><Message>We encountered an error.</Message>" in payload
    assert "/b" not in store


@pytest.mark.parametrize(("turn", "header"), [(0, b"x-amz-date"), (1, b"Content-MD5"), (2, b"x-amz-date")])
def test_flip_head_changes_one_byte_of_one_target_header_in_turn(turn: int, header: bytes) -> None:
    from tests.support.faultproxy import flip_header_byte

    head = b"PUT /b/k HTTP/1.1\r\nHost: h\r\nx-amz-date: 20261201T000000Z\r\nContent-MD5: abcdefghij\r\n\r\n"
    out = flip_header_byte(head, turn, 0x01)
    changed = [(a, b) for a, b in zip(out.split(b"\r\n"), head.split(b"\r\n"), strict=True) if a != b]
    assert len(changed) == 1 and changed[0][0].startswith(header + b":")
    assert sum(a != b for a, b in zip(changed[0][0], changed[0][1], strict=True)) == 1
    assert flip_header_byte(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", 0, 1) == b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"


def test_flip_head_makes_a_real_server_refuse_the_request_then_passes(s3_server: Any) -> None:
    """SeaweedFS, because it checks signatures and digests as S3 does (moto checks neither)."""
    s3_server.client().create_bucket(Bucket="flip-head-test")
    with FaultProxy(s3_server.port) as proxy:
        client = s3_client(f"http://127.0.0.1:{proxy.port}")
        proxy.set_mode("flip_head", count=4)
        errors = []
        for i in range(4):
            with pytest.raises(ClientError) as caught:
                client.put_object(
                    Bucket="flip-head-test", Key=f"k{i}", Body=b"x" * 100, ContentMD5="rtVj7K+0vMVlTFl6QhVHsg=="
                )
            errors.append(caught.value)
        assert proxy.faults_injected == 4 and proxy.mode == "pass"
        statuses = [e.response["ResponseMetadata"]["HTTPStatusCode"] for e in errors]
        assert all(400 <= status < 500 for status in statuses), statuses
        print("flip_head answers:", [e.response["Error"].get("Code") or "(no code)" for e in errors])
        client.put_object(Bucket="flip-head-test", Key="after", Body=b"x" * 100)


def test_portal_mode_answers_html_like_a_captive_portal(client: Any, proxy: FaultProxy) -> None:
    proxy.set_mode("portal")
    with pytest.raises(ClientError) as caught:
        client.head_object(Bucket=BUCKET, Key="anything")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    raw = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
    raw.request("GET", f"/{BUCKET}/anything")
    answer = raw.getresponse()
    assert answer.status == 404 and answer.getheader("Content-Type", "").startswith("text/html")
    assert b"<html>" in answer.read()
    raw.close()
