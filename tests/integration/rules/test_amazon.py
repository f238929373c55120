"""Amazon seller-fulfilled returns: AM-1 flow, AM-2 who pays, AM-3 cap, AM-4 four eyes."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

import pytest

from application.ledger import ReturnsLedger
from domain.errors import RuleViolationError, TransitionError
from domain.money import Money
from domain.refunds import RefundNotFoundError
from tests.integration.rules.conftest import (
    DAY,
    T0,
    eur,
    history_types,
    item,
    register,
    return_shipping,
    shipping,
)


def amazon_parcel(ledger: ReturnsLedger, price: str = "100.00", currency: str = "EUR",
                  tracking: str = "AM-1") -> UUID:
    parcel = register(ledger, "amazon", site="DE", currency=currency, price=price,
                      shipping_paid="5.00" if currency == "EUR" else None, tracking=tracking)
    ledger.record_delivery(parcel, T0 + 2 * DAY)
    return parcel


def returned(ledger: ReturnsLedger, parcel: UUID, seller_fault: bool,
             cost: Money | None = None, inspect: bool = True) -> UUID:
    """Requested, confirmed, labelled, received and (by default) inspected."""
    ledger.request_return(parcel, "arrived damaged" if seller_fault else "changed mind",
                          seller_fault=seller_fault, return_shipping_cost=cost,
                          occurred_at=T0 + 5 * DAY)
    ledger.route_return(parcel, T0 + 5 * DAY)
    ledger.issue_return_label(parcel, "DHL", "DHL-RET-1", T0 + 5 * DAY)
    ledger.receive(parcel, T0 + 9 * DAY)
    if inspect:
        ledger.inspect(parcel, "damaged" if seller_fault else "resellable", T0 + 9 * DAY)
    return parcel


@pytest.fixture
def parcel(ledger: ReturnsLedger) -> UUID:
    return amazon_parcel(ledger)


# -- AM-1 return flow ---------------------------------------------------------------


def test_am1_full_flow_in_order(ledger: ReturnsLedger, parcel: UUID) -> None:
    returned(ledger, parcel, seller_fault=False)
    ledger.request_refund(parcel, "R-1", [item(eur("100.00"))], T0 + 10 * DAY)
    ledger.close_parcel(parcel, T0 + 11 * DAY)
    assert history_types(ledger, parcel) == [
        "ParcelRegistered", "Delivered", "ReturnRequested", "ReturnRouted",
        "ReturnLabelIssued", "Received", "Inspected", "RefundRequested", "RefundIssued",
        "ParcelClosed"]
    state = ledger.get_parcel(parcel)
    assert (state.condition, state.restock) == ("resellable", True)


def test_am1_undeliverable_parcel_comes_back_to_the_seller_at_its_cost(
        ledger: ReturnsLedger) -> None:
    parcel = register(ledger, "amazon", site="DE", currency="EUR", tracking="AM-2")
    ledger.record_failed_delivery(parcel, "refused", T0 + 2 * DAY)
    decision = ledger.route_return(parcel, T0 + 3 * DAY).extra["decision"]
    assert (decision.rule, decision.payer.value) == ("RL-1", "seller")
    ledger.receive(parcel, T0 + 8 * DAY)  # no buyer return: no label needed
    assert ledger.get_parcel(parcel).status == "received"


def test_am1_return_must_be_requested_before_it_is_confirmed(ledger: ReturnsLedger,
                                                             parcel: UUID) -> None:
    with pytest.raises(TransitionError):
        ledger.route_return(parcel, T0 + 3 * DAY)  # delivered, no return requested


def test_am1_item_comes_back_only_on_the_sellers_label(ledger: ReturnsLedger,
                                                       parcel: UUID) -> None:
    ledger.request_return(parcel, "changed mind", seller_fault=False, occurred_at=T0 + 5 * DAY)
    ledger.route_return(parcel, T0 + 5 * DAY)
    version = ledger.get_parcel(parcel).version
    with pytest.raises(RuleViolationError) as err:
        ledger.receive(parcel, T0 + 9 * DAY)
    assert err.value.rule == "AM-1"
    assert ledger.get_parcel(parcel).version == version


@pytest.mark.parametrize("step", ["requested", "routed", "received"])
def test_am1_refund_before_inspection_is_refused(ledger: ReturnsLedger, parcel: UUID,
                                                 step: str) -> None:
    ledger.request_return(parcel, "changed mind", seller_fault=False, occurred_at=T0 + 5 * DAY)
    if step in ("routed", "received"):
        ledger.route_return(parcel, T0 + 5 * DAY)
        ledger.issue_return_label(parcel, "DHL", "DHL-RET-1", T0 + 5 * DAY)
    if step == "received":
        ledger.receive(parcel, T0 + 9 * DAY)
    version = ledger.get_parcel(parcel).version
    with pytest.raises(RuleViolationError) as err:
        ledger.request_refund(parcel, "R-1", [item(eur("10.00"))], T0 + 9 * DAY)
    assert err.value.rule == "AM-1"
    assert ledger.get_parcel(parcel).version == version


def test_am1_label_is_issued_once(ledger: ReturnsLedger, parcel: UUID) -> None:
    ledger.request_return(parcel, "changed mind", seller_fault=False, occurred_at=T0 + 5 * DAY)
    ledger.route_return(parcel, T0 + 5 * DAY)
    ledger.issue_return_label(parcel, "DHL", "DHL-RET-1", T0 + 5 * DAY)
    with pytest.raises(RuleViolationError) as err:
        ledger.issue_return_label(parcel, "UPS", "UPS-RET-2", T0 + 6 * DAY)
    assert err.value.rule == "AM-1"
    assert ledger.get_parcel(parcel).label_tracking_number == "DHL-RET-1"


# -- AM-2 who pays return shipping ---------------------------------------------------


def test_am2_seller_fault_seller_pays_and_return_shipping_is_refunded(
        ledger: ReturnsLedger, parcel: UUID) -> None:
    returned(ledger, parcel, seller_fault=True, cost=eur("7.50"))
    assert ledger.get_parcel(parcel).payer == "seller"
    ledger.request_refund(parcel, "R-1", [item(eur("100.00")), return_shipping(eur("7.50"))],
                          T0 + 10 * DAY)
    assert ledger.get_parcel(parcel).refunded_total == eur("107.50")


def test_am2_buyer_reason_buyer_pays_and_return_shipping_is_refused(
        ledger: ReturnsLedger, parcel: UUID) -> None:
    returned(ledger, parcel, seller_fault=False, cost=eur("7.50"))
    routed = [e for e in ledger.get_parcel_history(parcel) if e.type == "ReturnRouted"][0]
    assert (routed.data["payer"], routed.data["rule"]) == ("buyer", "AM-2")
    with pytest.raises(RuleViolationError) as err:
        ledger.request_refund(parcel, "R-1", [item(eur("100.00")),
                                              return_shipping(eur("7.50"))], T0 + 10 * DAY)
    assert err.value.rule == "AM-2"
    assert ledger.get_parcel(parcel).refunds == []


# -- AM-3 never more than paid --------------------------------------------------------


def test_am3_refund_up_to_what_was_paid_per_component(ledger: ReturnsLedger,
                                                     parcel: UUID) -> None:
    returned(ledger, parcel, seller_fault=True, cost=eur("7.50"))
    ledger.request_refund(parcel, "R-1", [item(eur("100.00")), shipping(eur("5.00")),
                                          return_shipping(eur("7.50"))], T0 + 10 * DAY)
    assert ledger.get_parcel(parcel).refunded_total == eur("112.50")


@pytest.mark.parametrize(("component", "kind"), [
    (item(eur("100.01")), "item"), (shipping(eur("5.01")), "shipping"),
    (return_shipping(eur("7.51")), "return_shipping")])
def test_am3_refund_above_a_component_paid_is_refused(ledger: ReturnsLedger, parcel: UUID,
                                                      component, kind: str) -> None:
    returned(ledger, parcel, seller_fault=True, cost=eur("7.50"))
    with pytest.raises(RuleViolationError) as err:
        ledger.request_refund(parcel, "R-1", [component], T0 + 10 * DAY)
    assert err.value.rule == "AM-3"
    assert err.value.facts["kind"] == kind


def test_am3_cap_is_cumulative_over_refunds(ledger: ReturnsLedger, parcel: UUID) -> None:
    returned(ledger, parcel, seller_fault=False)
    ledger.request_refund(parcel, "R-1", [item(eur("60.00"))], T0 + 10 * DAY)
    ledger.request_refund(parcel, "R-2", [item(eur("40.00"))], T0 + 11 * DAY)
    with pytest.raises(RuleViolationError) as err:
        ledger.request_refund(parcel, "R-3", [item(eur("0.01"))], T0 + 12 * DAY)
    assert err.value.rule == "AM-3"
    assert err.value.facts["already_refunded"] == "100.00 EUR"
    assert ledger.get_parcel(parcel).refunded_total == eur("100.00")


def test_am3_pending_refunds_count_against_the_cap(ledger: ReturnsLedger) -> None:
    parcel = amazon_parcel(ledger, price="900.00")
    returned(ledger, parcel, seller_fault=False)
    ledger.request_refund(parcel, "R-1", [item(eur("800.00"))], T0 + 10 * DAY, actor="clerk")
    assert ledger.get_parcel(parcel).refunded_total == eur("0.00")  # waits for approval
    with pytest.raises(RuleViolationError) as err:
        ledger.request_refund(parcel, "R-2", [item(eur("100.01"))], T0 + 10 * DAY)
    assert err.value.rule == "AM-3"
    ledger.request_refund(parcel, "R-3", [item(eur("100.00"))], T0 + 10 * DAY)


def test_am3_refund_in_another_currency_is_refused(ledger: ReturnsLedger, parcel: UUID) -> None:
    returned(ledger, parcel, seller_fault=False)
    from domain.errors import InvalidValueError

    with pytest.raises(InvalidValueError):
        ledger.request_refund(parcel, "R-1", [item(Money.of("10.00", "USD"))], T0 + 10 * DAY)


# -- AM-4 large refunds ---------------------------------------------------------------


@pytest.mark.parametrize(("currency", "threshold", "above"), [
    ("EUR", "500.00", "500.01"), ("JPY", "80000", "80001"), ("MYR", "2500.00", "2500.01")])
def test_am4_threshold_is_per_currency(ledger: ReturnsLedger, currency: str, threshold: str,
                                       above: str) -> None:
    parcel = amazon_parcel(ledger, price="1000000", currency=currency)
    returned(ledger, parcel, seller_fault=False)
    at = ledger.request_refund(parcel, "R-1", [item(Money.of(threshold, currency))],
                               T0 + 10 * DAY).extra["refund"]
    assert (at.status, at.needs_approval) == ("issued", False)
    over = ledger.request_refund(parcel, "R-2", [item(Money.of(above, currency))],
                                 T0 + 10 * DAY, actor="clerk").extra["refund"]
    assert (over.status, over.needs_approval) == ("requested", True)
    requested = ledger.get_parcel_history(parcel)[-1]
    assert requested.data["rule"] == "AM-4"
    assert Decimal(requested.data["facts"]["threshold"]) == Decimal(threshold)


def test_am4_same_actor_cannot_approve_own_refund(ledger: ReturnsLedger) -> None:
    parcel = amazon_parcel(ledger, price="899.00")
    returned(ledger, parcel, seller_fault=False)
    ledger.request_refund(parcel, "R-1", [item(eur("899.00"))], T0 + 10 * DAY, actor="clerk")
    with pytest.raises(RuleViolationError) as err:
        ledger.approve_refund(parcel, "R-1", T0 + 10 * DAY, actor="clerk")
    assert err.value.rule == "AM-4"
    state = ledger.get_parcel(parcel)
    assert state.refunds[0].status == "requested"
    assert state.refunded_total == eur("0.00")
    with pytest.raises(RuleViolationError) as err:
        ledger.close_parcel(parcel, T0 + 11 * DAY)  # a pending refund keeps it open
    assert err.value.rule == "AM-4"


def test_am4_other_actor_approves_and_refund_is_issued(ledger: ReturnsLedger) -> None:
    parcel = amazon_parcel(ledger, price="899.00")
    returned(ledger, parcel, seller_fault=False)
    ledger.request_refund(parcel, "R-1", [item(eur("899.00"))], T0 + 10 * DAY, actor="clerk")
    refund = ledger.approve_refund(parcel, "R-1", T0 + 11 * DAY,
                                   actor="finance-lead").extra["refund"]
    assert (refund.status, refund.approved_by) == ("issued", "finance-lead")
    assert ledger.get_parcel(parcel).refunded_total == eur("899.00")
    assert history_types(ledger, parcel)[-3:] == ["RefundRequested", "RefundApproved",
                                                  "RefundIssued"]
    with pytest.raises(RuleViolationError) as err:  # approved once, not twice
        ledger.approve_refund(parcel, "R-1", T0 + 12 * DAY, actor="auditor")
    assert err.value.rule == "AM-4"


def test_am4_small_refund_needs_no_approval(ledger: ReturnsLedger, parcel: UUID) -> None:
    returned(ledger, parcel, seller_fault=False)
    ledger.request_refund(parcel, "R-1", [item(eur("10.00"))], T0 + 10 * DAY, actor="clerk")
    with pytest.raises(RuleViolationError) as err:
        ledger.approve_refund(parcel, "R-1", T0 + 10 * DAY, actor="finance-lead")
    assert err.value.rule == "AM-4"
    with pytest.raises(RefundNotFoundError):
        ledger.approve_refund(parcel, "R-404", T0 + 10 * DAY, actor="finance-lead")


def test_am4_splitting_a_large_refund_does_not_avoid_the_review(ledger: ReturnsLedger) -> None:
    parcel = amazon_parcel(ledger, price="899.00")
    returned(ledger, parcel, seller_fault=False)
    first = ledger.request_refund(parcel, "R-1", [item(eur("450.00"))], T0 + 10 * DAY,
                                  actor="clerk").extra["refund"]
    assert (first.status, first.needs_approval) == ("issued", False)
    second = ledger.request_refund(parcel, "R-2", [item(eur("449.00"))], T0 + 10 * DAY,
                                   actor="clerk").extra["refund"]
    assert (second.status, second.needs_approval) == ("requested", True)
    facts = ledger.get_parcel_history(parcel)[-1].data["facts"]
    assert (facts["refunds_before"], facts["cumulative"]) == ("450.00", "899.00")
