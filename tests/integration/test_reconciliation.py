"""Reconciliation of a settlement file against the refunds view, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from application.finance.reconciliations import FinanceDesk, ReconciliationNotFoundError
from application.ledger import ReturnsLedger
from domain.errors import DomainError
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
                             "ambiguous_reference": 0, "unreadable_line": 2}
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
    assert again.id == first.id == reconciliation_id(first.fingerprint, "",
                                                     first.ledger_state)
    assert again.already_recorded and again.digest == first.digest
    assert second_report.getvalue() == first_report.getvalue()
    assert desk.verify(first.id)
    started = [e for e in desk.ledger.events.get(first.id)
               if isinstance(e, Reconciliation.Started)]
    assert len(started) == 1  # recorded once


def test_the_same_file_uploaded_twice_at_once_is_one_run_never_a_crash(desk,
                                                                       monkeypatch) -> None:
    """Both uploads look for the run before either records it, then both save the same
    new aggregate: the second save is a conflict, answered as the first's run (it was an
    IntegrityError, a 500)."""
    real_find = desk.find
    both_looked = threading.Barrier(2, timeout=20)
    looked: set[int] = set()

    def find_together(run_id):
        found = real_find(run_id)
        if threading.get_ident() not in looked:  # each upload's first look: none yet
            looked.add(threading.get_ident())
            assert found is None
            both_looked.wait()
        return found
    monkeypatch.setattr(desk, "find", find_together)
    outcomes: list[object] = []

    def upload() -> None:
        try:
            with FIXTURE.open("rb") as stream:
                outcomes.append(desk.accept(stream, FIXTURE.name, T0 + 10 * DAY,
                                            actor="finance-1"))
        except Exception as error:  # noqa: BLE001 - the outcome is what is checked
            outcomes.append(error)
    threads = [threading.Thread(target=upload) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(outcomes) == 2 and not [o for o in outcomes if isinstance(o, Exception)], \
        outcomes
    first, second = sorted(outcomes, key=lambda o: o.already_recorded)  # type: ignore[attr-defined]
    assert first.id == second.id and (first.already_recorded, second.already_recorded) == (
        False, True)
    started = [e for e in desk.ledger.events.get(first.id)
               if isinstance(e, Reconciliation.Started)]
    assert len(started) == 1
    monkeypatch.setattr(desk, "find", real_find)
    assert desk.run(first.id).done


def test_report_csv_is_rfc4180_with_the_documented_columns(desk) -> None:
    result = run(desk)
    out = io.StringIO(newline="")
    desk.write_report(result.id, out)
    text = out.getvalue()
    assert text.startswith(",".join(REPORT_COLUMNS) + "\r\n")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == sum(result.counts.values())


def test_a_run_that_stopped_half_way_starts_over(desk) -> None:
    with FIXTURE.open("rb") as stream:
        accepted = desk.accept(stream, FIXTURE.name, T0, actor="finance-1")
    assert accepted.status == "running"
    stale = desk.ledger.repository.get(accepted.id)  # the process died after one chunk
    stale.record_outcomes([["stale"] * len(REPORT_COLUMNS)], T0, "finance-1")
    desk.ledger.save(stale)
    assert desk.resume() == [accepted.id]  # what a restart does
    result = desk.get_reconciliation(accepted.id)
    assert result.status == "done" and result.attempt == 2
    assert all(r["outcome"] != "stale" for r in desk.report_lines(result.id))
    assert desk.verify(result.id)


def test_a_run_recorded_as_lines_by_name_reads_back_as_recorded_now(desk) -> None:
    """Runs recorded before lines were lists (one dict per line) keep their report."""
    result = run(desk)
    rows = list(desk.report_rows(result.id))
    report = io.StringIO()
    desk.write_report(result.id, report)
    old = Reconciliation(fingerprint="f" * 64, file_name="old.csv",
                         source_format="returns_ledger", scope="", occurred_at=T0,
                         actor="finance-1", ledger_state="", ledger_position=0,
                         file_bytes=0, key_id="")
    for start in range(0, len(rows), 4):  # chunks as the old runs stored them
        old._outcomes_recorded(attempt=1, chunk=start // 4 + 1,
                               lines=[dict(zip(REPORT_COLUMNS, r, strict=True))
                                      for r in rows[start:start + 4]],
                               occurred_at=T0, actor="finance-1")
    completed = desk.get_reconciliation(result.id)
    old._completed(counts=completed.counts, totals=completed.totals,
                   digest=completed.digest, lines_read=9, lines_ignored=0, ledger_refunds=5,
                   attempt=1, occurred_at=T0, actor="finance-1")
    desk.ledger.save(old)
    assert list(desk.report_rows(old.id)) == rows
    old_report = io.StringIO()
    desk.write_report(old.id, old_report)
    assert old_report.getvalue() == report.getvalue() and desk.verify(old.id)


def test_unknown_reconciliation_is_not_found(desk) -> None:
    with pytest.raises(ReconciliationNotFoundError):
        desk.get_reconciliation(reconciliation_id("nothing"))


def _issued(ledger: ReturnsLedger, reference: str, amount: str, platform: str,
            tracking: str, seller: str = "seller-1") -> None:
    site = {"tiktok_shop": "MY", "amazon": "DE", "lazada": "MY"}[platform]
    parcel = ledger.register_parcel(
        platform=platform, site=site, seller_id=seller, order_id=f"O-{tracking}",
        order_created_at=T0, tracking_number=tracking,
        lines=[Line("SKU-1", 1, eur("100.00"))], amount_paid=eur("100.00"),
        shipping_paid=eur("0.00"), occurred_at=T0).id
    ledger.request_refund(parcel, reference, [RefundComponent("item", eur(amount))],
                          T0 + DAY, actor="clerk")


def _reconcile(view_env, ledger: ReturnsLedger, text: str) -> tuple[object, str]:
    view = caught_up_refunds(view_env)
    try:
        desk = FinanceDesk(ledger, view.ledger_refunds)
        result = desk.reconcile(io.BytesIO(text.encode()), "s.csv", T0 + 10 * DAY, "fin")
        out = io.StringIO(newline="")
        desk.write_report(result.id, out)
        return result, out.getvalue()
    finally:
        view.datastore.close()


def test_the_same_file_after_the_ledger_changed_is_a_new_run(view_env) -> None:
    """A run means the file against the refunds as they were: approving one re-runs it."""
    ledger = ReturnsLedger(view_env)
    try:
        parcel = ledger.register_parcel(
            platform="tiktok_shop", site="MY", seller_id="seller-1", order_id="O-BIG",
            order_created_at=T0, tracking_number="TRK-BIG",
            lines=[Line("SKU-1", 1, eur("1000.00"))], amount_paid=eur("1000.00"),
            shipping_paid=eur("0.00"), occurred_at=T0).id
        ledger.request_refund(parcel, "R-BIG", [RefundComponent("item", eur("900.00"))],
                              T0 + DAY, actor="person:clerk")  # AM-4: waits
        text = "reference,currency,amount\r\nR-BIG,EUR,900.00\r\n"
        before, report_before = _reconcile(view_env, ledger, text)
        assert before.counts["settled_not_in_ledger"] == 1  # not issued yet
        ledger.approve_refund(parcel, "R-BIG", T0 + 2 * DAY, actor="person:lead")
        after, report_after = _reconcile(view_env, ledger, text)
        assert after.id != before.id and not after.already_recorded
        assert after.counts["matched"] == 1 and after.fingerprint == before.fingerprint
        again, report_again = _reconcile(view_env, ledger, text)
        assert again.id == after.id and again.already_recorded
        assert report_again == report_after != report_before
    finally:
        ledger.close()


def test_a_reference_reused_on_another_platform_is_matched_on_platform(view_env) -> None:
    """A refund reference is unique per parcel: the file's platform picks the refund."""
    ledger = ReturnsLedger(view_env)
    try:
        _issued(ledger, "R-1", "10.00", "amazon", "AM-1")
        _issued(ledger, "R-1", "20.00", "tiktok_shop", "TT-1")
        result, report = _reconcile(view_env, ledger, (
            "reference,currency,amount,platform\r\nR-1,EUR,10.00,amazon\r\n"))
        rows = list(csv.DictReader(io.StringIO(report, newline="")))
        assert [(r["outcome"], r["platform"], r["ledger_amount"]) for r in rows] == [
            ("matched", "amazon", "10.00"), ("in_ledger_not_settled", "tiktok_shop", "20.00")]
        # Each side counted once: 30.00 due, 10.00 settled (no double counting).
        assert result.totals["EUR"] == {"ledger": "30.00", "settled": "10.00",
                                        "matched": "10.00", "difference": "-20.00"}
    finally:
        ledger.close()


def test_a_reference_reused_by_another_seller_is_matched_on_seller(view_env) -> None:
    """Two sellers on one platform with the same refund reference: the file's seller
    picks the refund; the other seller's is not settled, each side counted once."""
    ledger = ReturnsLedger(view_env)
    try:
        _issued(ledger, "R-3", "10.00", "amazon", "AM-3A", seller="seller-a")
        _issued(ledger, "R-3", "20.00", "amazon", "AM-3B", seller="seller-b")
        result, report = _reconcile(view_env, ledger, (
            "reference,currency,amount,platform,seller_id\r\n"
            "R-3,EUR,20.00,amazon,seller-b\r\n"))
        rows = list(csv.DictReader(io.StringIO(report, newline="")))
        assert sorted((r["outcome"], r["seller_id"], r["ledger_amount"]) for r in rows) == [
            ("in_ledger_not_settled", "seller-a", "10.00"),
            ("matched", "seller-b", "20.00")]
        assert result.totals["EUR"] == {"ledger": "30.00", "settled": "20.00",
                                        "matched": "20.00", "difference": "-10.00"}
    finally:
        ledger.close()


def test_a_reference_the_file_cannot_place_is_ambiguous(view_env) -> None:
    ledger = ReturnsLedger(view_env)
    try:
        _issued(ledger, "R-2", "10.00", "amazon", "AM-2")
        _issued(ledger, "R-2", "10.00", "tiktok_shop", "TT-2")
        result, report = _reconcile(view_env, ledger,
                                    "reference,currency,amount\r\nR-2,EUR,10.00\r\n")
        rows = list(csv.DictReader(io.StringIO(report, newline="")))
        assert [r["outcome"] for r in rows] == ["ambiguous_reference"] * 3
        assert "2 ledger refunds have this reference" in rows[0]["detail"]
        assert result.counts["matched"] == 0 and result.counts["ambiguous_reference"] == 3
        assert result.totals["EUR"] == {"ledger": "20.00", "settled": "10.00",
                                        "matched": "0.00", "difference": "-10.00"}
    finally:
        ledger.close()


def test_a_run_whose_spooled_file_is_gone_is_marked_failed(desk) -> None:
    with FIXTURE.open("rb") as stream:
        accepted = desk.accept(stream, FIXTURE.name, T0, actor="finance-1")
    for path in (desk.spool / str(accepted.id)).iterdir():
        path.unlink()
    assert desk.resume() == [accepted.id]
    failed = desk.get_reconciliation(accepted.id)
    assert failed.status == "failed" and "upload the file again" in failed.failure
    with pytest.raises(DomainError):
        list(desk.report_lines(accepted.id))


def test_a_file_that_breaks_half_way_fails_with_the_reason(desk) -> None:
    good = b"".join(b"R-%d,EUR,1.00\r\n" % i for i in range(5000))  # past the header check
    text = b"reference,currency,amount\r\n" + good + b"\xff\xfe,EUR,1\r\n"
    accepted = desk.accept(io.BytesIO(text), "broken.csv", T0, actor="finance-1")
    failed = desk.run(accepted.id)
    assert failed.status == "failed" and "UTF-8" in failed.failure
    assert not (desk.spool / str(accepted.id)).exists()
