"""History and as-of replay of a 50-event parcel, against a bare repository.get of it.

Like with like: the library's `repository.get` runs `assert isinstance(event,
CanMutateProtocol)` for every event, which the ledger's history fold never runs, so the
scenario runs in a `python -O` process where neither side pays an assert. p99 wall
latency is the figure of the target; the median CPU time per read is reported beside it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder

from application.ledger import ReturnsLedger
from bench.commands import DAY, T0, parcel_steps, prepare_ledger
from bench.stats import latency_summary, median
from bench.stores import fresh_store
from infrastructure.transcodings import MoneyAsDict

EVENTS = 50


class BareReader(Application[UUID]):
    """A bare Application on the ledger's tables: the same events, nothing on top."""

    name = ReturnsLedger.name

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(MoneyAsDict())


def fifty_event_parcel(ledger: ReturnsLedger) -> UUID:
    """Register, fail, route back to the seller, then false-return tickets (TT-6) up to 50."""
    prepare_ledger(ledger)
    for step in parcel_steps(ledger, 0):
        result = step()
    parcel = result.id
    version, day = result.version, 7
    while version < EVENTS - 1:
        ticket = ledger.open_investigation(parcel, "false_return", T0 + day * DAY)
        version = ledger.resolve_investigation(parcel, ticket.extra["investigation_id"],
                                               "carrier scan found", "platform",
                                               T0 + day * DAY).version
        day += 1
    if version < EVENTS:
        version = ledger.receive(parcel, T0 + day * DAY).version
    assert version == EVENTS, version
    return parcel


def _time(call: Callable[[], Any], repeats: int, cpu: list[float]) -> list[float]:
    samples = []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        call()
        cpu.append(time.process_time() - c)
        samples.append(time.perf_counter() - t)
    return samples


def scenario(store: str, repeats: int) -> dict[str, Any]:
    """The measurement in a `python -O` process (both sides without asserts)."""
    from bench.web.server import ROOT

    done = subprocess.run([sys.executable, "-O", "-m", "bench.replay", "--store", store,
                           "--reads", str(repeats)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"python -O -m bench.replay exited {done.returncode}: "
                           f"{done.stderr.strip().splitlines()[-1:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure(store: str, repeats: int) -> dict[str, Any]:
    """Each read repeated, interleaved, on one store with one 50-event parcel."""
    with fresh_store(store) as env:
        ledger = ReturnsLedger(env)
        bare = BareReader({**env, "AGGREGATE_CACHE_MAXSIZE": ""})
        try:
            parcel = fifty_event_parcel(ledger)
            history = ledger.get_parcel_history(parcel)
            midpoint = history[EVENTS // 2].recorded_at
            calls = {
                "history": lambda: ledger.get_parcel_history(parcel),
                "as-of replay": lambda: (ledger.get_parcel_history(parcel, recorded_before=midpoint),
                                         ledger.get_parcel(parcel, version=EVENTS // 2)),
                "bare get": lambda: bare.repository.get(parcel),
            }
            samples: dict[str, list[float]] = {k: [] for k in calls}
            cpu: dict[str, list[float]] = {k: [] for k in calls}
            for _ in range(max(1, repeats // 10)):
                for name, call in calls.items():
                    samples[name] += _time(call, 10, cpu[name])
        finally:
            ledger.close()
            bare.close()
    got = {k: {**latency_summary(v), "cpu_ms_per_read": 1000 * median(cpu[k])}
           for k, v in samples.items()}
    bare_get = got["bare get"]
    return {"name": f"history + as-of replay, {EVENTS} events ({store})", "store": store,
            "size": {"events": EVENTS, "reads": repeats,
                     "python_optimize": sys.flags.optimize},
            "subject": {"history": got["history"], "as-of replay": got["as-of replay"]},
            "baselines": {"bare get": bare_get},
            "ratio": {"history p99 vs bare get p99": got["history"]["p99_ms"] / bare_get["p99_ms"],
                      "as-of replay p99 vs bare get p99":
                          got["as-of replay"]["p99_ms"] / bare_get["p99_ms"],
                      "history CPU per read vs bare get":
                          got["history"]["cpu_ms_per_read"] / bare_get["cpu_ms_per_read"]},
            "target": {"history p99 vs bare get p99": ("<=", 2.0),
                       "as-of replay p99 vs bare get p99": ("<=", 2.0)}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -O -m bench.replay")
    parser.add_argument("--store", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--reads", type=int, default=400)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.store, args.reads)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
