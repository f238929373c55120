"""HTTP under gunicorn: the ledger API's 70/30 mix against bare web and the naive service."""

from __future__ import annotations

import itertools
import subprocess
import sys
import uuid
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from bench import workloads
from bench.bare import BareStore
from bench.stats import combine
from bench.stores import fresh_store
from bench.web.loadgen import run_load
from bench.web.server import ROOT, gunicorn

SELLER = "seller-bench"


def api_available() -> str | None:
    """Why the ledger API cannot be benched yet, or None."""
    if not (ROOT / "wsgi.py").exists() or find_spec("interfaces.api") is None:
        return "the API (wsgi.py, interfaces/api) is not there yet"
    return None


def _load(app_path: str, env: dict[str, str], workload: Any, load: dict[str, Any],
          log: Path | None) -> dict[str, Any]:
    with gunicorn(app_path, env, log) as (host, port):
        run_load(host, port, workload, load["clients"], load["warmup"], load["warmup_requests"])
        return run_load(host, port, workload, load["clients"], load["seconds"],
                        load["max_requests"])


def run_bare_web(store: str, load: dict[str, Any], log: Path | None) -> dict[str, Any]:
    return _load("bench.web.bare_web:app", {}, workloads.bare_web, load, log)


def run_naive(store: str, load: dict[str, Any], log: Path | None,
              slots: frozenset[int] = workloads.QUERY_SLOTS) -> dict[str, Any]:
    with fresh_store(store) as env:
        BareStore(env).close()  # tables made once, before the workers start
        return _load("bench.web.naive:app", {**env, "CREATE_TABLE": "no"},
                     lambda client: workloads.naive(client, slots), load, log)


def _api_key(env: dict[str, str]) -> str:
    out = subprocess.run([sys.executable, "-c", "from interfaces.cli import main; main()",
                          "keys", "create", "--role",
                          "client", "--seller", SELLER], env={**env_for_cli(env)}, cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1].strip()


def env_for_cli(env: dict[str, str]) -> dict[str, str]:
    import os
    return {**os.environ, **env, "PYTHONPATH": str(ROOT)}


def run_ledger(store: str, load: dict[str, Any], log: Path | None,
               slots: frozenset[int] = workloads.QUERY_SLOTS,
               settings: dict[str, str] | None = None) -> dict[str, Any]:
    from application.ledger import ReturnsLedger
    from bench.commands import prepare_ledger

    with fresh_store(store) as env:
        ledger = ReturnsLedger(env)
        prepare_ledger(ledger)
        ledger.close()
        key = _api_key(env)
        tag = uuid.uuid4().hex[:6].upper()
        runs = itertools.count()  # warm-up and measurement register different parcels

        def workload(client: int) -> Any:
            return workloads.ledger(client, key, SELLER, f"{tag}{next(runs)}", tracking_query,
                                    slots)
        return _load("wsgi:app", {**env, "CREATE_TABLE": "no", **(settings or {})}, workload,
                     load, log)


def tracking_query(tracking_number: str) -> str:
    """The tracking view's look-up of a parcel by its tracking number."""
    return f"/v1/parcels?tracking_number={tracking_number}"


def scenario(store: str, load: dict[str, Any], reps: int, log: Path | None) -> dict[str, Any]:
    """Each server in turn per repetition (order rotated), the same load each time."""
    missing = api_available()
    runs = {"naive service": run_naive, "bare web": run_bare_web}
    if not missing:
        runs = {"ledger API": run_ledger, **runs}
    got: dict[str, list[dict[str, Any]]] = {k: [] for k in runs}
    names = list(runs)
    for rep in range(reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            got[name].append(runs[name](store, load, log))
    med = {k: {**combine(v), "failed": sum(r["failed"] for r in v),
               "statuses": v[-1]["statuses"]} for k, v in got.items()}
    result: dict[str, Any] = {
        "name": f"HTTP mix 70/30 ({store}, {load['clients']} clients)", "store": store,
        "size": {k: load[k] for k in ("clients", "seconds", "max_requests")},
        "baselines": {"naive service": med["naive service"], "bare web": med["bare web"]}}
    if missing:
        return {**result, "subject": {}, "missing": missing}
    api, naive = med["ledger API"], med["naive service"]
    return {**result, "subject": api,
            "ratio": {"req/s vs naive service": api["req_per_s"] / naive["req_per_s"],
                      "p99 vs naive service p99": api["p99_ms"] / naive["p99_ms"],
                      "req/s vs bare web": api["req_per_s"] / med["bare web"]["req_per_s"]},
            "target": {"req/s vs naive service": (">=", 0.90),
                       "p99 vs naive service p99": ("<=", 1.5)}}


def group_commit_scenario(load: dict[str, Any], reps: int, log: Path | None) -> dict[str, Any]:
    """Commands only, on PostgreSQL: the API with GROUP_COMMIT=yes and without, vs naive."""
    none: frozenset[int] = frozenset()
    runs = {"ledger API, group commit":
            lambda: run_ledger("postgres", load, log, none, {"GROUP_COMMIT": "yes"}),
            "ledger API, no group commit": lambda: run_ledger("postgres", load, log, none),
            "naive service": lambda: run_naive("postgres", load, log, none)}
    got: dict[str, list[dict[str, Any]]] = {k: [] for k in runs}
    names = list(runs)
    for rep in range(reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            got[name].append(runs[name]())
    med = {k: {**combine(v), "failed": sum(r["failed"] for r in v),
               "statuses": v[-1]["statuses"]} for k, v in got.items()}
    grouped, naive = med["ledger API, group commit"], med["naive service"]
    return {"name": f"HTTP commands, group commit (postgres, {load['clients']} clients)",
            "store": "postgres",
            "size": {k: load[k] for k in ("clients", "seconds", "max_requests")},
            "subject": {"group commit": grouped,
                        "no group commit": med["ledger API, no group commit"]},
            "baselines": {"naive service": naive},
            "ratio": {"req/s vs naive service": grouped["req_per_s"] / naive["req_per_s"],
                      "req/s without group commit vs naive":
                          med["ledger API, no group commit"]["req_per_s"] / naive["req_per_s"]},
            "target": {"req/s vs naive service": (">=", 1.5)}}
