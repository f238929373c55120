"""Commands in-process: register + fail delivery + route, against the bare store."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from application.ledger import ReturnsLedger
from bench.bare import BareStore
from bench.stats import combine, latency_summary
from bench.stores import fresh_store
from domain.money import Money
from domain.values import Line

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)
SELLER = "seller-bench"
ADDRESS = {"lines": ["No. 8, Jalan Example"], "city": "Kuala Lumpur", "postcode": "50000"}
STEPS_PER_PARCEL = 3


def prepare_ledger(ledger: ReturnsLedger) -> None:
    """The seller's return address, registered before the clock starts."""
    ledger.register_return_address(seller_id=SELLER, platform="tiktok_shop", country="MY",
                                   address=ADDRESS, effective_from=T0 - 30 * DAY,
                                   occurred_at=T0 - 30 * DAY)


def parcel_steps(ledger: ReturnsLedger, n: int) -> list[Callable[[], Any]]:
    """The three lifecycle steps of parcel n, as calls."""
    tracking = f"TTMYBENCH{n:08d}"
    state: dict[str, Any] = {}

    def register() -> None:
        state["id"] = ledger.register_parcel(
            platform="tiktok_shop", site="MY", seller_id=SELLER, order_id=f"ORDER-{n}",
            order_created_at=T0, tracking_number=tracking,
            lines=[Line("SKU-MUG", 2, Money.of("19.90", "MYR"))],
            amount_paid=Money.of("39.80", "MYR"), occurred_at=T0 + DAY).id

    return [register,
            lambda: ledger.record_failed_delivery(state["id"], "unreachable", T0 + 5 * DAY),
            lambda: ledger.route_return(state["id"], T0 + 6 * DAY)]


def bare_steps(app: BareStore, n: int) -> list[Callable[[], Any]]:
    """create+save, then get+trigger+save twice: the same number of transactions."""
    state: dict[str, Any] = {}

    def create() -> None:
        state["id"] = app.create(f"thing-{n}")

    return [create, lambda: app.touch(state["id"], "one"), lambda: app.touch(state["id"], "two")]


def _drive(steps_of: Callable[[int], list[Callable[[], Any]]], parcels: int
           ) -> dict[str, float]:
    latencies: list[float] = []
    started = time.perf_counter()
    for n in range(parcels):
        for step in steps_of(n):
            t = time.perf_counter()
            step()
            latencies.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - started
    return {"commands_per_s": len(latencies) / elapsed, **latency_summary(latencies)}


def run_ledger(store: str, parcels: int) -> dict[str, float]:
    with fresh_store(store) as env:
        ledger = ReturnsLedger(env)
        try:
            prepare_ledger(ledger)
            before = ledger.recorder.max_notification_id() or 0
            result = _drive(lambda n: parcel_steps(ledger, n), parcels)
            recorded = (ledger.recorder.max_notification_id() or 0) - before
            per_command = recorded / (parcels * STEPS_PER_PARCEL)
            result["events_per_s"] = result["commands_per_s"] * per_command
            return result
        finally:
            ledger.close()


def run_bare(store: str, parcels: int) -> dict[str, float]:
    with fresh_store(store) as env:
        app = BareStore(env)
        try:
            result = _drive(lambda n: bare_steps(app, n), parcels)
            result["events_per_s"] = result["commands_per_s"]
            return result
        finally:
            app.close()


def scenario(store: str, parcels: int, reps: int) -> dict[str, Any]:
    """Both sides, interleaved per repetition so drift hits them alike."""
    ledger_reps, bare_reps = [], []
    for rep in range(reps):
        order = [(run_ledger, ledger_reps), (run_bare, bare_reps)]
        for run, sink in order if rep % 2 == 0 else reversed(order):
            sink.append(run(store, parcels))
    ledger, bare = combine(ledger_reps), combine(bare_reps)
    return {"name": f"commands in-process ({store})", "store": store,
            "size": {"parcels": parcels, "commands": parcels * STEPS_PER_PARCEL},
            "subject": ledger, "baselines": {"bare store": bare},
            "ratio": {"commands/s vs bare store": ledger["commands_per_s"] / bare["commands_per_s"]},
            "target": {"commands/s vs bare store": (">=", 0.85)}}
