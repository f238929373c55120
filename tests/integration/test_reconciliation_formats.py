"""Settlement layouts mapped to our columns, and the outcome of one reference."""

from __future__ import annotations

import io

import pytest

from application.finance.formats import (
    SettlementFile,
    SettlementFormatError,
    SettlementLine,
    Unreadable,
)
from domain.reconciliation import LedgerRefund, SettledRefund, as_line, classify


def lines(text: str, currency: str | None = None) -> tuple[str, list]:
    settlement = SettlementFile(io.StringIO(text, newline=""), currency)
    return settlement.format.name, list(settlement)


AMAZON = (  # settlement report v2: tab separated; the summary row alone carries the currency
    "settlement-id\tsettlement-start-date\tsettlement-end-date\tdeposit-date\ttotal-amount\t"
    "currency\ttransaction-type\torder-id\tmerchant-order-id\tadjustment-id\tshipment-id\t"
    "marketplace-name\tamount-type\tamount-description\tamount\tposted-date\n"
    "111\t2026-03-01\t2026-03-15\t2026-03-17\t1000.00\tEUR\t\t\t\t\t\t\t\t\t\t\n"
    "111\t\t\t\t\t\tOrder\t302-1\t\t\t\tAmazon.de\tItemPrice\tPrincipal\t899.00\t2026-03-02\n"
    "111\t\t\t\t\t\tRefund\t302-1\t\tAMZ-REF-1\t\tAmazon.de\tItemPrice\tPrincipal\t-899.00\t"
    "2026-03-12\n"
    "111\t\t\t\t\t\tRefund\t302-1\t\tAMZ-REF-1\t\tAmazon.de\tItemPrice\tReturnShipping\t"
    "-7.50\t2026-03-12\n"
    "111\t\t\t\t\t\tRefund\t302-1\t\tAMZ-REF-1\t\tAmazon.de\tItemFees\tCommission\t134.85\t"
    "2026-03-12\n"
    "111\t\t\t\t\t\tRefund\t302-1\t\tAMZ-REF-1\t\tAmazon.de\tItemPrice\tTax\t-10.00\t"
    "2026-03-12\n"
)


def test_amazon_v2_refund_lines_map_to_reference_currency_and_positive_amount() -> None:
    name, found = lines(AMAZON)
    assert name == "amazon"
    assert found == [SettlementLine(4, "AMZ-REF-1", "EUR", 89900, "302-1", "item", "amazon"),
                     SettlementLine(5, "AMZ-REF-1", "EUR", 750, "302-1", "return_shipping",
                                    "amazon")]


def test_tiktok_shop_refund_rows_use_the_adjustment_id() -> None:
    text = ("Order/adjustment ID,Type,Order created time(UTC),Order settled time(UTC),"
            "Currency,Total settlement amount,Refund subtotal after seller discounts\r\n"
            "5767861,Order,2026/03/01,2026/03/10,MYR,39.80,\r\n"
            "5767862,Refund,2026/03/01,2026/03/11,MYR,-38.00,-39.80\r\n")
    assert lines(text) == ("tiktok_shop", [
        SettlementLine(3, "5767862", "MYR", 3980, "5767862", "item", "tiktok_shop")])


def test_lazada_reversals_need_the_currency_given_when_the_file_has_none() -> None:
    text = ("Transaction Date,Transaction Type,Fee Name,Transaction Number,Amount,"
            "Order No.,Order Item No.\r\n"
            "2026-03-05,Orders-Sales,Item Price Credit,T1,150.00,LZ-1,LZ-1-1\r\n"
            "2026-03-09,Refunds,Reversal Item Price,T2,-150.00,LZ-1,LZ-1-1\r\n"
            "2026-03-09,Refunds,Reversal Commission,T3,4.50,LZ-1,LZ-1-1\r\n")
    assert lines(text, "PHP")[1] == [SettlementLine(3, "LZ-1-1", "PHP", 15000, "LZ-1", "item",
                                                            "lazada")]
    [unread] = lines(text)[1]
    assert isinstance(unread, Unreadable) and unread.reference == "LZ-1-1"
    assert unread.detail.startswith("currency:")


def test_unknown_layout_is_refused_with_the_known_ones() -> None:
    with pytest.raises(SettlementFormatError) as err:
        lines("a,b,c\r\n1,2,3\r\n")
    assert "amazon" in str(err.value) and "returns_ledger" in str(err.value)


def test_our_format_refuses_a_float_looking_amount_beyond_minor_units() -> None:
    _, found = lines("reference,currency,amount\r\nR-1,JPY,1500.5\r\nR-2,JPY,1500\r\n")
    assert isinstance(found[0], Unreadable) and "decimals" in found[0].detail
    assert found[1] == SettlementLine(3, "R-2", "JPY", 1500, "", "item")


def ledger_refund(status: str = "issued", currency: str = "EUR", amount: int = 1000,
                  ) -> LedgerRefund:
    return LedgerRefund("R-1", "p-1", "o-1", "s-1", "amazon", currency, amount, status)


def settled(currency: str = "EUR", amount: int = 1000) -> SettledRefund:
    return SettledRefund("R-1", currency, amount, 1, 2, "o-1")


@pytest.mark.parametrize(("ledger", "settlement", "outcome"), [
    (ledger_refund(), settled(), "matched"),
    (ledger_refund(), settled(amount=999), "amount_mismatch"),
    (ledger_refund(), settled(currency="USD"), "currency_mismatch"),
    (ledger_refund(), None, "in_ledger_not_settled"),
    (None, settled(), "settled_not_in_ledger"),
    (ledger_refund(status="reversed"), settled(), "settled_not_in_ledger"),
])
def test_classify_each_outcome(ledger, settlement, outcome) -> None:
    assert as_line(classify(ledger, settlement))["outcome"] == outcome


def test_a_refund_never_issued_and_not_settled_needs_no_line() -> None:
    for status in ("requested", "approved", "rejected", "failed", "reversed"):
        assert classify(ledger_refund(status=status), None) is None
