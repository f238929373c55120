"""Commands in-process: register + fail delivery + route, against the bare store."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from application.ledger import ReturnsLedger
from bench.bare import BareStore
from bench.stats import combine, latency_summary
from bench.stores import fresh_store
from domain.money import Money
from domain.values import Line

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
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


CHUNK = 10  # parcels per turn: the two sides take turns, so load drift hits both alike


def _turn(steps: list[Callable[[], Any]], latencies: list[float]) -> float:
    started = time.perf_counter()
    for step in steps:
        t = time.perf_counter()
        step()
        latencies.append(time.perf_counter() - t)
    return time.perf_counter() - started


def _summary(latencies: list[float], elapsed: float) -> dict[str, float]:
    return {"commands_per_s": len(latencies) / elapsed, **latency_summary(latencies)}


def run_pair(store: str, parcels: int, rep: int) -> tuple[dict[str, float], dict[str, float]]:
    """The ledger and the bare store on two fresh stores of one kind, in alternating turns."""
    with fresh_store(store) as ledger_env, fresh_store(store) as bare_env:
        ledger, bare = ReturnsLedger(ledger_env), BareStore(bare_env)
        try:
            prepare_ledger(ledger)
            before = ledger.recorder.max_notification_id() or 0
            sides = {"ledger": (lambda n: parcel_steps(ledger, n), [], [0.0]),
                     "bare": (lambda n: bare_steps(bare, n), [], [0.0])}
            order = ["ledger", "bare"] if rep % 2 == 0 else ["bare", "ledger"]
            for start in range(0, parcels, CHUNK):
                for name in order:
                    steps_of, latencies, elapsed = sides[name]
                    steps = [s for n in range(start, min(parcels, start + CHUNK))
                             for s in steps_of(n)]
                    elapsed[0] += _turn(steps, latencies)
                order.reverse()
            recorded = (ledger.recorder.max_notification_id() or 0) - before
        finally:
            ledger.close()
            bare.close()
    got = {k: _summary(lat, el[0]) for k, (_, lat, el) in sides.items()}
    got["ledger"]["events_per_s"] = (got["ledger"]["commands_per_s"] * recorded
                                     / (parcels * STEPS_PER_PARCEL))
    got["bare"]["events_per_s"] = got["bare"]["commands_per_s"]
    return got["ledger"], got["bare"]


def scenario(store: str, parcels: int, reps: int) -> dict[str, Any]:
    """Both sides in alternating turns within each repetition; medians over repetitions."""
    ledger_reps, bare_reps = [], []
    for rep in range(reps):
        ledger_rep, bare_rep = run_pair(store, parcels, rep)
        ledger_reps.append(ledger_rep)
        bare_reps.append(bare_rep)
    ledger, bare = combine(ledger_reps), combine(bare_reps)
    return {"name": f"commands in-process ({store})", "store": store,
            "size": {"parcels": parcels, "commands": parcels * STEPS_PER_PARCEL},
            "subject": ledger, "baselines": {"bare store": bare},
            "ratio": {"commands/s vs bare store": ledger["commands_per_s"] / bare["commands_per_s"]},
            "target": {"commands/s vs bare store": (">=", 0.85)}}
