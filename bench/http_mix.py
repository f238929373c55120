"""HTTP under gunicorn: the ledger API's ERP mix against the naive service and bare web.

The primary figure is the server's CPU per request: utime + stime of gunicorn's master
and workers from /proc/<pid>/stat over a fixed number of requests (the load generator's
own CPU is reported apart). Servers take turns, order rotated per repetition; each turn
starts a fresh store and server and warms it up first. Wall-clock rates and closed-loop
latencies are information; the latency target is an open-loop load at a fixed arrival
rate (a fraction of the naive service's measured capacity), the same rate for both.

As in production the views are kept up to date while the load runs: on SQLite by the
runners embedded in a worker (the default), on PostgreSQL by a `returns-ledger project`
process, whose CPU is reported beside the workers'.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.util import find_spec
from typing import Any

from bench import workloads
from bench.bare import BareStore
from bench.cpu import process_seconds, spent, tree_seconds
from bench.stats import combine, median
from bench.stores import fresh_store
from bench.web.loadgen import Workload, closed_loop, open_loop
from bench.web.server import ROOT, gunicorn

SELLER = "seller-bench"
LEDGER, NAIVE, BARE_WEB = "ledger API", "naive service", "bare web"
ADDRESSES = [("tiktok_shop", "MY", {"lines": ["No. 8, Jalan Example"], "city": "Kuala Lumpur",
                                     "postcode": "50000"}),
             ("cdiscount", "FR", {"lines": ["8 rue de l'Exemple"], "city": "Lyon",
                                  "postcode": "69001"})]


def api_available() -> str | None:
    """Why the ledger API cannot be benched yet, or None."""
    if not (ROOT / "wsgi.py").exists() or find_spec("interfaces.api") is None:
        return "the API (wsgi.py, interfaces/api) is not there yet"
    return None


@dataclass
class Served:
    """A server under load: where it listens, its master's pid, and the request streams."""

    host: str
    port: int
    pid: int
    workload: Workload
    helpers: list[subprocess.Popen[bytes]] = field(default_factory=list)


def env_for_cli(env: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **env, "PYTHONPATH": str(ROOT)}


def _cli(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([sys.executable, "-c", "from interfaces.cli import main; main()",
                          *args], env=env_for_cli(env), cwd=ROOT, capture_output=True,
                         text=True, check=True)
    return out.stdout.strip()


def prepare_ledger_store(env: dict[str, str]) -> str:
    """The store and its views' tables (`db init`, as in production), the sellers' return
    addresses, and an API key; the key's token."""
    from application.ledger import ReturnsLedger
    from bench.commands import DAY, T0

    _cli(env, "db", "init")
    ledger = ReturnsLedger({**env, "CREATE_TABLE": "no"})
    try:
        for platform, country, address in ADDRESSES:
            ledger.register_return_address(seller_id=SELLER, platform=platform,
                                           country=country, address=address,
                                           effective_from=T0 - 30 * DAY,
                                           occurred_at=T0 - 30 * DAY)
    finally:
        ledger.close()
    return _cli(env, "keys", "create", "--role", "client", "--seller", SELLER
                ).splitlines()[-1].strip()


@contextmanager
def serve(name: str, store: str, reads: bool = True,
          settings: dict[str, str] | None = None) -> Iterator[Served]:
    """A fresh store and its server; the projection process too for the ledger on
    PostgreSQL."""
    with fresh_store(store) as env:
        tag = uuid.uuid4().hex[:6].upper()
        runs = itertools.count()  # warm-up and measurement register different parcels
        if name == BARE_WEB:
            app, server_env = "bench.web.bare_web:app", {}
            workload: Workload = workloads.bare_web
        elif name == NAIVE:
            BareStore(env).close()  # tables made once, before the workers start
            app, server_env = "bench.web.naive:app", {**env, "CREATE_TABLE": "no"}

            def workload(client: int) -> Iterator[Any]:
                return workloads.naive(client, f"{tag}{next(runs)}", reads)
        else:
            key = prepare_ledger_store(env)
            app = "wsgi:app"
            server_env = {**env, "CREATE_TABLE": "no", **(settings or {})}

            def workload(client: int) -> Iterator[Any]:
                return workloads.ledger(client, key, SELLER, f"{tag}{next(runs)}", reads)
        helpers: list[subprocess.Popen[bytes]] = []
        if name == LEDGER and store == "postgres":
            helpers.append(subprocess.Popen(
                [sys.executable, "-c", "from interfaces.cli import main; main()", "project"],
                env=env_for_cli(server_env), cwd=ROOT, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL))
        try:
            with gunicorn(app, server_env) as (host, port, pid):
                yield Served(host, port, pid, workload, helpers)
        finally:
            for proc in helpers:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


def measure_closed(served: Served, load: dict[str, Any]) -> dict[str, Any]:
    """Warm up, then `requests` requests from `clients` threads, with the CPU each side
    spent on them."""
    _warm_up(served, load)
    server_before = tree_seconds(served.pid)
    helpers_before = {p.pid: process_seconds(p.pid) for p in served.helpers}
    client_before = time.process_time()
    got = closed_loop(served.host, served.port, served.workload, load["clients"],
                      load["requests"])
    client_cpu = time.process_time() - client_before
    server_cpu = spent(server_before, tree_seconds(served.pid))
    helpers_cpu = spent(helpers_before, {p.pid: process_seconds(p.pid) for p in served.helpers})
    done = max(got["ok"], 1)
    got.update(server_cpu_ms_per_request=1000 * server_cpu / done,
               client_cpu_ms_per_request=1000 * client_cpu / done,
               server_cpu_busy=server_cpu / max(got["seconds"], 1e-9))
    if served.helpers:
        got["projection_cpu_ms_per_request"] = 1000 * helpers_cpu / done
    return got


def _warm_up(served: Served, load: dict[str, Any]) -> None:
    """The warm-up requests; a server that answers none of them is an error, said so."""
    got = closed_loop(served.host, served.port, served.workload, load["clients"],
                      load["warmup"])
    if got["ok"] == 0:
        raise RuntimeError(f"the server answered no warm-up request: {got['failures'][:2]}")


def measure_open(served: Served, load: dict[str, Any], rate: float) -> dict[str, Any]:
    _warm_up(served, load)
    return open_loop(served.host, served.port, served.workload, rate, load["open_seconds"],
                     load["senders"])


def _take_turns(names: list[str], reps: int, turn: Callable[[str], dict[str, Any]]
                ) -> dict[str, list[dict[str, Any]]]:
    got: dict[str, list[dict[str, Any]]] = {k: [] for k in names}
    for rep in range(reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            got[name].append(turn(name))
    return got


def _figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {**combine(runs), "failed": sum(r["failed"] for r in runs),
            "statuses": runs[-1]["statuses"], "failures": runs[-1]["failures"]}


def _ratio(got: dict[str, list[dict[str, Any]]], subject: str, baseline: str, key: str,
           invert: bool = False) -> float:
    """The median over repetitions of the within-repetition ratio subject/baseline."""
    pairs = zip(got[subject], got[baseline], strict=False)
    values = [(b[key] / s[key]) if invert else (s[key] / b[key]) for s, b in pairs]
    return median(values)


def scenario(store: str, load: dict[str, Any], reps: int) -> dict[str, Any]:
    """CPU per request over a fixed number of requests (all three servers, turns
    rotated), then open-loop latency of the ledger and the naive service at one rate."""
    missing = api_available()
    names = ([LEDGER] if not missing else []) + [NAIVE, BARE_WEB]

    def closed(name: str) -> dict[str, Any]:
        with serve(name, store) as served:
            return measure_closed(served, load)

    got = _take_turns(names, reps, closed)
    med = {k: _figures(v) for k, v in got.items()}
    rate = load["open_fraction"] * med[NAIVE]["req_per_s"]
    result: dict[str, Any] = {
        "name": f"HTTP ERP mix ({store}, {load['clients']} clients)", "store": store,
        "size": {k: load[k] for k in ("clients", "requests", "open_seconds", "open_fraction")},
        "baselines": {NAIVE: med[NAIVE], BARE_WEB: med[BARE_WEB]}}
    if missing:
        return {**result, "subject": {}, "missing": missing}

    def opened(name: str) -> dict[str, Any]:
        with serve(name, store) as served:
            return measure_open(served, load, rate)

    open_got = _take_turns([LEDGER, NAIVE], max(1, reps - 1), opened)
    open_med = {k: _figures(v) for k, v in open_got.items()}
    result["baselines"][f"{NAIVE}, open loop"] = open_med[NAIVE]
    cpu = "server_cpu_ms_per_request"
    return {**result, "subject": {"closed loop": med[LEDGER], "open loop": open_med[LEDGER]},
            "ratio": {
                "worker CPU per request, naive / ledger": _ratio(got, LEDGER, NAIVE, cpu,
                                                                 invert=True),
                "open-loop p99 vs naive service p99": _ratio(open_got, LEDGER, NAIVE, "p99_ms"),
                "open-loop p99.9 vs naive service p99.9": _ratio(open_got, LEDGER, NAIVE,
                                                                 "p999_ms"),
                "req/s (closed loop) vs naive service": _ratio(got, LEDGER, NAIVE, "req_per_s"),
                "worker CPU per request, bare web / ledger": _ratio(got, LEDGER, BARE_WEB, cpu,
                                                                    invert=True)},
            "target": {"worker CPU per request, naive / ledger": (">=", 0.77),
                       "open-loop p99 vs naive service p99": ("<=", 1.5)},
            "open_loop_rate_per_s": rate}


def group_commit_scenario(load: dict[str, Any], reps: int) -> dict[str, Any]:
    """Commands only, on PostgreSQL, fsync as the server has it: the API with
    GROUP_COMMIT=yes and without, against the naive service (wall-clock commands/s)."""
    grouped, plain = "ledger API, group commit", "ledger API, no group commit"
    settings = {grouped: {"GROUP_COMMIT": "yes"}, plain: {}}

    def turn(name: str) -> dict[str, Any]:
        kind = NAIVE if name == NAIVE else LEDGER
        with serve(kind, "postgres", reads=False, settings=settings.get(name)) as served:
            return measure_closed(served, load)

    got = _take_turns([grouped, plain, NAIVE], reps, turn)
    med = {k: _figures(v) for k, v in got.items()}
    return {"name": f"HTTP commands, group commit (postgres, {load['clients']} clients)",
            "store": "postgres", "size": {k: load[k] for k in ("clients", "requests")},
            "subject": {"group commit": med[grouped], "no group commit": med[plain]},
            "baselines": {NAIVE: med[NAIVE]},
            "ratio": {"commands/s vs naive service": _ratio(got, grouped, NAIVE, "req_per_s"),
                      "commands/s without group commit vs naive":
                          _ratio(got, plain, NAIVE, "req_per_s"),
                      "worker CPU per command, naive / group commit":
                          _ratio(got, grouped, NAIVE, "server_cpu_ms_per_request", invert=True)},
            "target": {"commands/s vs naive service": (">=", 1.5)}}


