"""Cdiscount: CD-2 tracking, CD-4 return remedies."""

from __future__ import annotations

from uuid import UUID

import pytest

from application.ledger import ReturnsLedger
from domain.errors import RuleViolationError
from domain.values import Line
from tests.integration.rules.conftest import DAY, T0, eur, history_types, item, register, shipping

FR_ADDRESS = {"lines": ["12 rue Exemple"], "city": "Lyon", "postcode": "69001"}


def cd_parcel(ledger: ReturnsLedger, price: str = "39.00", tracking: str | None = "CD-1",
              **kwargs) -> UUID:
    return register(ledger, "cdiscount", site="FR", currency="EUR", price=price,
                    shipping_paid="4.90", tracking=tracking, **kwargs)


def cd_address(ledger: ReturnsLedger, country: str) -> UUID:
    return ledger.register_return_address(
        seller_id="seller-1", platform="cdiscount", country=country, address=FR_ADDRESS,
        effective_from=T0 - 10 * DAY, occurred_at=T0 - 10 * DAY).id


def return_requested(ledger: ReturnsLedger, seller_fault: bool = True,
                     unconditional: bool = False) -> UUID:
    parcel = cd_parcel(ledger)
    ledger.record_delivery(parcel, T0 + 3 * DAY)
    ledger.request_return(parcel, "defective" if seller_fault else "changed mind",
                          seller_fault=seller_fault, unconditional=unconditional,
                          occurred_at=T0 + 6 * DAY)
    return parcel


def untracked(ledger: ReturnsLedger, price: str, **kwargs) -> UUID:
    # No tracking number: the id comes from the order (register() names it after "tracking").
    return ledger.register_parcel(
        platform="cdiscount", site="FR", seller_id="seller-1", order_id="CD-ORDER-9",
        order_created_at=T0, tracking_number=None,
        lines=[Line("SKU-1", 1, eur(price))],
        amount_paid=eur(price), occurred_at=T0 + DAY, **kwargs).id


# -- CD-2 tracking --------------------------------------------------------------------


def test_cd2_tracking_optional_up_to_15_eur(ledger: ReturnsLedger) -> None:
    parcel = untracked(ledger, "15.00")
    assert ledger.get_parcel(parcel).tracking_number is None


def test_cd2_tracking_mandatory_above_15_eur(ledger: ReturnsLedger) -> None:
    with pytest.raises(RuleViolationError) as err:
        untracked(ledger, "15.01")
    assert err.value.rule == "CD-2"
    assert cd_parcel(ledger, price="15.01")  # with a tracking number it is accepted


def test_cd2_tracking_mandatory_when_buyer_chose_tracked_shipping(ledger: ReturnsLedger) -> None:
    with pytest.raises(RuleViolationError) as err:
        untracked(ledger, "5.00", tracked_shipping=True)
    assert err.value.rule == "CD-2"
    assert err.value.facts["tracked_shipping"] == "true"


@pytest.mark.parametrize("url", ["http://t.example/1", "https://t.example/1",
                                 "https://t.example/" + "x" * (255 - 18)])
def test_cd2_tracking_url_http_and_at_most_255_chars_is_accepted(ledger: ReturnsLedger,
                                                                 url: str) -> None:
    assert len(url) <= 255
    assert cd_parcel(ledger, tracking_url=url)


@pytest.mark.parametrize("url", ["ftp://t.example/1", "t.example/1", "javascript:alert(1)",
                                 "https://t.example/" + "x" * (256 - 18)])
def test_cd2_tracking_url_other_scheme_or_too_long_is_refused(ledger: ReturnsLedger,
                                                              url: str) -> None:
    with pytest.raises(RuleViolationError) as err:
        cd_parcel(ledger, tracking_url=url)
    assert err.value.rule == "CD-2"


def test_cd2_label_tracking_cannot_change(ledger: ReturnsLedger) -> None:
    cd_address(ledger, "CN")
    parcel = return_requested(ledger)
    ledger.route_return(parcel, T0 + 6 * DAY, remedy="prepaid_label")
    ledger.issue_return_label(parcel, "Colissimo", "COL-1", T0 + 6 * DAY,
                              tracking_url="https://t.example/COL-1")
    with pytest.raises(RuleViolationError) as err:
        ledger.issue_return_label(parcel, "Colissimo", "COL-2", T0 + 7 * DAY)
    assert err.value.rule == "CD-2"
    assert ledger.get_parcel(parcel).label_tracking_number == "COL-1"


def test_cd2_label_tracking_url_is_checked(ledger: ReturnsLedger) -> None:
    cd_address(ledger, "CN")
    parcel = return_requested(ledger)
    ledger.route_return(parcel, T0 + 6 * DAY, remedy="prepaid_label")
    with pytest.raises(RuleViolationError) as err:
        ledger.issue_return_label(parcel, "Colissimo", "COL-1", T0 + 6 * DAY,
                                  tracking_url="www.example/COL-1")
    assert err.value.rule == "CD-2"
    assert ledger.get_parcel(parcel).label_tracking_number is None


# -- CD-4 remedies --------------------------------------------------------------------


def test_cd4_return_address_in_france_is_offered(ledger: ReturnsLedger) -> None:
    address = cd_address(ledger, "FR")
    parcel = return_requested(ledger)
    decision = ledger.route_return(parcel, T0 + 6 * DAY).extra["decision"]
    assert (decision.rule, decision.remedy.value) == ("CD-4", "return_address_fr")
    assert decision.address_id == str(address)
    assert decision.payer.value == "seller"


def test_cd4_return_address_in_france_refused_without_one(ledger: ReturnsLedger) -> None:
    cd_address(ledger, "CN")
    parcel = return_requested(ledger)
    with pytest.raises(RuleViolationError) as err:
        ledger.route_return(parcel, T0 + 6 * DAY, remedy="return_address_fr")
    assert err.value.rule == "CD-4"


def test_cd4_prepaid_label_needs_the_label_before_receipt(ledger: ReturnsLedger) -> None:
    cd_address(ledger, "CN")
    parcel = return_requested(ledger)
    decision = ledger.route_return(parcel, T0 + 6 * DAY).extra["decision"]
    assert decision.remedy.value == "prepaid_label"
    with pytest.raises(RuleViolationError) as err:
        ledger.receive(parcel, T0 + 12 * DAY)
    assert err.value.rule == "CD-4"
    assert ledger.get_parcel(parcel).status == "returning_to_seller"
    ledger.issue_return_label(parcel, "Colissimo", "COL-1", T0 + 7 * DAY)
    assert ledger.get_parcel_history(parcel)[-1].data["rule"] == "CD-4"
    assert ledger.receive(parcel, T0 + 12 * DAY).status == "received"


def test_cd4_prepaid_label_refused_for_an_address_in_france(ledger: ReturnsLedger) -> None:
    cd_address(ledger, "FR")
    parcel = return_requested(ledger)
    with pytest.raises(RuleViolationError) as err:
        ledger.route_return(parcel, T0 + 6 * DAY, remedy="prepaid_label")
    assert err.value.rule == "CD-4"


def test_cd4_full_refund_without_return_closes_the_parcel(ledger: ReturnsLedger) -> None:
    parcel = return_requested(ledger)
    decision = ledger.route_return(parcel, T0 + 6 * DAY).extra["decision"]
    assert (decision.destination.value, decision.remedy.value) == ("buyer_keeps",
                                                                   "refund_without_return")
    assert decision.facts["full_refund"] == "43.90 EUR"
    ledger.request_refund(parcel, "CD-R-1", [item(eur("39.00")), shipping(eur("4.90"))],
                          T0 + 7 * DAY)
    state = ledger.get_parcel(parcel)
    assert (state.status, state.refunded_total) == ("closed", eur("43.90"))
    assert history_types(ledger, parcel)[-3:] == ["RefundRequested", "RefundIssued",
                                                  "ParcelClosed"]


def test_cd4_partial_refund_without_return_is_refused(ledger: ReturnsLedger) -> None:
    parcel = return_requested(ledger)
    ledger.route_return(parcel, T0 + 6 * DAY, remedy="refund_without_return")
    with pytest.raises(RuleViolationError) as err:
        ledger.request_refund(parcel, "CD-R-1", [item(eur("39.00"))], T0 + 7 * DAY)
    assert err.value.rule == "CD-4"
    assert ledger.get_parcel(parcel).status == "awaiting_refund"


def test_cd4_refund_without_return_cannot_be_closed_unpaid(ledger: ReturnsLedger) -> None:
    parcel = return_requested(ledger)
    ledger.route_return(parcel, T0 + 6 * DAY, remedy="refund_without_return")
    with pytest.raises(RuleViolationError) as err:
        ledger.close_parcel(parcel, T0 + 7 * DAY)
    assert err.value.rule == "CD-4"
    assert ledger.get_parcel(parcel).status == "awaiting_refund"


def test_cd4_unconditional_return_is_owed_a_remedy(ledger: ReturnsLedger) -> None:
    cd_address(ledger, "FR")
    parcel = return_requested(ledger, seller_fault=False, unconditional=True)
    decision = ledger.route_return(parcel, T0 + 6 * DAY).extra["decision"]
    assert decision.facts["remedy_owed"] == "true"
    assert decision.payer.value == "seller"


def test_cd4_buyer_fault_is_owed_no_remedy(ledger: ReturnsLedger) -> None:
    cd_address(ledger, "FR")
    parcel = return_requested(ledger, seller_fault=False)
    decision = ledger.route_return(parcel, T0 + 6 * DAY,
                                   remedy="refund_without_return").extra["decision"]
    assert decision.facts["remedy_owed"] == "false"
    assert decision.remedy is None
    assert decision.payer.value == "buyer"
    assert ledger.get_parcel(parcel).status == "returning_to_seller"


def test_rl1_undeliverable_parcel_goes_back_to_the_sellers_address(ledger: ReturnsLedger) -> None:
    address = cd_address(ledger, "FR")
    parcel = cd_parcel(ledger)
    ledger.record_failed_delivery(parcel, "bad_address", T0 + 3 * DAY)
    decision = ledger.route_return(parcel, T0 + 4 * DAY).extra["decision"]
    assert (decision.rule, decision.payer.value) == ("RL-1", "seller")
    assert decision.address_id == str(address)
    assert decision.facts["delivery_failure_reason"] == "bad_address"
    assert ledger.get_parcel(parcel).status == "returning_to_seller"


def test_cd4_refund_without_return_counts_an_earlier_goodwill_refund(
        ledger: ReturnsLedger) -> None:
    parcel = cd_parcel(ledger)
    ledger.record_delivery(parcel, T0 + 3 * DAY)
    ledger.request_refund(parcel, "GOODWILL", [item(eur("5.00"))], T0 + 4 * DAY)
    ledger.request_return(parcel, "defective", seller_fault=True, occurred_at=T0 + 6 * DAY)
    ledger.route_return(parcel, T0 + 6 * DAY)
    with pytest.raises(RuleViolationError) as err:  # 39 + 4.90 would pay 5 EUR twice
        ledger.request_refund(parcel, "CD-R-1", [item(eur("34.00")), shipping(eur("4.00"))],
                              T0 + 7 * DAY)
    assert err.value.rule == "CD-4"
    ledger.request_refund(parcel, "CD-R-1", [item(eur("34.00")), shipping(eur("4.90"))],
                          T0 + 7 * DAY)
    state = ledger.get_parcel(parcel)
    assert (state.status, state.refunded_total) == ("closed", eur("43.90"))
