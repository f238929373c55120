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


def _figures(group: dict[str, Any]) -> bool:
    return any(isinstance(v, (int, float)) for v in group.values())


def _series(scenario: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(label, figures) for the subject and each baseline; a subject of several series
    (a dict of dicts with no figure of its own) is flattened."""
    subject = scenario.get("subject", {})
    if not subject:
        rows: list[tuple[str, dict[str, Any]]] = []
    elif _figures(subject):
        rows = [("subject", subject)]
    else:
        rows = [(k, v) for k, v in subject.items() if isinstance(v, dict)]
    baselines = [("baseline: " + k, v if isinstance(v, dict) else {"value": v})
                 for k, v in scenario.get("baselines", {}).items()]
    return rows + baselines


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}" if abs(value) >= 10 else f"{value:.3g}"


CPU_KEYS = ("cpu_ms_per_command", "server_cpu_ms_per_request", "cpu_ms_per_read")


def _cpu(figures: dict[str, Any]) -> str:
    """CPU per operation in ms (the client's apart, for HTTP), or blank."""
    for key in CPU_KEYS:
        if key in figures:
            text = f"{figures[key]:.3f}"
            if "client_cpu_ms_per_request" in figures:
                text += f" (client {figures['client_cpu_ms_per_request']:.3f})"
            if "projection_cpu_ms_per_request" in figures:
                text += f" (+ views process {figures['projection_cpu_ms_per_request']:.3f})"
            return text
    return ""


def _rate(figures: dict[str, Any]) -> tuple[str, Any]:
    """The series' headline figure: a rate, else a duration, else a peak of memory."""
    for key, value in figures.items():
        if key.endswith("_per_s") and not key.endswith("_per_cpu_s"):
            return key.removesuffix("_per_s").replace("_", " ") + "/s", value
    for key, unit in (("seconds", "s"), ("median_s", "s"), ("peak_mb", "MB peak")):
        if key in figures:
            return unit, figures[key]
    for key, value in figures.items():  # someone else's shape: its first figure, named
        if key in ("p50_ms", "p99_ms", "samples", "reps", *CPU_KEYS):
            continue  # latencies have their own columns
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return "" if key == "value" else key, value
    return "", None


def markdown(run: dict[str, Any]) -> str:
    """The whole run as Markdown: one table of figures, one of ratios against targets."""
    out = [f"# Bench results ({run['size']})", "",
           f"{run['started']}, {run['machine']}; medians over repetitions (latencies: "
           "percentiles over all samples; open loop: from each request's intended send "
           "time). Ratios are the median of the ratios taken within each repetition.", ""]
    context = run.get("context")
    if context:
        out += ["Context: " + "; ".join(f"{k} {v}" for k, v in context.items()), ""]
    out += ["| scenario | series | CPU ms per op | throughput or time (median) | p50 ms | "
            "p99 ms | p99.9 ms |", "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for sc in run["scenarios"]:
        if "skipped" in sc:
            out.append(f"| {sc['name']} | skipped: {sc['skipped']} | | | | | |")
            continue
        if "missing" in sc:
            out.append(f"| {sc['name']} | subject not measured: {sc['missing']} | | | | | |")
        for label, figures in _series(sc):
            unit, value = _rate(figures)
            out.append(f"| {sc['name']} | {label} | {_cpu(figures)} | {_num(value)} {unit} | "
                       f"{_num(figures.get('p50_ms'), 2)} | {_num(figures.get('p99_ms'), 2)} | "
                       f"{_num(figures.get('p999_ms'), 2)} |")
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
