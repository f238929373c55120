"""History and as-of replay of a 50-event parcel, against a bare repository.get of it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder

from application.ledger import ReturnsLedger
from bench.commands import DAY, T0, parcel_steps, prepare_ledger
from bench.stats import latency_summary
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


def _time(call: Callable[[], Any], repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        t = time.perf_counter()
        call()
        samples.append(time.perf_counter() - t)
    return samples


def scenario(store: str, repeats: int) -> dict[str, Any]:
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
            for _ in range(max(1, repeats // 10)):
                for name, call in calls.items():
                    samples[name] += _time(call, 10)
        finally:
            ledger.close()
            bare.close()
    got = {k: latency_summary(v) for k, v in samples.items()}
    worst = max(got["history"]["p99_ms"], got["as-of replay"]["p99_ms"])
    return {"name": f"history + as-of replay, {EVENTS} events ({store})", "store": store,
            "size": {"events": EVENTS, "reads": repeats},
            "subject": {"history": got["history"], "as-of replay": got["as-of replay"]},
            "baselines": {"bare get": got["bare get"]},
            "ratio": {"p99 vs bare get p99": worst / got["bare get"]["p99_ms"]},
            "target": {"p99 vs bare get p99": ("<=", 2.0)}}
