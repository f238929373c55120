"""Results as JSON and as a Markdown table: medians, p50/p99, ratios, targets met."""

from __future__ import annotations

import json
import operator
import platform
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
COMPARE = {">=": operator.ge, "<=": operator.le}


def met(ratio: float, target: tuple[str, float] | list[Any]) -> bool:
    """Whether the ratio meets its target (a comparison and a bound)."""
    op, bound = target
    return bool(COMPARE[op](ratio, bound))


def _series(scenario: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(label, figures) for the subject and each baseline; nested subjects flattened."""
    rows: list[tuple[str, dict[str, Any]]] = []
    for role, group in (("", scenario.get("subject", {})),
                        ("baseline: ", scenario.get("baselines", {}))):
        if role == "" and not group:
            continue
        if role == "" and any(isinstance(v, dict) for v in group.values()):
            rows += [(k, v) for k, v in group.items() if isinstance(v, dict)]
        elif role == "":
            rows.append(("subject", group))
        else:
            rows += [(role + k, v) for k, v in group.items()]
    return rows


def _num(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _rate(figures: dict[str, Any]) -> tuple[str, Any]:
    for key, value in figures.items():
        if key.endswith("_per_s"):
            return key.removesuffix("_per_s").replace("_", " ") + "/s", value
    for key in ("seconds", "peak_mb"):
        if key in figures:
            return key, figures[key]
    return "", None


def markdown(run: dict[str, Any]) -> str:
    """The whole run as Markdown: one table of figures, one of ratios against targets."""
    out = [f"# Bench results ({run['size']})", "",
           f"{run['started']}, {run['machine']}; medians of {run['reps']} repetitions "
           "(latencies: p50/p99 over all samples).", "",
           "| scenario | series | throughput (median) | p50 ms | p99 ms |",
           "| --- | --- | ---: | ---: | ---: |"]
    for sc in run["scenarios"]:
        if "skipped" in sc:
            out.append(f"| {sc['name']} | skipped: {sc['skipped']} | | | |")
            continue
        if "missing" in sc:
            out.append(f"| {sc['name']} | subject not measured: {sc['missing']} | | | |")
        for label, figures in _series(sc):
            unit, value = _rate(figures)
            out.append(f"| {sc['name']} | {label} | {_num(value)} {unit} | "
                       f"{_num(figures.get('p50_ms'), 2)} | {_num(figures.get('p99_ms'), 2)} |")
    out += ["", "| scenario | ratio | value | target | met |", "| --- | --- | ---: | --- | --- |"]
    for sc in run["scenarios"]:
        for name, value in sc.get("ratio", {}).items():
            target = sc.get("target", {}).get(name)
            if target is None:
                out.append(f"| {sc['name']} | {name} | {value:.2f} | (information) | |")
                continue
            out.append(f"| {sc['name']} | {name} | {value:.2f} | {target[0]} {target[1]} | "
                       f"{'yes' if met(value, target) else 'no'} |")
    return "\n".join(out) + "\n"


def machine() -> str:
    import os
    return f"{platform.node() or 'host'}: {os.cpu_count()} cores, Python {platform.python_version()}"


def write(run: dict[str, Any], directory: Path = RESULTS) -> tuple[Path, Path]:
    """latest.json and latest.md in the results folder."""
    directory.mkdir(parents=True, exist_ok=True)
    as_json, as_md = directory / "latest.json", directory / "latest.md"
    as_json.write_text(json.dumps(run, indent=2, default=str) + "\n")
    as_md.write_text(markdown(run))
    return as_json, as_md
