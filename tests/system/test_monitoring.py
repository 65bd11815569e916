"""deploy/monitoring/ against Debian's prometheus package: `promtool check rules` on the shipped rules, and a
real Prometheus scraping `surecast metrics` of a real stack (Redis, SeaweedFS behind the fault proxy, a worker,
a real encoder) whose SurecastUplinkDown fires during an uplink cut and clears after it. Skipped, with the
reason, where promtool or prometheus is not installed (.ci/run installs the package when it can)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_encoder_live import start_encoder
from tests.support.procs import free_port, log_tail, spawn, terminate, wait_until
from tests.support.stack import BIN, Stack

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "monitoring" / "surecast-alerts.yml"


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (Debian's prometheus package): deploy/monitoring/ was not run by it")
    return found


def test_the_alert_rules_and_the_example_config_pass_promtool() -> None:
    promtool = tool("promtool")
    for args in (["check", "rules", str(RULES)], ["check", "config", str(RULES.parent / "prometheus.yml")]):
        result = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
    rules = RULES.read_text().count("- alert: ")  # promtool read every rule of the file
    assert (
        f"SUCCESS: {rules} rules found"
        in subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60).stdout
    )


def api(base: str, path: str, **query: str) -> Any:
    url = f"{base}/api/v1/{path}" + ("?" + urllib.parse.urlencode(query) if query else "")
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())["data"]


def uplink_alert(base: str) -> str | None:
    """SurecastUplinkDown's state in Prometheus: None, "pending" or "firing"."""
    alerts = api(base, "alerts")["alerts"]
    return next((a["state"] for a in alerts if a["labels"]["alertname"] == "SurecastUplinkDown"), None)


@pytest.mark.slow
def test_prometheus_fires_uplink_down_during_a_cut_and_clears_after(stack: Stack, tmp_path: Path) -> None:
    prometheus = tool("prometheus")
    metrics_port, prom_port = free_port(), free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        json.dumps(  # JSON is YAML: the shipped rules, scraped and evaluated every second
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(RULES)],
                "scrape_configs": [
                    {"job_name": "surecast", "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}]}
                ],
            }
        )
    )
    stack.start_worker(concurrency=2)
    encoder = start_encoder(stack, 400)
    metrics_log, prom_log = tmp_path / "metrics.log", tmp_path / "prometheus.log"
    metrics = spawn(
        [str(BIN / "surecast"), "metrics"], {**stack.env, "SURECAST_METRICS_PORT": str(metrics_port)}, metrics_log
    )
    prom = spawn(
        [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prom_port}"],
        {"PATH": "/usr/bin:/bin"},
        prom_log,
    )  # fmt: skip
    base = f"http://127.0.0.1:{prom_port}"
    try:

        def delivering() -> bool:
            try:
                found = api(base, "query", query="time() - surecast_last_success_timestamp_seconds < 5")["result"]
            except OSError:
                return False
            return bool(found)

        wait_until(delivering, 120, interval=1, message="Prometheus never saw files verified")
        assert uplink_alert(base) is None
        stack.proxy.set_mode("refuse")
        cut = time.time()
        pending = wait_until(lambda: uplink_alert(base) is not None and time.time(), 60, interval=0.5)
        firing = wait_until(
            lambda: uplink_alert(base) == "firing" and time.time(), 90, interval=0.5, message="no firing alert"
        )
        stack.proxy.set_mode("pass")
        back = time.time()
        cleared = wait_until(
            lambda: uplink_alert(base) is None and time.time(), 90, interval=0.5, message="the alert did not clear"
        )
        print(
            f"\nFIGURE prometheus: cut to SurecastUplinkDown pending {pending - cut:.1f} s, "
            f"firing {firing - cut:.1f} s (rule: 10 s without a verified file, held 30 s; scraped every 1 s)\n"
            f"FIGURE prometheus: link back to SurecastUplinkDown cleared {cleared - back:.1f} s"
        )
    except AssertionError:
        print("metrics log:\n" + log_tail(metrics_log))
        print("prometheus log:\n" + log_tail(prom_log))
        raise
    finally:
        terminate(prom)
        terminate(metrics)
        terminate(encoder.proc)
