"""Rebuild of every view from N events on PostgreSQL: time and peak memory (`--full`).

The events are real parcel lifecycles (9 events each), made by the domain in memory
and written through the ledger's own event store in big transactions (the hash chain
included). The rebuild then runs in a child process, view after view, so its peak
memory (max RSS) is its own. Baseline, same store, same run: a plain paged scan of
the whole notification log (what any rebuild must at least read).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import uuid
from typing import Any

from application.ledger import ReturnsLedger
from bench.commands import DAY, SELLER, T0, prepare_ledger
from bench.stores import fresh_store, pg_connect
from domain.money import Money
from domain.parcel import ReturnParcel
from domain.values import Line

EVENTS_PER_PARCEL = 9
WRITE_BATCH = 200  # parcels per transaction
PEAK_MB_TARGET = 300  # the rebuild streams the log: its memory must not grow with it


def lifecycle(ledger: ReturnsLedger, n: int, addresses: list[Any]) -> list[Any]:
    """The nine events of one TikTok Shop parcel: register .. close, never saved one by one."""
    policy = ledger.policies.for_platform("tiktok_shop")
    parcel = ReturnParcel.register(
        platform="tiktok_shop", site="MY", seller_id=SELLER, order_id=f"R-{n}",
        order_created_at=T0, tracking_number=f"TTMYREBUILD{n:09d}",
        lines=[Line("SKU-MUG", 2, Money.of("19.90", "MYR"))],
        amount_paid=Money.of("39.80", "MYR"), shipping_paid=None, store_id=None,
        tracked_shipping=False, tracking_url=None, ready_to_ship_at=None, policy=policy,
        occurred_at=T0 + DAY, actor="bench")
    for attempt in (3, 4, 5):
        parcel.record_delivery_attempt("not at home", policy, T0 + attempt * DAY, "bench")
    parcel.record_delivery_failure("unreachable", policy, T0 + 5 * DAY, "carrier", "bench")
    decision = policy.route(parcel.facts(), addresses, T0 + 6 * DAY, None)
    parcel.route_return(decision, T0 + 6 * DAY, "bench")
    parcel.receive(policy, T0 + 15 * DAY, "KL", "seller", "bench")
    parcel.inspect("resellable", T0 + 15 * DAY, None, "bench")
    parcel.close(T0 + 16 * DAY, "bench")
    return parcel.collect_events()


def write_events(env: dict[str, str], events: int) -> float:
    """Fill the store with about `events` events; answer the seconds it took."""
    started = time.perf_counter()
    ledger = ReturnsLedger(env)
    try:
        prepare_ledger(ledger)
        addresses = [a.facts() for a in ledger._addresses_of(SELLER)]
        parcels = events // EVENTS_PER_PARCEL
        for start in range(0, parcels, WRITE_BATCH):
            batch = [e for n in range(start, min(parcels, start + WRITE_BATCH))
                     for e in lifecycle(ledger, n, addresses)]
            ledger.events.put(batch)
    finally:
        ledger.close()
    return time.perf_counter() - started


def scan_log(env: dict[str, str], page: int = 1000) -> tuple[float, int]:
    """Baseline: read every notification once, in pages."""
    ledger = ReturnsLedger(env)
    try:
        started, start, count = time.perf_counter(), 1, 0
        while True:
            items = ledger.recorder.select_notifications(start, page)
            if not items:
                break
            count += len(items)
            start = items[-1].id + 1
        return time.perf_counter() - started, count
    finally:
        ledger.close()


def rebuild_all(env: dict[str, str]) -> dict[str, Any]:
    """In this (child) process: rebuild each view; seconds per view and peak RSS."""
    from projections.runners import VIEWS
    from projections.service import rebuild

    seconds: dict[str, float] = {}
    for name in VIEWS:
        started = time.perf_counter()
        rebuild(name, env)
        seconds[name] = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds_per_view": seconds, "seconds": sum(seconds.values()),
            "peak_mb": peak_kb / 1024}


def scenario(events: int) -> dict[str, Any]:
    """Write `events`, scan them (baseline), rebuild all views in a child process."""
    views_schema = f"bench_views_{uuid.uuid4().hex[:12]}"
    with fresh_store("postgres") as env:
        with pg_connect() as conn:
            conn.execute(f'CREATE SCHEMA "{views_schema}"')
        try:
            env = {**env, "VIEWS_POSTGRES_SCHEMA": views_schema}
            write_s = write_events(env, events)
            scan_s, count = scan_log(env)
            child = subprocess.run([sys.executable, "-m", "bench.rebuild", "--child",
                                    json.dumps(env)], capture_output=True, text=True,
                                   check=True)
            got = json.loads(child.stdout.strip().splitlines()[-1])
        finally:
            with pg_connect() as conn:
                conn.execute(f'DROP SCHEMA "{views_schema}" CASCADE')
    views = len(got["seconds_per_view"])
    return {"name": f"rebuild all views from {count:,} events (postgres)", "store": "postgres",
            "size": {"events": count, "views": views, "write_seconds": write_s},
            "subject": {"seconds": got["seconds"], "events_per_s": count * views / got["seconds"],
                        "peak_mb": got["peak_mb"], "seconds_per_view": got["seconds_per_view"]},
            "baselines": {"paged scan of the log": {"seconds": scan_s,
                                                    "events_per_s": count / scan_s}},
            "ratio": {"rebuild time / (views x log scan)": got["seconds"] / (views * scan_s),
                      "peak memory of the rebuild, MB (max RSS)": got["peak_mb"]},
            "target": {"peak memory of the rebuild, MB (max RSS)": ("<=", PEAK_MB_TARGET)}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rebuild", description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(rebuild_all(json.loads(args.child))))
        return 0
    print(json.dumps(scenario(args.events)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
