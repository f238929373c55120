"""`python -m bench [--smoke|--full] [--gate]`: every scenario with its baselines.

Results go to results/latest.json and latest.md, with the run's context (psycopg's
implementation, PostgreSQL's version and durability settings, CPU steal over the run,
a CPU speed index). `--gate` runs the short set of CPU ratios instead and exits 1 when
one is below its floor (bench/gate.py); `--gate --smoke` is the test suite's size.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import commands, gate, http_mix, others, replay, report
from bench.context import RunContext
from bench.stores import postgres_missing

LOAD = {"clients": 8, "requests": 4000, "warmup": 300, "open_seconds": 8,
        "open_fraction": 0.4, "senders": 32}
SIZES: dict[str, dict[str, Any]] = {
    "smoke": {"reps": 2, "parcels": 20, "reads": 40, "http_reps": 1, "stores": ["sqlite"],
              "load": gate.SIZES["smoke"]["load"]},
    "default": {"reps": 5, "parcels": 400, "reads": 400, "http_reps": 3,
                "stores": ["sqlite", "postgres"], "load": LOAD},
}
SIZES["full"] = {**SIZES["default"], "full": True}


def _scenarios(cfg: dict[str, Any]) -> list[tuple[str, Callable[[], Any]]]:
    out: list[tuple[str, Callable[[], Any]]] = []
    for store in cfg["stores"]:
        out.append((f"commands-{store}",
                    lambda s=store: commands.scenario(s, cfg["parcels"], cfg["reps"])))
        out.append((f"replay-{store}", lambda s=store: replay.scenario(s, cfg["reads"])))
    for store in cfg["stores"]:
        out.append((f"http-{store}",
                    lambda s=store: http_mix.scenario(s, cfg["load"], cfg["http_reps"])))
    if "postgres" in cfg["stores"] and http_mix.api_available() is None:
        load = {**cfg["load"], "clients": 16}
        out.append(("group-commit-postgres",
                    lambda: http_mix.group_commit_scenario(load, cfg["http_reps"])))
    for module in others.found():
        out.append((module, lambda m=module: others.run(m, cfg["size"], min(3, cfg["reps"]),
                                                       2400)))
    if cfg.get("full") and "postgres" in cfg["stores"]:
        out.append(("rebuild-postgres", lambda: _rebuild(1_000_000)))
    return out


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
    parser.add_argument("--gate", action="store_true",
                        help="only the CPU ratios, against their floors; exit 1 below one")
    parser.add_argument("--only", default="", help="comma-separated scenario name prefixes")
    parser.add_argument("--out", type=Path, default=report.RESULTS, help="results folder")
    args = parser.parse_args(argv)
    name = "smoke" if args.smoke else "full" if args.full else "default"
    context = RunContext()
    stores = list(SIZES[name]["stores"])
    why_not_pg = postgres_missing() if "postgres" in stores or args.gate else None
    if args.gate:
        name = "smoke" if args.smoke else "gate"
        stores = ["sqlite"] + ([] if why_not_pg else ["postgres"])
        scenarios = gate.scenarios(name, stores)
    else:
        if why_not_pg:
            stores = [s for s in stores if s != "postgres"]
        scenarios = _scenarios({**SIZES[name], "size": name, "stores": stores})
    run: dict[str, Any] = {"size": name + (" gate" if args.gate and name == "smoke" else ""),
                           "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                           "machine": report.machine(), "scenarios": []}
    if why_not_pg:
        run["scenarios"].append({"name": "PostgreSQL scenarios", "skipped": why_not_pg})
    wanted = [w for w in args.only.split(",") if w]
    for key, measure in scenarios:
        if wanted and not any(key.startswith(w) for w in wanted):
            continue
        print(f"bench: {key} ...", file=sys.stderr, flush=True)
        try:
            result = measure()
        except Exception as error:  # noqa: BLE001 - one failed scenario must not lose the run
            result = {"name": key, "skipped": f"{type(error).__name__}: {error}"[:300]}
        run["scenarios"] += result if isinstance(result, list) else [result]
        report.write(run, args.out)  # partial results survive an interrupted run
    run["context"] = context.finish()
    as_json, as_md = report.write(run, args.out)
    print(as_md.read_text())
    print(f"written: {as_json} and {as_md}", file=sys.stderr)
    if not args.gate:
        return 0
    lines, ok = gate.check(run, "smoke" if args.smoke else "gate")
    print("gate:\n" + "\n".join(lines))
    print("gate: " + ("every CPU ratio at or above its floor" if ok else "BELOW A FLOOR"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
