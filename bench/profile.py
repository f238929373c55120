"""`python -m bench.profile [--store sqlite|postgres] [--requests N]`: where the CPU goes.

cProfile with a CPU-time clock over (1) in-process commands (register, fail delivery,
route, each with an Idempotency-Key as the API sends them) and (2) the HTTP ERP mix of
bench/workloads.py through Flask's test client (no gunicorn, no socket; the views'
runners off, so only the request path is profiled). Prints each layer's share of the
profiled CPU (by the module of the innermost frame: a function's own time) and the
heaviest functions by cumulative time. The figures SCALING.md quotes as "profile"
come from this module.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
import uuid
from collections import defaultdict
from typing import Any

LAYERS = (("domain/", "domain"), ("application/", "application"),
          ("infrastructure/", "infrastructure"), ("interfaces/", "interfaces (API)"),
          ("eventsourcing/", "eventsourcing library"), ("psycopg", "psycopg"),
          ("sqlite3", "sqlite3"), ("flask_smorest", "flask-smorest"),
          ("webargs", "webargs"), ("marshmallow", "marshmallow"), ("werkzeug", "werkzeug"),
          ("flask/", "flask"), ("logging", "logging"), ("json", "json"),
          ("prometheus", "prometheus-client"), ("copy.py", "copy (deepcopy)"),
          ("typing.py", "typing (Protocol isinstance)"), ("cryptography", "cryptography"))


def layer_of(filename: str, function: str) -> str:
    where = f"{filename}:{function}"
    for needle, name in LAYERS:
        if needle in where:
            return name
    if filename == "~":  # a builtin: attributed to what it is
        return "builtins (" + function.split(" ")[-1].strip("<>'{}") + ")"
    return "other"


def shares(stats: pstats.Stats) -> list[tuple[str, float]]:
    by_layer: dict[str, float] = defaultdict(float)
    total = 0.0
    for (filename, _, function), row in stats.stats.items():  # type: ignore[attr-defined]
        own = row[2]
        by_layer[layer_of(filename, function)] += own
        total += own
    return sorted(((k, v / total) for k, v in by_layer.items()), key=lambda kv: -kv[1])


def _report(title: str, profile: cProfile.Profile, per: int, label: str) -> None:
    stats = pstats.Stats(profile)
    total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
    print(f"\n## {title}: {1000 * total / per:.3f} ms CPU per {label} under the profiler\n")
    for name, share in shares(stats)[:14]:
        print(f"  {100 * share:5.1f}%  {name}")
    print()
    stats.sort_stats("cumulative").print_stats(25)


def commands(store: str, parcels: int) -> None:
    from application.idempotency import Idempotency
    from application.ledger import ReturnsLedger
    from bench.commands import parcel_steps, prepare_ledger
    from bench.stores import fresh_store

    with fresh_store(store) as env:
        ledger = ReturnsLedger(env)
        try:
            prepare_ledger(ledger)

            def run(first: int, last: int) -> None:
                for n in range(first, last):
                    for step in parcel_steps(ledger, n):
                        ledger.run_once(Idempotency("bench", uuid.uuid4().hex, "f"), step)
            run(0, 30)
            profile = cProfile.Profile(time.process_time)
            profile.enable()
            run(30, 30 + parcels)
            profile.disable()
        finally:
            ledger.close()
    _report(f"in-process commands with keys ({store})", profile, 3 * parcels, "command")


def http(store: str, requests: int) -> None:
    from bench import workloads
    from bench.http_mix import SELLER, prepare_ledger_store
    from bench.stores import fresh_store

    with fresh_store(store) as env:
        key = prepare_ledger_store(env)
        saved = dict(os.environ)
        os.environ.update({**env, "CREATE_TABLE": "no"})
        try:
            from interfaces.api import create_app

            app = create_app({"PROJECTIONS_IN_PROCESS": "no", "TESTING": False})
            client = app.test_client()

            def drive(count: int, tag: str) -> None:
                stream: Any = workloads.ledger(0, key, SELLER, tag)
                answer = None
                for _ in range(count):
                    method, path, body, headers = (stream.send(answer) if answer
                                                   else next(stream))
                    response = client.open(path, method=method, json=body, headers=headers)
                    if response.status_code >= 400:
                        raise RuntimeError(f"{method} {path}: {response.status_code} "
                                           f"{response.get_data(as_text=True)[:200]}")
                    answer = (response.status_code, response.get_json())
            drive(100, "W")
            profile = cProfile.Profile(time.process_time)
            profile.enable()
            drive(requests, "M")
            profile.disable()
            app.extensions["returns_ledger"].close()
        finally:
            os.environ.clear()
            os.environ.update(saved)
    _report(f"HTTP ERP mix through Flask's test client ({store})", profile, requests,
            "request")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--store", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--parcels", type=int, default=300)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args(argv)
    commands(args.store, args.parcels)
    http(args.store, args.requests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
