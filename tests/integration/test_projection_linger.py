"""PROJECTION_LINGER_MS: a runner whose batch ran dry waits that long for more events, so a
steady trickle of commands becomes one view transaction instead of one per command."""

from __future__ import annotations

import time
from typing import Any

from application.ledger import ReturnsLedger
from demo.scenarios import DAY, T0
from domain.money import Money
from domain.values import Line
from projections.runners import close_runner, projection_env, start_runner


def _register(ledger: ReturnsLedger, n: int) -> None:
    ledger.register_parcel(
        platform="tiktok_shop", site="TH", seller_id="s-linger", order_id=f"O-{n}",
        order_created_at=T0, tracking_number=f"TTLINGER{n:04d}",
        lines=[Line("SKU", 1, Money.of("450.00", "THB"))],
        amount_paid=Money.of("450.00", "THB"), occurred_at=T0 + DAY)


def test_events_arriving_within_the_linger_are_one_batch(store_env) -> None:
    ledger = ReturnsLedger(store_env)
    own = ({"VIEWS_POSTGRES_SCHEMA": store_env["POSTGRES_SCHEMA"]}  # dropped with it
           if "POSTGRES_SCHEMA" in store_env else {})
    runner = start_runner("tracking", projection_env(
        {**store_env, **own, "PROJECTION_LINGER_MS": "1500",
         "PROJECTION_POLL_INTERVAL": "0.05"}))
    batches: list[int] = []
    real = runner.projection.process_batch

    def counted(batch: Any) -> None:
        batches.append(len(batch))
        real(batch)
    runner.projection.process_batch = counted  # type: ignore[method-assign]
    try:
        for n in range(5):  # five commands, five saves, 30 ms apart
            _register(ledger, n)
            time.sleep(0.03)
        runner.wait(ledger.recorder.max_notification_id(), timeout=30)
        assert sum(batches) == 5 and len(batches) <= 2, batches  # not one per command
        started = time.monotonic()
    finally:
        assert close_runner(runner) is None
        ledger.close()
    assert time.monotonic() - started < 5  # stopping does not wait out a linger
