"""The refunds ledger view on SQLite and PostgreSQL: lines, lifecycle, totals, exports."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from application.finance.exports import (
    REFUND_COLUMNS,
    TOTAL_COLUMNS,
    csv_lines,
    refund_line,
    total_line,
)
from application.ledger import ReturnsLedger
from domain.money import Money
from domain.values import Line, RefundComponent
from interfaces.cli.finance import caught_up_refunds
from tests.integration.projection_support import view_env  # noqa: F401 - fixture

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def parcel(ledger: ReturnsLedger, tracking: str, currency: str, price: str,
           seller: str = "seller-1") -> object:
    unit = Money.of(price, currency)
    return ledger.register_parcel(
        platform="lazada", site="PH", seller_id=seller, order_id=f"O-{tracking}",
        order_created_at=T0, tracking_number=tracking, lines=[Line("SKU-1", 1, unit)],
        amount_paid=unit, shipping_paid=Money.of("5" if currency == "JPY" else "5.00",
                                                 currency),
        ready_to_ship_at=T0 + DAY, occurred_at=T0).id


def parts(currency: str, **amounts: str) -> list[RefundComponent]:
    return [RefundComponent(k, Money.of(v, currency)) for k, v in amounts.items()]


def test_refund_lines_follow_the_lifecycle_and_total_per_seller_currency_day(view_env):
    ledger = ReturnsLedger(view_env)
    a = parcel(ledger, "T-1", "PHP", "3000.00")
    ledger.request_refund(a, "R-1", parts("PHP", item="100.10", shipping="5.00"), T0 + DAY)
    ledger.request_refund(a, "R-2", parts("PHP", item="0.20"), T0 + DAY, actor="clerk")
    ledger.reverse_refund(a, "R-2", "charged back", T0 + 3 * DAY, actor="finance")
    b = parcel(ledger, "T-2", "JPY", "90000")
    ledger.request_refund(b, "R-3", parts("JPY", item="85000"), T0 + DAY, actor="clerk")
    ledger.reject_refund(b, "R-3", "no proof", T0 + 2 * DAY, actor="finance")
    ledger.request_refund(b, "R-4", parts("JPY", item="1500"), T0 + 2 * DAY)
    view = caught_up_refunds(view_env)
    try:
        rows = {r["reference"]: refund_line(r) for r in view.rows()}
        totals = [total_line(t) for t in view.totals()]
        csv_text = "".join(csv_lines((refund_line(r) for r in view.rows()), REFUND_COLUMNS))
        only_php = [r["reference"] for r in view.rows({"currency": "PHP"})]
        other_seller = list(view.rows(sellers=("seller-2",)))
    finally:
        view.datastore.close()
        ledger.close()
    assert {k: r["status"] for k, r in rows.items()} == {
        "R-1": "issued", "R-2": "reversed", "R-3": "rejected", "R-4": "issued"}
    assert (rows["R-1"]["item"], rows["R-1"]["shipping"], rows["R-1"]["return_shipping"],
            rows["R-1"]["amount"]) == ("100.10", "5.00", "0.00", "105.10")
    assert (rows["R-3"]["amount"], rows["R-3"]["needs_approval"],
            rows["R-3"]["released_by"], rows["R-3"]["reason"]) == ("85000", True, "finance",
                                                                   "no proof")
    assert rows["R-2"]["released_at"] == (T0 + 3 * DAY).isoformat()
    assert rows["R-1"]["order_id"] == "O-T-1" and rows["R-1"]["site"] == "PH"
    assert totals == [
        {"seller_id": "seller-1", "platform": "lazada", "currency": "JPY",
         "day": "2026-03-04", "refunds": 1, "item": "1500", "shipping": "0",
         "return_shipping": "0", "amount": "1500"},
        {"seller_id": "seller-1", "platform": "lazada", "currency": "PHP",
         "day": "2026-03-03", "refunds": 1, "item": "100.10", "shipping": "5.00",
         "return_shipping": "0.00", "amount": "105.10"}]
    assert tuple(totals[0]) == TOTAL_COLUMNS
    parsed = list(csv.DictReader(io.StringIO(csv_text, newline="")))
    assert csv_text.startswith(",".join(REFUND_COLUMNS) + "\r\n")
    assert [(p["reference"], p["amount"]) for p in parsed] == [
        ("R-1", "105.10"), ("R-2", "0.20"), ("R-3", "85000"), ("R-4", "1500")]
    assert only_php == ["R-1", "R-2"] and other_seller == []
