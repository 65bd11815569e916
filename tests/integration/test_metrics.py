"""The /metrics endpoint: real HTTP, real journal, real Redis; auth when asked for."""

from __future__ import annotations

import base64
import shutil
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer, make_server

import pytest

from core.contract import UploadJob
from report.metrics import SurecastCollector, metrics_app
from tests.support.stack import Stack


@pytest.fixture
def served(stack: Stack) -> Iterator[tuple[Stack, WSGIServer]]:
    journal = stack.journal()
    for i, state in enumerate(["queued", "queued", "verified", "failed"]):
        key = f"live/m{i}.ts"
        journal.record(UploadJob(path=f"m{i}.ts", key=key, size=1000 + i, md5="0" * 32))
        if state == "verified":
            journal.mark_verified(key, "0" * 32)
        elif state == "failed":
            journal.mark_failed(key, "AccessDenied")
    journal.schedule_retry("live/m0.ts", "etag", delay=60, integrity=True)
    collector = SurecastCollector(stack.spool, stack.redis.client(), "surecast")
    server = make_server("127.0.0.1", 0, metrics_app(collector, "ops", "s3cret"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield stack, server
    server.shutdown()
    thread.join(timeout=5)


def fetch(server: WSGIServer, auth: str | None) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{server.server_port}/metrics")
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def test_metrics_need_credentials_when_configured(served: tuple[Stack, WSGIServer]) -> None:
    _, server = served
    assert fetch(server, None)[0] == 401
    assert fetch(server, "ops:wrong")[0] == 401
    assert fetch(server, "ops:s3cret")[0] == 200


def test_metrics_report_backlog_failures_and_reuploads(served: tuple[Stack, WSGIServer]) -> None:
    _, server = served
    _, text = fetch(server, "ops:s3cret")
    assert 'surecast_files{state="queued"} 2.0' in text
    assert 'surecast_files{state="failed"} 1.0' in text
    assert "surecast_backlog_files 2.0" in text
    assert "surecast_backlog_bytes 2001.0" in text
    assert "surecast_integrity_reuploads_total 1.0" in text
    assert "surecast_failed_files 1.0" in text
    assert "surecast_redis_up 1.0" in text
    assert "surecast_queue_depth 0.0" in text


def test_redis_down_is_reported_not_fatal(served: tuple[Stack, WSGIServer]) -> None:
    stack, server = served
    stack.redis.stop()
    status, text = fetch(server, "ops:s3cret")
    assert status == 200 and "surecast_redis_up 0.0" in text and "surecast_backlog_files 2.0" in text


def test_metric_names_follow_prometheus_conventions(served: tuple[Stack, WSGIServer]) -> None:
    """Counters end in _total, units are base units in the name, labels come from a bounded set, the old
    names are still served; promtool's own lint agrees when Debian's prometheus package is installed."""
    from prometheus_client.parser import text_string_to_metric_families

    from report.metrics import RENAMED

    _, server = served
    _, text = fetch(server, "ops:s3cret")
    families = list(text_string_to_metric_families(text))
    samples = {s.name for f in families for s in f.samples}
    for family in families:
        assert family.name.startswith("surecast_"), family.name
        if family.type == "counter":
            assert all(s.name.endswith("_total") for s in family.samples), family.name
        else:
            assert not family.name.endswith("_total"), family.name
        for unit in ("_ms", "_milliseconds", "_minutes", "_hours", "_kb", "_mb", "_megabytes", "_percent"):
            assert unit not in family.name, family.name
        for sample in family.samples:
            assert set(sample.labels) <= {"state", "rendition", "destination"}, sample
    assert {name for pair in RENAMED.items() for name in pair if "destination" not in name} <= samples
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool (Debian's prometheus package) is not installed: its lint was not run")
    lint = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    problems = [line for line in (lint.stdout + lint.stderr).splitlines() if line.strip()]
    print("\npromtool check metrics:", problems or "no problems")
    assert problems == []
