"""Reconciliation of a settlement file against the refunds view, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from application.finance.reconciliations import FinanceDesk, ReconciliationNotFoundError
from application.ledger import ReturnsLedger
from domain.money import Money
from domain.reconciliation import REPORT_COLUMNS, Reconciliation, reconciliation_id
from domain.values import Line, RefundComponent
from interfaces.cli.finance import caught_up_refunds
from tests.integration.projection_support import view_env  # noqa: F401 - fixture

FIXTURE = Path(__file__).parent.parent / "fixtures" / "settlement_refunds.csv"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


def refund(ledger: ReturnsLedger, reference: str, parts: dict[str, str], **kw) -> None:
    """A TikTok Shop parcel of 1000 EUR (+10 shipping) and one refund on it."""
    parcel = ledger.register_parcel(
        platform="tiktok_shop", site="MY", seller_id="seller-1", order_id=f"ORDER-{reference}",
        order_created_at=T0, tracking_number=f"TRK-{reference}",
        lines=[Line("SKU-1", 1, eur("1000.00"))], amount_paid=eur("1000.00"),
        shipping_paid=eur("10.00"), occurred_at=T0).id
    ledger.request_refund(parcel, reference,
                          [RefundComponent(k, eur(v)) for k, v in parts.items()],
                          T0 + DAY, actor="clerk")
    if kw.get("fail"):
        ledger.record_refund_failure(parcel, reference, "card expired", T0 + 2 * DAY,
                                     actor="payments-desk")  # AM-4: not the issuer


@pytest.fixture
def desk(view_env):
    ledger = ReturnsLedger(view_env)
    refund(ledger, "R-MATCH", {"item": "100.00"})
    refund(ledger, "R-SPLIT", {"item": "50.00", "shipping": "5.00"})
    refund(ledger, "R-SHORT", {"item": "90.00"})
    refund(ledger, "R-CUR", {"item": "20.00"})
    refund(ledger, "R-FAILED", {"item": "30.00"}, fail=True)
    refund(ledger, "R-MISSING", {"item": "40.00"})
    refund(ledger, "R-PENDING", {"item": "900.00"})  # AM-4: waits, never issued
    view = caught_up_refunds(view_env)
    yield FinanceDesk(ledger, view.ledger_refunds)
    view.datastore.close()
    ledger.close()


def run(desk: FinanceDesk, path: Path = FIXTURE):
    with path.open("rb") as stream:
        return desk.reconcile(stream, path.name, T0 + 10 * DAY, actor="finance-1")


def test_every_outcome_kind_with_totals_per_currency(desk) -> None:
    result = run(desk)
    lines = {(r["outcome"], r["reference"]): r for r in desk.report_lines(result.id)}
    assert sorted(lines) == [
        ("amount_mismatch", "R-SHORT"), ("currency_mismatch", "R-CUR"),
        ("in_ledger_not_settled", "R-MISSING"), ("matched", "R-MATCH"),
        ("matched", "R-SPLIT"), ("settled_not_in_ledger", "R-FAILED"),
        ("settled_not_in_ledger", "R-UNKNOWN"), ("unreadable_line", ""),
        ("unreadable_line", "R-BAD")]
    assert lines[("matched", "R-SPLIT")]["settlement_lines"] == "2"
    assert lines[("amount_mismatch", "R-SHORT")]["difference"] == "-10.00"
    assert lines[("settled_not_in_ledger", "R-FAILED")]["ledger_status"] == "failed"
    assert "decimals" in lines[("unreadable_line", "R-BAD")]["detail"]
    assert result.counts == {"matched": 2, "amount_mismatch": 1, "currency_mismatch": 1,
                             "in_ledger_not_settled": 1, "settled_not_in_ledger": 2,
                             "unreadable_line": 2}
    # Issued in the ledger: 100 + 55 + 90 + 20 + 40 = 305 EUR (the failed and pending are not).
    assert result.totals == {
        "EUR": {"ledger": "305.00", "settled": "277.00", "matched": "155.00",
                "difference": "-28.00"},
        "USD": {"ledger": "0.00", "settled": "20.00", "matched": "0.00",
                "difference": "20.00"}}
    assert (result.lines_read, result.lines_ignored, result.ledger_refunds) == (9, 0, 5)
    assert result.source_format == "returns_ledger" and not result.already_recorded


def test_the_same_file_twice_gives_the_same_report(desk) -> None:
    first = run(desk)
    first_report = io.StringIO()
    desk.write_report(first.id, first_report)
    again = run(desk)
    second_report = io.StringIO()
    desk.write_report(again.id, second_report)
    assert again.id == first.id == reconciliation_id(first.fingerprint)
    assert again.already_recorded and again.digest == first.digest
    assert second_report.getvalue() == first_report.getvalue()
    assert desk.verify(first.id)
    started = [e for e in desk.ledger.events.get(first.id)
               if isinstance(e, Reconciliation.Started)]
    assert len(started) == 1  # recorded once


def test_report_csv_is_rfc4180_with_the_documented_columns(desk) -> None:
    result = run(desk)
    out = io.StringIO(newline="")
    desk.write_report(result.id, out)
    text = out.getvalue()
    assert text.startswith(",".join(REPORT_COLUMNS) + "\r\n")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == sum(result.counts.values())


def test_a_run_that_stopped_half_way_starts_over(desk, tmp_path) -> None:
    with FIXTURE.open("rb") as stream:
        from application.finance.reconciliations import fingerprint

        fp = fingerprint(stream)
    stale = Reconciliation(fingerprint=fp, file_name="x", source_format="returns_ledger",
                           scope="", occurred_at=T0, actor="crashed")
    stale.record_outcomes([dict.fromkeys(REPORT_COLUMNS, "stale")], T0, "crashed")
    desk.ledger.save(stale)
    result = run(desk)
    assert result.attempt == 2
    assert all(r["outcome"] != "stale" for r in desk.report_lines(result.id))
    assert desk.verify(result.id)


def test_unknown_reconciliation_is_not_found(desk) -> None:
    with pytest.raises(ReconciliationNotFoundError):
        desk.get_reconciliation(reconciliation_id("nothing"))
