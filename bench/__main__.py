"""`python -m bench [--smoke|--full]`: every scenario with its baselines, results in results/."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import commands, http_mix, others, replay, report
from bench.stores import postgres_missing

SIZES: dict[str, dict[str, Any]] = {
    "smoke": {"reps": 2, "parcels": 20, "reads": 40, "http_reps": 1, "stores": ["sqlite"],
              "load": {"clients": 4, "seconds": 1.5, "max_requests": 2000, "warmup": 0.3,
                       "warmup_requests": 10}},
    "default": {"reps": 5, "parcels": 400, "reads": 400, "http_reps": 3,
                "stores": ["sqlite", "postgres"],
                "load": {"clients": 8, "seconds": 8, "max_requests": 100_000, "warmup": 1.5,
                         "warmup_requests": 200}},
}
SIZES["full"] = {**SIZES["default"], "full": True}


def _scenarios(cfg: dict[str, Any], log: Path) -> list[tuple[str, Callable[[], Any]]]:
    out: list[tuple[str, Callable[[], Any]]] = []
    for store in cfg["stores"]:
        out.append((f"commands-{store}",
                    lambda s=store: commands.scenario(s, cfg["parcels"], cfg["reps"])))
        out.append((f"replay-{store}", lambda s=store: replay.scenario(s, cfg["reads"])))
    for store in cfg["stores"]:
        out.append((f"http-{store}", lambda s=store: _http(s, cfg, log)))
    if "postgres" in cfg["stores"] and http_mix.api_available() is None:
        load = {**cfg["load"], "clients": 16}
        out.append(("group-commit-postgres",
                    lambda: http_mix.group_commit_scenario(load, cfg["http_reps"], log)))
    for module in others.found():
        out.append((module, lambda m=module: others.run(m, cfg["size"], min(3, cfg["reps"]),
                                                       2400)))
    if cfg.get("full") and "postgres" in cfg["stores"]:
        out.append(("rebuild-postgres", lambda: _rebuild(1_000_000)))
    return out


def _http(store: str, cfg: dict[str, Any], log: Path) -> dict[str, Any]:
    return http_mix.scenario(store, cfg["load"], cfg["http_reps"], log)


def _rebuild(events: int) -> dict[str, Any]:
    try:
        from bench import rebuild
    except ImportError as error:
        return {"name": "rebuild all views (postgres)", "skipped": str(error)}
    return rebuild.scenario(events)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--smoke", action="store_true", help="tiny sizes, well under a minute")
    size.add_argument("--full", action="store_true", help="also rebuild views from 1M events")
    parser.add_argument("--only", default="", help="comma-separated scenario name prefixes")
    parser.add_argument("--out", type=Path, default=report.RESULTS, help="results folder")
    args = parser.parse_args(argv)
    name = "smoke" if args.smoke else "full" if args.full else "default"
    cfg = {**SIZES[name], "size": name}
    why_not_pg = postgres_missing() if "postgres" in cfg["stores"] else None
    if why_not_pg:
        cfg["stores"] = [s for s in cfg["stores"] if s != "postgres"]
    run: dict[str, Any] = {"size": name, "started": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                   time.gmtime()),
                           "machine": report.machine(), "reps": cfg["reps"], "scenarios": []}
    if why_not_pg:
        run["scenarios"].append({"name": "PostgreSQL scenarios", "skipped": why_not_pg})
    wanted = [w for w in args.only.split(",") if w]
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "gunicorn.log"
        for key, measure in _scenarios(cfg, log):
            if wanted and not any(key.startswith(w) for w in wanted):
                continue
            print(f"bench: {key} ...", file=sys.stderr, flush=True)
            try:
                result = measure()
            except Exception as error:  # noqa: BLE001 - one failed scenario must not lose the run
                result = {"name": key, "skipped": f"{type(error).__name__}: {error}"[:300]}
            run["scenarios"] += result if isinstance(result, list) else [result]
            report.write(run, args.out)  # partial results survive an interrupted run
    as_json, as_md = report.write(run, args.out)
    print(as_md.read_text())
    print(f"written: {as_json} and {as_md}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
