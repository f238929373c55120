"""`python -m bench.open_loop_cause [--rate R] [--reps N]`: why the ledger's open-loop p99
on PostgreSQL is a multiple of the naive service's at the same arrival rate.

The HTTP ERP mix of bench/http_mix.py in open loop at one rate (by default 40% of the
naive service's closed-loop capacity, as the bench's open-loop scenario), the ledger in
variants that each take one suspect away: as deployed (the `returns-ledger project`
process beside the API), the views' process with asynchronous commits (PGOPTIONS
`synchronous_commit=off` for that process only: its commits stop waiting for the WAL
flush), the views' process at `nice 10`, its runners lingering 20 ms for more events
before a batch (PROJECTION_LINGER_MS), and no views' process at all. During each run
the database backends' wait events are sampled every 10 ms (`pg_stat_activity`), and the
CPU of the API workers, the views' process and the PostgreSQL server is read from
/proc. Not part of `make bench` (about 3 minutes per repetition).
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import threading
import time
from typing import Any

import psycopg

from bench import http_mix
from bench.cpu import process_seconds, spent, tree_seconds
from bench.stores import postgres_missing

LOAD = {"clients": 8, "requests": 1500, "warmup": 200, "open_seconds": 8,
        "open_fraction": 0.4, "senders": 32}
_POPEN = subprocess.Popen  # the real one: a variant replaces it while it runs
VARIANTS = ("as deployed", "views' commits asynchronous", "views' process at nice 10",
            "views lingering 20 ms", "no views' process")


def _postgres_seconds() -> dict[int, float]:
    pids = subprocess.run(["ps", "-C", "postgres", "-o", "pid="], capture_output=True,
                          text=True, check=False).stdout.split()
    return {int(p): process_seconds(int(p)) for p in pids}


def _sample_waits(stop: threading.Event, waits: collections.Counter[str]) -> None:
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres",
                         autocommit=True) as conn:
        while not stop.is_set():
            for kind, event in conn.execute(
                    "SELECT coalesce(wait_event_type, 'CPU'), coalesce(wait_event, '-') "
                    "FROM pg_stat_activity WHERE backend_type = 'client backend' "
                    "AND pid <> pg_backend_pid() AND state <> 'idle'").fetchall():
                waits[f"{kind}:{event}"] += 1
            waits["samples"] += 1
            time.sleep(0.01)


class _NoProcess:
    """Stands for the views' process in the variant without one."""

    pid = os.getpid()

    def terminate(self) -> None: ...
    def kill(self) -> None: ...
    def wait(self, *_: Any) -> int:
        return 0


def _variant_popen(variant: str) -> Any:
    real = _POPEN

    def popen(args: list[str], *rest: Any, **kwargs: Any) -> Any:
        if "project" not in args:
            return real(args, *rest, **kwargs)
        if variant == "no views' process":
            return _NoProcess()
        if variant == "views' process at nice 10":
            args = ["nice", "-n", "10", *args]
        if variant == "views' commits asynchronous":
            kwargs["env"] = {**kwargs["env"], "PGOPTIONS": "-c synchronous_commit=off"}
        if variant == "views lingering 20 ms":
            kwargs["env"] = {**kwargs["env"], "PROJECTION_LINGER_MS": "20"}
        return real(args, *rest, **kwargs)
    return popen


def open_run(name: str, rate: float, variant: str = "as deployed") -> dict[str, Any]:
    """One open-loop run at `rate`, with the wait events and the CPU of each side."""
    http_mix.subprocess.Popen = _variant_popen(variant)  # type: ignore[misc]
    try:
        with http_mix.serve(name, "postgres") as served:
            stop, waits = threading.Event(), collections.Counter[str]()
            sampler = threading.Thread(target=_sample_waits, args=(stop, waits), daemon=True)
            sampler.start()
            real_views = [p for p in served.helpers if not isinstance(p, _NoProcess)]
            before = (tree_seconds(served.pid), _postgres_seconds(),
                      {p.pid: process_seconds(p.pid) for p in real_views})
            started = time.perf_counter()
            try:
                got = http_mix.measure_open(served, LOAD, rate)
            finally:
                stop.set()
                sampler.join(30)
            seconds = time.perf_counter() - started
            cores = {"API workers": spent(before[0], tree_seconds(served.pid)) / seconds,
                     "PostgreSQL": spent(before[1], _postgres_seconds()) / seconds,
                     "views' process": spent(before[2], {p.pid: process_seconds(p.pid)
                                                         for p in real_views}) / seconds}
    finally:
        http_mix.subprocess.Popen = _POPEN  # type: ignore[misc]
    samples = max(waits.pop("samples", 1), 1)
    return {"p50_ms": got["p50_ms"], "p99_ms": got["p99_ms"], "req_per_s": got["req_per_s"],
            "failed": got["failed"], "cores (warm-up included)": cores,
            "waiting backends per sample": {k: round(v / samples, 2)
                                            for k, v in waits.most_common(6)}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.open_loop_cause",
                                     description=__doc__)
    parser.add_argument("--rate", type=float, default=0.0,
                        help="arrivals per second (default: 40%% of the naive service's)")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--variants", default="",
                        help="comma-separated subset of: " + ", ".join(VARIANTS))
    args = parser.parse_args(argv)
    missing = postgres_missing()
    if missing:
        print(f"needs PostgreSQL: {missing}")
        return 1
    rate = args.rate
    if not rate:
        with http_mix.serve(http_mix.NAIVE, "postgres") as served:
            capacity = http_mix.measure_closed(served, LOAD)["req_per_s"]
        rate = LOAD["open_fraction"] * capacity
    print(f"arrival rate {rate:.1f}/s")
    for rep in range(args.reps):
        for variant in [v for v in VARIANTS
                        if not args.variants or v in args.variants.split(",")]:
            print(rep, variant, open_run(http_mix.LEDGER, rate, variant), flush=True)
        print(rep, "naive service", open_run(http_mix.NAIVE, rate), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
