"""Projection catch-up: batched (many events, one tracking record per transaction) against
the library's ProjectionRunner (one transaction per event), same view, same events, same run.

`python -m bench.projection_catchup [--smoke] [--events N] [--reps R] [--view NAME]`
writes bench/results/projection_catchup-<time>.json and prints it as the last line.
Each repetition drops the view and catches it up from an empty store, alternating the two
runners; the figures are medians over the repetitions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from eventsourcing.projection import ProjectionRunner

from bench.rebuild import write_events
from bench.stores import fresh_store, pg_connect, postgres_missing
from projections.runners import BatchingProjectionRunner, open_view, projection_env
from projections.service import catch_up_seconds, head_position

RESULTS = Path(__file__).parent / "results"
RUNNERS = {"batched": BatchingProjectionRunner, "per_event": ProjectionRunner}


def _views_env(env: dict[str, str], tmp_name: str) -> dict[str, str]:
    if env["PERSISTENCE_MODULE"] == "eventsourcing.postgres":
        return {**env, "VIEWS_POSTGRES_SCHEMA": tmp_name}
    return {**env, "VIEWS_SQLITE_DBNAME": str(Path(env["SQLITE_DBNAME"]).with_name(
        f"{tmp_name}.sqlite3"))}


def measure(env: dict[str, str], view: str, reps: int) -> tuple[dict[str, list[float]], int]:
    """Seconds to catch `view` up from empty, per runner kind, alternating kinds."""
    full = projection_env(env)
    log = head_position(full)
    head = log.max_notification_id() or 0
    log.datastore.close()
    seconds: dict[str, list[float]] = {kind: [] for kind in RUNNERS}
    for rep in range(reps):
        order = list(RUNNERS) if rep % 2 == 0 else list(reversed(RUNNERS))
        for kind in order:
            recorder = open_view(view, full)
            recorder.drop()
            recorder.datastore.close()  # type: ignore[attr-defined]
            seconds[kind].append(catch_up_seconds(view, full, RUNNERS[kind], head))
    return seconds, head


def scenario(store: str, events: int, reps: int, view: str) -> dict[str, Any]:
    """Fill a fresh store with `events`, then time both runners on the same view."""
    views_name = f"bench_views_{uuid.uuid4().hex[:12]}"
    with fresh_store(store) as env:
        env = _views_env(env, views_name)
        write_events(env, events)
        try:
            seconds, log_events = measure(env, view, reps)
        finally:
            if store == "postgres":
                with pg_connect() as conn:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{views_name}" CASCADE')
    batched = statistics.median(seconds["batched"])
    per_event = statistics.median(seconds["per_event"])
    return {"name": f"projection catch-up, {view} view, {log_events:,} events ({store})",
            "store": store, "size": {"events": log_events, "reps": reps, "view": view},
            "subject": {"median_s": round(batched, 3),
                        "events_per_s": round(log_events / batched),
                        "samples_s": [round(s, 3) for s in seconds["batched"]]},
            "baselines": {"one transaction per event (library ProjectionRunner)": {
                "median_s": round(per_event, 3), "events_per_s": round(log_events / per_event),
                "samples_s": [round(s, 3) for s in seconds["per_event"]]}},
            "ratio": {"per-event time / batched time": round(per_event / batched, 2)},
            "target": {"per-event time / batched time": (">=", 10.0)}}


def bench(size: str = "default", reps: int = 3, events: int | None = None,
          view: str = "tracking") -> list[dict[str, Any]]:
    """Both stores (PostgreSQL when reachable); smoke: SQLite, a few hundred events."""
    events = events or (600 if size == "smoke" else 10_000)
    stores = ["sqlite"] if size == "smoke" or postgres_missing() else ["sqlite", "postgres"]
    return [scenario(store, events, reps, view) for store in stores]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.projection_catchup",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="600 events, SQLite only")
    parser.add_argument("--events", type=int, help="events in the store (default 10,000)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--view", default="tracking")
    args = parser.parse_args(argv)
    results = bench("smoke" if args.smoke else "default", args.reps, args.events, args.view)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"projection_catchup-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2))
    for result in results:
        print(f"{result['name']}: {result['ratio']}", file=sys.stderr)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
