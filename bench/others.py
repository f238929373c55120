"""Benches written next to this suite (projection catch-up, reconciliation), run as found.

Contract for a module bench/projection_catchup*.py, reconcile*.py, imports*.py, ...: either a
function `bench(size: str, reps: int) -> dict | list[dict]` returning scenarios shaped
like ours (name, subject, baselines, ratio, target), or a `python -m` entry point that
accepts `--smoke` and prints its result as one JSON object on its last output line.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
PATTERNS = ("projection_catchup*.py", "reconcile*.py", "audit_chain*.py", "webhooks*.py",
            "imports*.py")


def found() -> list[str]:
    """Module names of the other benches present in bench/."""
    return sorted(f"bench.{p.stem}" for pattern in PATTERNS for p in HERE.glob(pattern))


def _shaped(module: str, item: Any) -> dict[str, Any]:
    """Our scenario shape: a bare ratio, target or baseline figure becomes a named one."""
    if not isinstance(item, dict):
        return {"name": module, "output": str(item)}
    item = {"name": module, **item}
    item["baselines"] = {k: v if isinstance(v, dict) else {"value": v}
                         for k, v in (item.get("baselines") or {}).items()}
    if isinstance(item.get("ratio"), (int, float)):
        item["ratio"] = {"ratio": item["ratio"]}
        if isinstance(item.get("target"), (list, tuple)):
            item["target"] = {"ratio": item["target"]}
    if not isinstance(item.get("target", {}), dict):
        item["target"] = {}
    return item


def _as_scenarios(module: str, result: Any) -> list[dict[str, Any]]:
    items = result if isinstance(result, list) else [result]
    return [_shaped(module, item) for item in items]


def run(module: str, size: str, reps: int, timeout: float) -> list[dict[str, Any]]:
    """Run one of them at this size; a failure is reported, never raised."""
    try:
        mod = importlib.import_module(module)
        if callable(getattr(mod, "bench", None)):
            return _as_scenarios(module, mod.bench(size, reps))
        args = [sys.executable, "-m", module] + (["--smoke"] if size == "smoke" else [])
        done = subprocess.run(args, cwd=HERE.parent, capture_output=True, text=True,
                              timeout=timeout)
        if done.returncode != 0:
            return [{"name": module, "skipped": f"exited {done.returncode}: "
                     f"{done.stderr.strip().splitlines()[-1:] }"}]
        lines = [ln for ln in done.stdout.strip().splitlines() if ln.strip()]
        try:
            return _as_scenarios(module, json.loads(lines[-1]))
        except (IndexError, json.JSONDecodeError):
            return [{"name": module, "output": "\n".join(lines[-20:])}]
    except Exception as error:  # noqa: BLE001 - someone else's bench must not stop ours
        return [{"name": module, "skipped": f"{type(error).__name__}: {error}"}]
