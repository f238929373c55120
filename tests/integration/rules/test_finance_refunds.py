"""The refund lifecycle: requested -> approved -> issued, or rejected, failed, reversed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from application.ledger import ReturnsLedger
from domain.errors import RuleViolationError
from domain.money import Money
from domain.refunds import RefundNotFoundError
from domain.values import Line, RefundComponent

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


def item(amount: str) -> list[RefundComponent]:
    return [RefundComponent("item", eur(amount))]


@pytest.fixture
def received(ledger: ReturnsLedger) -> UUID:
    """An Amazon parcel of 900 EUR (+10 shipping), returned by the seller's fault, inspected."""
    parcel = ledger.register_parcel(
        platform="amazon", site="DE", seller_id="seller-1", order_id="AM-1",
        order_created_at=T0, tracking_number="AMDE-1",
        lines=[Line("SKU-1", 1, eur("900.00"))], amount_paid=eur("900.00"),
        shipping_paid=eur("10.00"), occurred_at=T0).id
    ledger.record_delivery(parcel, T0 + DAY)
    ledger.request_return(parcel, "broken", seller_fault=True, occurred_at=T0 + 2 * DAY,
                          return_shipping_cost=eur("7.50"))
    ledger.route_return(parcel, T0 + 2 * DAY)
    ledger.issue_return_label(parcel, "DHL", "DHL-RET-1", T0 + 2 * DAY)
    ledger.receive(parcel, T0 + 5 * DAY)
    ledger.inspect(parcel, "damaged", T0 + 5 * DAY)
    return parcel


def refund_of(ledger: ReturnsLedger, parcel: UUID, reference: str):
    return next(r for r in ledger.get_parcel(parcel).refunds if r.reference == reference)


def types(ledger: ReturnsLedger, parcel: UUID) -> list[str]:
    return [e.type for e in ledger.get_parcel_history(parcel)]


def test_am4_large_refund_waits_then_is_approved_and_issued_with_actors(ledger, received):
    ledger.request_refund(received, "R-1", item("600.00"), T0 + 6 * DAY, actor="clerk")
    assert refund_of(ledger, received, "R-1").status == "requested"
    ledger.approve_refund(received, "R-1", T0 + 7 * DAY, actor="finance-lead")
    refund = refund_of(ledger, received, "R-1")
    assert (refund.status, refund.requested_by, refund.approved_by, refund.issued_by) == (
        "issued", "clerk", "finance-lead", "finance-lead")
    assert refund.issued_at == T0 + 7 * DAY
    assert types(ledger, received)[-3:] == ["RefundRequested", "RefundApproved", "RefundIssued"]


def test_am4_rejected_refund_releases_its_amount_and_names_the_rule(ledger, received):
    ledger.request_refund(received, "R-1", item("900.00"), T0 + 6 * DAY, actor="clerk")
    with pytest.raises(RuleViolationError) as err:
        ledger.request_refund(received, "R-2", item("1.00"), T0 + 6 * DAY, actor="clerk")
    assert err.value.rule == "AM-3"  # the pending 900 counts against the cap
    ledger.reject_refund(received, "R-1", "no proof of damage", T0 + 7 * DAY,
                         actor="finance-lead")
    refund = refund_of(ledger, received, "R-1")
    assert (refund.status, refund.released_by, refund.reason) == (
        "rejected", "finance-lead", "no proof of damage")
    history = ledger.get_parcel_history(received)
    assert history[-1].type == "RefundRejected" and history[-1].data["rule"] == "AM-4"
    ledger.request_refund(received, "R-2", item("400.00"), T0 + 8 * DAY, actor="clerk")
    assert str(ledger.get_parcel(received).refunded_total) == "400.00 EUR"


def test_am4_a_refund_issued_at_once_cannot_be_rejected(ledger, received):
    ledger.request_refund(received, "R-1", item("100.00"), T0 + 6 * DAY)
    with pytest.raises(RuleViolationError) as err:
        ledger.reject_refund(received, "R-1", "too late", T0 + 7 * DAY, actor="finance")
    assert err.value.rule == "AM-4" and err.value.facts["status"] == "issued"


def test_am3_failed_payment_releases_the_amount_for_a_new_refund(ledger, received):
    ledger.request_refund(received, "R-1", item("400.00"), T0 + 6 * DAY)
    ledger.record_refund_failure(received, "R-1", "card expired", T0 + 7 * DAY, actor="psp")
    state = ledger.get_parcel(received)
    assert str(state.refunded_total) == "0.00 EUR"
    assert refund_of(ledger, received, "R-1").status == "failed"
    ledger.request_refund(received, "R-2", item("400.00"), T0 + 8 * DAY)
    # The failed 400 is free again for AM-3, but it did leave once: with R-2 it takes
    # the parcel above the AM-4 threshold, so R-2 waits for a second person.
    assert refund_of(ledger, received, "R-2").status == "requested"
    ledger.approve_refund(received, "R-2", T0 + 8 * DAY, actor="finance-lead")
    ledger.request_refund(received, "R-3", item("400.00"), T0 + 8 * DAY, actor="clerk")
    # Together with R-2 above the AM-4 threshold: R-3 waits for a second person.
    assert refund_of(ledger, received, "R-3").status == "requested"
    ledger.approve_refund(received, "R-3", T0 + 8 * DAY, actor="finance-lead")
    assert str(ledger.get_parcel(received).refunded_total) == "800.00 EUR"


def test_am3_reversed_refund_returns_to_the_cap_per_component(ledger, received):
    ledger.request_refund(received, "R-1", [RefundComponent("shipping", eur("10.00"))],
                          T0 + 6 * DAY)
    with pytest.raises(RuleViolationError) as err:
        ledger.request_refund(received, "R-2", [RefundComponent("shipping", eur("0.01"))],
                              T0 + 6 * DAY)
    assert err.value.rule == "AM-3" and err.value.facts["kind"] == "shipping"
    ledger.reverse_refund(received, "R-1", "charged back", T0 + 9 * DAY, actor="finance")
    history = ledger.get_parcel_history(received)
    assert history[-1].type == "RefundReversed" and history[-1].data["rule"] == "AM-3"
    assert history[-1].data["amount"] == {"amount": "10.00", "currency": "EUR"}
    ledger.request_refund(received, "R-2", [RefundComponent("shipping", eur("10.00"))],
                          T0 + 10 * DAY)
    assert str(ledger.get_parcel(received).refunded_total) == "10.00 EUR"


def test_am3_only_an_issued_refund_fails_or_is_reversed(ledger, received):
    ledger.request_refund(received, "R-1", item("600.00"), T0 + 6 * DAY, actor="clerk")
    for command in (ledger.record_refund_failure, ledger.reverse_refund):
        with pytest.raises(RuleViolationError) as err:
            command(received, "R-1", "?", T0 + 7 * DAY, actor="finance")
        assert err.value.rule == "AM-3" and err.value.facts["status"] == "requested"


def test_release_is_idempotent_and_a_failed_refund_is_not_reversed(ledger, received):
    ledger.request_refund(received, "R-1", item("100.00"), T0 + 6 * DAY)
    first = ledger.record_refund_failure(received, "R-1", "bounced", T0 + 7 * DAY,
                                         actor="finance")
    again = ledger.record_refund_failure(received, "R-1", "bounced", T0 + 7 * DAY,
                                         actor="finance")
    assert again.version == first.version  # nothing recorded twice
    with pytest.raises(RuleViolationError):
        ledger.reverse_refund(received, "R-1", "chargeback", T0 + 8 * DAY)


def test_unknown_reference_is_not_found(ledger, received):
    with pytest.raises(RefundNotFoundError):
        ledger.reverse_refund(received, "NOPE", "chargeback", T0 + 8 * DAY)


def test_cd4_chargeback_is_recorded_after_the_parcel_closed(ledger):
    parcel = ledger.register_parcel(
        platform="cdiscount", site="FR", seller_id="seller-cd", order_id="CD-1",
        order_created_at=T0, tracking_number="CDFR-1", tracking_url="https://t.example/1",
        lines=[Line("SKU-K", 1, eur("39.00"))], amount_paid=eur("39.00"),
        shipping_paid=eur("4.90"), occurred_at=T0).id
    ledger.record_delivery(parcel, T0 + DAY)
    ledger.request_return(parcel, "defective", seller_fault=True, occurred_at=T0 + 2 * DAY)
    ledger.route_return(parcel, T0 + 2 * DAY)
    ledger.request_refund(parcel, "CD-R-1", [RefundComponent("item", eur("39.00")),
                                             RefundComponent("shipping", eur("4.90"))],
                          T0 + 3 * DAY)
    assert ledger.get_parcel(parcel).status == "closed"  # CD-4: full refund without return
    ledger.reverse_refund(parcel, "CD-R-1", "charged back", T0 + 20 * DAY, actor="finance")
    state = ledger.get_parcel(parcel)
    assert (state.status, str(state.refunded_total)) == ("closed", "0.00 EUR")


@pytest.mark.parametrize("ledger_env", ["sqlite"], indirect=True)  # a second ledger reads it
def test_replayed_parcel_keeps_the_refund_lifecycle(ledger_env, received, ledger):
    ledger.request_refund(received, "R-1", item("600.00"), T0 + 6 * DAY, actor="clerk")
    ledger.reject_refund(received, "R-1", "no", T0 + 7 * DAY, actor="finance")
    ledger.request_refund(received, "R-2", item("100.00"), T0 + 8 * DAY)
    ledger.reverse_refund(received, "R-2", "chargeback", T0 + 9 * DAY, actor="finance")
    again = ReturnsLedger(ledger_env)
    assert again.get_parcel(received) == ledger.get_parcel(received)
    again.close()


def cd4_awaiting_refund(ledger) -> UUID:
    parcel = ledger.register_parcel(
        platform="cdiscount", site="FR", seller_id="seller-cd", order_id="CD-2",
        order_created_at=T0, tracking_number="CDFR-2", tracking_url="https://t.example/2",
        lines=[Line("SKU-K", 1, eur("39.00"))], amount_paid=eur("39.00"),
        shipping_paid=eur("4.90"), occurred_at=T0).id
    ledger.record_delivery(parcel, T0 + DAY)
    ledger.request_return(parcel, "defective", seller_fault=True, occurred_at=T0 + 2 * DAY)
    ledger.route_return(parcel, T0 + 2 * DAY)  # no address: refund without return (CD-4)
    assert ledger.get_parcel(parcel).status == "awaiting_refund"
    return parcel


FULL_CD4 = [RefundComponent("item", eur("39.00")), RefundComponent("shipping", eur("4.90"))]


def test_cd4_refund_retry_after_the_refund_closed_the_parcel_answers_the_same_refund(ledger):
    parcel = cd4_awaiting_refund(ledger)
    first = ledger.request_refund(parcel, "CD-R-2", FULL_CD4, T0 + 3 * DAY, actor="clerk")
    assert first.status == "closed"
    again = ledger.request_refund(parcel, "CD-R-2", FULL_CD4, T0 + 4 * DAY, actor="clerk")
    assert (again.version, again.status) == (first.version, "closed")
    assert again.extra["refund"] == first.extra["refund"]
    assert types(ledger, parcel).count("RefundIssued") == 1


def test_am4_approval_retry_after_the_parcel_closed_answers_the_same_refund(ledger_env):
    small = ReturnsLedger({**ledger_env, "LARGE_REFUND_THRESHOLD_EUR": "10"})
    try:
        parcel = cd4_awaiting_refund(small)
        small.request_refund(parcel, "CD-R-3", FULL_CD4, T0 + 3 * DAY, actor="clerk")
        approved = small.approve_refund(parcel, "CD-R-3", T0 + 4 * DAY, actor="finance-lead")
        assert approved.status == "closed"
        again = small.approve_refund(parcel, "CD-R-3", T0 + 5 * DAY, actor="finance-lead")
        assert (again.version, again.extra["refund"].status) == (approved.version, "issued")
    finally:
        small.close()
