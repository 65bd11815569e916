"""deploy/monitoring/ names only metrics `surecast metrics` serves, by their current names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from report import metrics

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
SERVED = set(re.findall(r'"(surecast_[a-z_]+)"', Path(metrics.__file__).read_text())) - set(metrics.RENAMED)


def names_in(text: str) -> set[str]:
    return set(re.findall(r"\b(surecast_[a-z_]+)\b", text))


def test_the_alert_rules_use_served_metrics_and_hold_like_surecast_alerts_after() -> None:
    yaml = pytest.importorskip("yaml")
    text = (MONITORING / "surecast-alerts.yml").read_text()
    rules = [rule for group in yaml.safe_load(text)["groups"] for rule in group["rules"]]
    assert sorted(names_in("\n".join(r["expr"] for r in rules)) - SERVED) == []
    assert {r["for"] for r in rules} == {"30s"}  # SURECAST_ALERTS_AFTER's default
    assert all("What to do:" in r["annotations"]["description"] for r in rules)
    expected = {"SurecastUplinkDown", "SurecastDiskFull", "SurecastSourceLost", "SurecastFFmpegRestartLoop"}
    assert expected | {"SurecastDestinationDown", "SurecastVenueOffline"} <= {r["alert"] for r in rules}


def test_the_dashboard_is_json_and_uses_served_metrics() -> None:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert exprs and sorted(names_in("\n".join(exprs)) - SERVED) == []
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
