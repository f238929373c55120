"""The bench suite still runs end to end at its smoke size (structure only, never timings)."""

from __future__ import annotations

import json

import pytest

from bench import report
from bench.__main__ import main
from bench.stats import percentile


def test_smoke_run_writes_every_scenario_with_its_baselines(tmp_path) -> None:
    assert main(["--smoke", "--out", str(tmp_path)]) == 0
    run = json.loads((tmp_path / "latest.json").read_text())
    table = (tmp_path / "latest.md").read_text()
    names = [s["name"] for s in run["scenarios"]]
    assert any(n.startswith("commands in-process (sqlite)") for n in names)
    assert any(n.startswith("history + as-of replay") for n in names)
    assert any(n.startswith("HTTP mix 70/30 (sqlite") for n in names)
    for scenario in run["scenarios"]:
        if "skipped" in scenario or "output" in scenario:
            continue
        assert scenario["baselines"], scenario["name"]
        for figures in scenario["baselines"].values():
            if "p99_ms" in figures:  # benches of others may report durations only
                assert figures["p99_ms"] >= figures["p50_ms"] > 0
        for ratio, value in scenario.get("ratio", {}).items():
            assert value > 0
            assert f"| {scenario['name']} | {ratio} |" in table
    ours = [s for s in run["scenarios"] if s["name"].startswith(("commands", "history", "HTTP"))]
    assert all("p99_ms" in f for s in ours for f in s["baselines"].values())
    http = next(s for s in run["scenarios"] if s["name"].startswith("HTTP mix"))
    assert http["baselines"]["naive service"]["failed"] == 0
    assert http["baselines"]["bare web"]["failed"] == 0
    assert "| scenario | ratio | value | target | met |" in table


@pytest.mark.parametrize(("ratio", "target", "expected"), [
    (0.9, (">=", 0.85), True), (0.8, (">=", 0.85), False),
    (1.4, ("<=", 1.5), True), (2.1, ("<=", 2.0), False)])
def test_target_met_compares_the_ratio_with_its_bound(ratio, target, expected) -> None:
    assert report.met(ratio, target) is expected


def test_percentile_is_nearest_rank() -> None:
    samples = [float(x) for x in range(1, 101)]
    assert percentile(samples, 50) == 50.0
    assert percentile(samples, 99) == 99.0
    assert percentile([3.0], 99) == 3.0
