"""The replica alerts in the rendered rules fire on the gauges upstack.metrics exports, checked by
``promtool test rules`` (Prometheus's own rule evaluator) on series that lag and that do not."""

from __future__ import annotations

import subprocess

import yaml

from tests import servers
from upstack.stack import machine, observability


def _promtool_test(tmp, series: dict[str, str], alert: str, fires: bool) -> subprocess.CompletedProcess:
    (tmp / "upstack-alerts.yml").write_text(yaml.safe_dump(observability.alert_rules(), sort_keys=False, width=200))
    expected = [{"exp_labels": {"severity": "warn", "replica": "replica"}}] if fires else []
    for row in expected:
        row["exp_annotations"] = next(r["annotations"] for r in observability.alert_rules()["groups"][0]["rules"]
                                      if r["alert"] == alert)
    test = {"rule_files": ["upstack-alerts.yml"], "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": [{"series": s, "values": v} for s, v in series.items()],
                       "alert_rule_test": [{"eval_time": "10m", "alertname": alert, "exp_alerts": expected}]}]}
    (tmp / "test.yml").write_text(yaml.safe_dump(test, sort_keys=False))
    return subprocess.run([machine.find_binary("promtool"), "test", "rules", str(tmp / "test.yml")],
                          capture_output=True, text=True, timeout=60)


LAG = 'upstack_db_replica_lag_seconds{replica="replica", instance="app1:8000", job="django"}'
ROTATION = 'upstack_db_replica_in_rotation{replica="replica", instance="app1:8000", job="django"}'


def test_a_replica_behind_by_more_than_30_s_fires_replica_lagging(open_tmp):
    servers.require_binary("promtool")
    result = _promtool_test(open_tmp, {LAG: "0+10x12"}, "ReplicaLagging", fires=True)  # 0, 10, 20 ... 120 s
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_replica_keeping_up_fires_nothing_and_the_test_can_fail(open_tmp):
    servers.require_binary("promtool")
    assert _promtool_test(open_tmp, {LAG: "0x12"}, "ReplicaLagging", fires=False).returncode == 0
    # Negative: expecting the alert on a replica that keeps up must fail promtool's test.
    assert _promtool_test(open_tmp, {LAG: "0x12"}, "ReplicaLagging", fires=True).returncode != 0


def test_a_replica_out_of_rotation_fires_replica_out_of_rotation(open_tmp):
    servers.require_binary("promtool")
    assert _promtool_test(open_tmp, {ROTATION: "0x12"}, "ReplicaOutOfRotation", fires=True).returncode == 0
    assert _promtool_test(open_tmp, {ROTATION: "1x12"}, "ReplicaOutOfRotation", fires=False).returncode == 0
