"""Projection catch-up: batched (many events, one tracking record per transaction) against
the library's ProjectionRunner (one transaction per event), same views, same events, same run.

`python -m bench.projection_catchup [--smoke|--full] [--events N] [--reps R] [--view NAME|all]
[--baseline-events N]` writes bench/results/projection_catchup-<time>.json and prints it as
the last line. Each repetition drops the view and catches it up from an empty store,
alternating the two runners; the figures are medians over the repetitions, summed over views.

`--full` (what `make bench BENCH_ARGS=--full` runs): every view from 100,000 events. The
one-transaction-per-event baseline is then timed over the first 10,000 events of the same
log (`--baseline-events`), which keeps the run short (the whole log would add several
minutes a store), and the two are compared as rates (events per second). The per-event
rate stays flat along the log: over a 30,000-event log it was within 6% of its rate
over the first 10,000 on both stores, and higher, not lower.
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
from projections.runners import VIEWS, BatchingProjectionRunner, open_view, projection_env
from projections.service import catch_up_seconds, head_position

RESULTS = Path(__file__).parent / "results"
RUNNERS = {"batched": BatchingProjectionRunner, "per_event": ProjectionRunner}


def _views_env(env: dict[str, str], tmp_name: str) -> dict[str, str]:
    if env["PERSISTENCE_MODULE"] == "eventsourcing.postgres":
        return {**env, "VIEWS_POSTGRES_SCHEMA": tmp_name}
    return {**env, "VIEWS_SQLITE_DBNAME": str(Path(env["SQLITE_DBNAME"]).with_name(
        f"{tmp_name}.sqlite3"))}


def measure(env: dict[str, str], view: str, reps: int, baseline_events: int | None = None,
            ) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Seconds to catch `view` up from empty, per runner kind, alternating kinds; and the
    log position each kind was timed up to (the baseline: `baseline_events` at most)."""
    full = projection_env(env)
    log = head_position(full)
    head = log.max_notification_id() or 0
    log.datastore.close()
    targets = {"batched": head, "per_event": min(head, baseline_events or head)}
    seconds: dict[str, list[float]] = {kind: [] for kind in RUNNERS}
    for rep in range(reps):
        order = list(RUNNERS) if rep % 2 == 0 else list(reversed(RUNNERS))
        for kind in order:
            recorder = open_view(view, full)
            recorder.drop()
            recorder.datastore.close()  # type: ignore[attr-defined]
            seconds[kind].append(catch_up_seconds(view, full, RUNNERS[kind], targets[kind]))
    return seconds, targets


def scenario(store: str, events: int, reps: int, views: list[str],
             baseline_events: int | None = None) -> dict[str, Any]:
    """Fill a fresh store with `events`, then time both runners on each view."""
    views_name = f"bench_views_{uuid.uuid4().hex[:12]}"
    per_view: dict[str, dict[str, Any]] = {}
    with fresh_store(store) as env:
        env = _views_env(env, views_name)
        write_events(env, events)
        try:
            for view in views:
                seconds, targets = measure(env, view, reps, baseline_events)
                per_view[view] = {kind: {"events": targets[kind],
                                         "median_s": statistics.median(seconds[kind]),
                                         "samples_s": [round(x, 3) for x in seconds[kind]]}
                                  for kind in RUNNERS}
        finally:
            if store == "postgres":
                with pg_connect() as conn:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{views_name}" CASCADE')

    def rate(kind: str) -> tuple[float, int]:
        total_s = sum(v[kind]["median_s"] for v in per_view.values())
        total_events = sum(v[kind]["events"] for v in per_view.values())
        return total_events / total_s, total_events

    (batched_rate, batched_events), (per_event_rate, per_event_events) = (
        rate("batched"), rate("per_event"))
    log_events = per_view[views[0]]["batched"]["events"]
    label = f"{views[0]} view" if len(views) == 1 else f"all {len(views)} views"
    baseline_note = ("" if per_event_events == batched_events else
                     f" (timed over the first {per_view[views[0]]['per_event']['events']:,} "
                     f"events of the log)")
    return {"name": f"projection catch-up, {label}, {log_events:,} events ({store})",
            "store": store, "size": {"events": log_events, "reps": reps, "views": views},
            "subject": {"events_per_s": round(batched_rate),
                        "median_s": round(sum(v["batched"]["median_s"]
                                              for v in per_view.values()), 3),
                        "per_view_s": {k: round(v["batched"]["median_s"], 3)
                                       for k, v in per_view.items()}},
            "baselines": {"one transaction per event (library ProjectionRunner)"
                          + baseline_note: {
                              "events_per_s": round(per_event_rate),
                              "per_view_s": {k: round(v["per_event"]["median_s"], 3)
                                             for k, v in per_view.items()}}},
            "ratio": {"batched rate / per-event rate": round(batched_rate / per_event_rate,
                                                             2)},
            "target": {"batched rate / per-event rate": (">=", 10.0)}}


def bench(size: str = "default", reps: int = 3, events: int | None = None,
          view: str | None = None, baseline_events: int | None = None,
          ) -> list[dict[str, Any]]:
    """Both stores (PostgreSQL when reachable); smoke: SQLite, a few hundred events;
    full: every view from 100,000 events, the baseline over the first 10,000."""
    full = size == "full"
    events = events or (600 if size == "smoke" else 100_000 if full else 10_000)
    view = view or ("all" if full else "tracking")
    views = list(VIEWS) if view == "all" else [view]
    if full:
        reps, baseline_events = 1, baseline_events or 10_000
    stores = ["sqlite"] if size == "smoke" or postgres_missing() else ["sqlite", "postgres"]
    return [scenario(store, events, reps, views, baseline_events) for store in stores]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.projection_catchup",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--smoke", action="store_true", help="600 events, SQLite only")
    size.add_argument("--full", action="store_true",
                      help="every view, 100,000 events, baseline over the first 10,000")
    parser.add_argument("--events", type=int, help="events in the store (default 10,000)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--view", help="a view's name, or all (default tracking)")
    parser.add_argument("--baseline-events", type=int,
                        help="time the per-event baseline over the first N events only")
    args = parser.parse_args(argv)
    if args.view not in (None, "all", *VIEWS):
        parser.error(f"--view must be one of: all, {', '.join(VIEWS)}")
    size_name = "smoke" if args.smoke else "full" if args.full else "default"
    results = bench(size_name, args.reps, args.events, args.view, args.baseline_events)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"projection_catchup-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2))
    for result in results:
        print(f"{result['name']}: {result['ratio']}", file=sys.stderr)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
