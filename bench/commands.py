"""Commands in-process: register + fail delivery + route, against the bare store.

The primary figure is CPU time per command (time.process_time of this process, which
runs both sides in turns); wall-clock rates and latencies are information. The bare
store runs twice: with the library's no-read cache (`AGGREGATE_CACHE_FASTFORWARD=n`, a
command acts on the copy the process holds, as the ledger's cached commands do), the
baseline of the target; and with the library's default (the store is read on every
touch), for reference. On PostgreSQL the server's own CPU is not in these figures (the
two sides send the same number of transactions).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from application.ledger import ReturnsLedger
from bench.bare import BareStore
from bench.stats import combine, latency_summary, median
from bench.stores import fresh_store
from domain.money import Money
from domain.values import Line

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
SELLER = "seller-bench"
ADDRESS = {"lines": ["No. 8, Jalan Example"], "city": "Kuala Lumpur", "postcode": "50000"}
STEPS_PER_PARCEL = 3
NO_READ = "bare store, no-read cache"
DEFAULT = "bare store, library default"
BARE_SETTINGS = {NO_READ: {"AGGREGATE_CACHE_FASTFORWARD": "n"}, DEFAULT: {}}


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


CHUNK = 10  # parcels per turn: the sides take turns, so load drift hits them alike


class Tally:
    """One side's latencies, wall time and CPU time over its turns."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.wall = 0.0
        self.cpu = 0.0

    def turn(self, steps: list[Callable[[], Any]]) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        for step in steps:
            t = time.perf_counter()
            step()
            self.latencies.append(time.perf_counter() - t)
        self.cpu += time.process_time() - cpu
        self.wall += time.perf_counter() - wall

    def summary(self) -> dict[str, float]:
        n = len(self.latencies)
        return {"commands_per_cpu_s": n / max(self.cpu, 1e-9),
                "cpu_ms_per_command": 1000 * self.cpu / max(n, 1),
                "commands_per_s": n / max(self.wall, 1e-9), **latency_summary(self.latencies)}


def run_pair(store: str, parcels: int, rep: int) -> dict[str, dict[str, float]]:
    """The ledger and both bare stores on fresh stores of one kind, in alternating turns."""
    with fresh_store(store) as ledger_env, fresh_store(store) as no_read_env, \
            fresh_store(store) as default_env:
        ledger = ReturnsLedger(ledger_env)
        bares = {NO_READ: BareStore({**no_read_env, **BARE_SETTINGS[NO_READ]}),
                 DEFAULT: BareStore({**default_env, **BARE_SETTINGS[DEFAULT]})}
        try:
            prepare_ledger(ledger)
            sides: dict[str, tuple[Callable[[int], list[Callable[[], Any]]], Tally]] = {
                "ledger": (lambda n: parcel_steps(ledger, n), Tally()),
                **{name: (lambda n, app=app: bare_steps(app, n), Tally())
                   for name, app in bares.items()}}
            order = list(sides)
            for _ in range(rep % len(order)):
                order.append(order.pop(0))
            for start in range(0, parcels, CHUNK):
                for name in order:
                    steps_of, tally = sides[name]
                    tally.turn([s for n in range(start, min(parcels, start + CHUNK))
                                for s in steps_of(n)])
                order.reverse()
        finally:
            ledger.close()
            for app in bares.values():
                app.close()
    return {name: tally.summary() for name, (_, tally) in sides.items()}


def scenario(store: str, parcels: int, reps: int) -> dict[str, Any]:
    """All sides in alternating turns within each repetition; medians over repetitions
    (each repetition's ratio is taken within it, then the median of those ratios)."""
    got: dict[str, list[dict[str, float]]] = {"ledger": [], NO_READ: [], DEFAULT: []}
    ratios: dict[str, list[float]] = {NO_READ: [], DEFAULT: [], "wall": []}
    for rep in range(reps):
        pair = run_pair(store, parcels, rep)
        for name, figures in pair.items():
            got[name].append(figures)
        for name in (NO_READ, DEFAULT):
            ratios[name].append(pair["ledger"]["commands_per_cpu_s"]
                                / pair[name]["commands_per_cpu_s"])
        ratios["wall"].append(pair["ledger"]["commands_per_s"] / pair[NO_READ]["commands_per_s"])
    med = {name: combine(reps_) for name, reps_ in got.items()}
    return {"name": f"commands in-process ({store})", "store": store,
            "size": {"parcels": parcels, "commands": parcels * STEPS_PER_PARCEL},
            "subject": med["ledger"],
            "baselines": {NO_READ: med[NO_READ], DEFAULT: med[DEFAULT]},
            "ratio": {"commands per CPU-s vs bare store (no-read cache)": median(ratios[NO_READ]),
                      "commands per CPU-s vs bare store (library default)":
                          median(ratios[DEFAULT]),
                      "commands/s (wall) vs bare store (no-read cache)": median(ratios["wall"])},
            "target": {"commands per CPU-s vs bare store (no-read cache)": (">=", 0.85)}}
