"""The parcel's state machine, registration and refund idempotency, across platforms."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

import pytest

from application.ledger import ReturnsLedger
from domain.errors import (
    DuplicateParcelError,
    InvalidValueError,
    ParcelNotFoundError,
    TransitionError,
)
from domain.money import Money
from domain.parcel import ALLOWED
from domain.refunds import RefundReferenceConflictError
from domain.values import TERMINAL, Status
from tests.integration.rules.conftest import (
    DAY,
    T0,
    eur,
    failed_tiktok_parcel,
    item,
    register,
    shipping,
)

LATER = T0 + 60 * DAY

# Every command of the parcel lifecycle, with plausible arguments.
COMMANDS: dict[str, Callable[[ReturnsLedger, UUID], object]] = {
    "record_delivery_attempt": lambda l, p: l.record_delivery_attempt(p, "not home", LATER),
    "record_failed_delivery": lambda l, p: l.record_failed_delivery(p, "refused", LATER),
    "record_delivery": lambda l, p: l.record_delivery(p, LATER),
    "request_return": lambda l, p: l.request_return(p, "defect", True, LATER),
    "route_return": lambda l, p: l.route_return(p, LATER),
    "request_redelivery": lambda l, p: l.request_redelivery(p, LATER),
    "issue_return_label": lambda l, p: l.issue_return_label(p, "DHL", "RET-9", LATER),
    "record_return_failure": lambda l, p: l.record_return_failure(p, "carrier", LATER),
    "receive": lambda l, p: l.receive(p, LATER),
    "inspect": lambda l, p: l.inspect(p, "resellable", LATER),
    "request_refund": lambda l, p: l.request_refund(p, "R-9", [item(Money.of("1.00", "MYR"))],
                                                    LATER),
    "approve_refund": lambda l, p: l.approve_refund(p, "R-9", LATER, actor="finance"),
    "dispose": lambda l, p: l.dispose(p, "destroyed", LATER),
    "close_parcel": lambda l, p: l.close_parcel(p, LATER),
    "open_investigation": lambda l, p: l.open_investigation(p, "false_return", LATER),
    "resolve_investigation": lambda l, p: l.resolve_investigation(p, "x-1", "found",
                                                                  "provider", LATER),
}


def destroyed(ledger: ReturnsLedger) -> UUID:
    parcel = failed_tiktok_parcel(ledger)
    ledger.route_return(parcel, T0 + 6 * DAY)
    ledger.dispose(parcel, "destroyed", T0 + 20 * DAY)
    return parcel


def abandoned(ledger: ReturnsLedger) -> UUID:
    parcel = failed_tiktok_parcel(ledger)
    ledger.route_return(parcel, T0 + 6 * DAY)
    ledger.dispose(parcel, "abandoned", T0 + 20 * DAY)
    return parcel


def closed(ledger: ReturnsLedger) -> UUID:
    parcel = register(ledger, "tiktok_shop")
    ledger.record_delivery(parcel, T0 + 3 * DAY)
    ledger.close_parcel(parcel, T0 + 4 * DAY)
    return parcel


def test_terminal_states_are_the_four_ends_and_no_command_allows_them() -> None:
    assert {Status.DESTROYED, Status.ABANDONED, Status.CLOSED, Status.VOIDED} == TERMINAL
    lifecycle = {name for name in ALLOWED if name in COMMANDS or name == "close"}
    for command in lifecycle:
        assert not ALLOWED[command] & TERMINAL, command


@pytest.mark.parametrize("end", [destroyed, abandoned, closed], ids=lambda f: f.__name__)
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_terminal_state_absorbs_every_command(ledger: ReturnsLedger, end, command: str) -> None:
    parcel = end(ledger)
    before = ledger.get_parcel(parcel)
    with pytest.raises(TransitionError) as err:
        COMMANDS[command](ledger, parcel)
    assert err.value.status == before.status
    assert f"'{before.status}'" in str(err.value)
    assert ledger.get_parcel(parcel) == before


def test_transition_error_names_state_and_command(ledger: ReturnsLedger) -> None:
    parcel = register(ledger, "tiktok_shop")
    with pytest.raises(TransitionError) as err:
        ledger.receive(parcel, T0 + DAY)
    assert (err.value.status, err.value.command) == ("registered", "receive")
    assert "registered" in err.value.detail and "receive" in err.value.detail


def test_inspection_happens_once(ledger: ReturnsLedger) -> None:
    parcel = register(ledger, "amazon", site="DE", currency="EUR")
    ledger.record_delivery(parcel, T0 + DAY)
    ledger.request_return(parcel, "defect", seller_fault=True, occurred_at=T0 + 2 * DAY)
    ledger.route_return(parcel, T0 + 2 * DAY)
    ledger.issue_return_label(parcel, "DHL", "DHL-RET-1", T0 + 2 * DAY)
    ledger.receive(parcel, T0 + 5 * DAY)
    ledger.inspect(parcel, "damaged", T0 + 5 * DAY)
    with pytest.raises(TransitionError):
        ledger.inspect(parcel, "resellable", T0 + 6 * DAY)
    assert ledger.get_parcel(parcel).condition == "damaged"


# -- registration ---------------------------------------------------------------------


def test_duplicate_parcel_same_platform_and_tracking_is_refused(ledger: ReturnsLedger) -> None:
    first = register(ledger, "tiktok_shop", tracking="TRK-DUP")
    with pytest.raises(DuplicateParcelError) as err:
        register(ledger, "tiktok_shop", tracking="TRK-DUP", price="5.00")
    assert err.value.parcel_id == first
    state = ledger.get_parcel(first)
    assert (state.version, state.amount_paid) == (1, Money.of("100.00", "MYR"))
    with pytest.raises(DuplicateParcelError):
        register(ledger, "tiktok_shop", tracking="  TRK-DUP  ")  # the same number, trimmed


def test_same_tracking_on_another_platform_is_another_parcel(ledger: ReturnsLedger) -> None:
    first = register(ledger, "tiktok_shop", tracking="TRK-SAME")
    second = register(ledger, "lazada", tracking="TRK-SAME")
    assert first != second
    assert ledger.find_parcel("TRK-SAME", "lazada").id == second


def test_registration_refuses_mixed_currencies_and_naive_times(ledger: ReturnsLedger) -> None:
    from domain.values import Line

    with pytest.raises(InvalidValueError):
        ledger.register_parcel(
            platform="amazon", site="DE", seller_id="s", order_id="o", order_created_at=T0,
            tracking_number="T-1", lines=[Line("SKU", 1, eur("10.00"))],
            amount_paid=Money.of("10.00", "USD"), occurred_at=T0)
    with pytest.raises(InvalidValueError):
        ledger.register_parcel(
            platform="amazon", site="DE", seller_id="s", order_id="o",
            order_created_at=datetime(2026, 3, 2, 9), tracking_number="T-1",
            lines=[Line("SKU", 1, eur("10.00"))], amount_paid=eur("10.00"), occurred_at=T0)
    with pytest.raises(ParcelNotFoundError):
        ledger.get_parcel(UUID(int=0))


# -- refund idempotency ---------------------------------------------------------------


@pytest.fixture
def delivered(ledger: ReturnsLedger) -> UUID:
    parcel = register(ledger, "cdiscount", site="FR", currency="EUR", shipping_paid="4.90")
    ledger.record_delivery(parcel, T0 + 2 * DAY)
    return parcel


def test_same_refund_reference_and_components_is_the_same_refund(ledger: ReturnsLedger,
                                                                 delivered: UUID) -> None:
    first = ledger.request_refund(delivered, "R-1", [item(eur("10.00")), shipping(eur("4.90"))],
                                  T0 + 3 * DAY)
    events = len(ledger.get_parcel_history(delivered))
    again = ledger.request_refund(delivered, "R-1", [shipping(eur("4.90")), item(eur("10"))],
                                  T0 + 4 * DAY)
    assert again.extra["refund"] == first.extra["refund"]
    assert (again.version, again.position) == (first.version, None)
    assert len(ledger.get_parcel_history(delivered)) == events
    assert ledger.get_parcel(delivered).refunded_total == eur("14.90")


@pytest.mark.parametrize("components", [
    [item(eur("10.01")), shipping(eur("4.90"))],
    [item(eur("10.00"))],
    [item(eur("10.00")), shipping(eur("4.90")), shipping(eur("0.01"))],
    [item(Money.of("10.00", "USD")), shipping(Money.of("4.90", "USD"))],
])
def test_same_refund_reference_with_other_components_is_a_conflict(
        ledger: ReturnsLedger, delivered: UUID, components) -> None:
    ledger.request_refund(delivered, "R-1", [item(eur("10.00")), shipping(eur("4.90"))],
                          T0 + 3 * DAY)
    before = ledger.get_parcel(delivered)
    with pytest.raises(RefundReferenceConflictError) as err:
        ledger.request_refund(delivered, "R-1", components, T0 + 4 * DAY)
    assert err.value.reference == "R-1"
    assert ledger.get_parcel(delivered) == before
