"""Refunds waiting for a second approval (AM-4), for the finance pages' tests."""

from __future__ import annotations

from uuid import UUID

from application.ledger import ReturnsLedger
from demo.scenarios import DAY, T0
from domain.money import Money
from domain.values import Line, RefundComponent
from tests.web.conftest import Seeded, catch_up


def waiting_refund(ledger: ReturnsLedger, n: int, requested_by: str) -> UUID:
    """An Amazon parcel of seller-am, inspected, with W-<n> (600 EUR, above AM-4) waiting."""
    parcel = ledger.register_parcel(
        platform="amazon", site="DE", seller_id="seller-am", order_id=f"W-ORDER-{n}",
        order_created_at=T0, tracking_number=f"AMWAIT{n:04d}",
        lines=[Line("SKU-DRONE", 1, Money.of("899.00", "EUR"))],
        amount_paid=Money.of("899.00", "EUR"), shipping_paid=Money.of("5.99", "EUR"),
        occurred_at=T0).id
    ledger.record_delivery(parcel, T0 + 2 * DAY)
    ledger.request_return(parcel, "arrived damaged", seller_fault=True,
                          return_shipping_cost=Money.of("7.50", "EUR"),
                          occurred_at=T0 + 5 * DAY)
    ledger.route_return(parcel, T0 + 5 * DAY)
    ledger.issue_return_label(parcel, "DHL", f"DHL-W-{n}", T0 + 5 * DAY)
    ledger.receive(parcel, T0 + 9 * DAY)
    ledger.inspect(parcel, "damaged", T0 + 9 * DAY)
    ledger.request_refund(parcel, f"W-{n}", [RefundComponent("item", Money.of("600.00", "EUR"))],
                          T0 + 10 * DAY, actor=requested_by)
    return parcel


def with_waiting_refunds(seeded: Seeded, count: int = 2) -> list[UUID]:
    """`count` waiting refunds asked for by the person finance_b; views caught up."""
    ledger = seeded.app.extensions["returns_ledger"].get()
    parcels = [waiting_refund(ledger, n, "person:finance_b") for n in range(1, count + 1)]
    catch_up(seeded.env, ledger)
    return parcels
