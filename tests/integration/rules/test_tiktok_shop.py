"""TikTok Shop failed deliveries: TT-1 .. TT-7."""

from __future__ import annotations

from uuid import UUID

import pytest

from application.ledger import ReturnsLedger
from domain.errors import RuleViolationError, TransitionError
from tests.integration.rules.conftest import (
    DAY,
    HOUR,
    T0,
    USEC,
    failed_tiktok_parcel,
    history_types,
    register,
    tiktok_address,
)

# -- TT-1 eligibility ---------------------------------------------------------------


def test_tt1_address_effective_before_order_is_eligible(ledger: ReturnsLedger) -> None:
    address = tiktok_address(ledger, registered_at=T0 - DAY)
    parcel = failed_tiktok_parcel(ledger)
    decision = ledger.route_return(parcel, T0 + 6 * DAY).extra["decision"]
    assert decision.destination.value == "seller_overseas_address"
    assert decision.address_id == str(address)
    assert decision.facts["address_id"] == str(address)
    state = ledger.get_parcel(parcel)
    assert state.status == "returning_to_seller"
    assert state.address_id == str(address)


def test_tt1_address_effective_exactly_at_order_creation_is_not_eligible(
        ledger: ReturnsLedger) -> None:
    tiktok_address(ledger, registered_at=T0 - DAY, effective_from=T0)
    parcel = failed_tiktok_parcel(ledger)
    decision = ledger.route_return(parcel, T0 + 6 * DAY).extra["decision"]
    assert decision.rule == "TT-2"
    assert decision.destination.value == "provider_warehouse"
    assert "at or after order creation" in decision.facts["ineligible_because"]


def test_tt1_address_effective_one_microsecond_before_order_is_eligible(
        ledger: ReturnsLedger) -> None:
    tiktok_address(ledger, registered_at=T0 - USEC)
    parcel = failed_tiktok_parcel(ledger)
    assert ledger.route_return(parcel, T0 + 6 * DAY).status == "returning_to_seller"


def test_tt1_address_registered_exactly_at_order_creation_is_not_eligible(
        ledger: ReturnsLedger) -> None:
    tiktok_address(ledger, registered_at=T0, effective_from=T0 - DAY)
    parcel = failed_tiktok_parcel(ledger)
    assert ledger.route_return(parcel, T0 + 6 * DAY).status == "held_at_warehouse"


def test_tt1_address_registered_after_order_does_not_help(ledger: ReturnsLedger) -> None:
    # Registered after the order, before the failure: still not for this order.
    tiktok_address(ledger, registered_at=T0 + HOUR)
    parcel = failed_tiktok_parcel(ledger, failed_at=T0 + 5 * DAY)
    decision = ledger.route_return(parcel, T0 + 6 * DAY).extra["decision"]
    assert decision.rule == "TT-2"
    assert decision.free_return is False
    assert ledger.get_parcel(parcel).status == "held_at_warehouse"


def test_tt1_eligibility_uses_business_time_not_recording_time(ledger: ReturnsLedger) -> None:
    # The ledger learns of the parcel first and of the (older) address afterwards:
    # the address was registered on the platform before the order, so it counts.
    parcel = failed_tiktok_parcel(ledger)
    tiktok_address(ledger, registered_at=T0 - 10 * DAY)
    assert ledger.route_return(parcel, T0 + 6 * DAY).status == "returning_to_seller"


def test_tt1_address_in_another_country_is_not_eligible(ledger: ReturnsLedger) -> None:
    tiktok_address(ledger, registered_at=T0 - 30 * DAY, country="TH")
    parcel = failed_tiktok_parcel(ledger)
    decision = ledger.route_return(parcel, T0 + 6 * DAY).extra["decision"]
    assert decision.rule == "TT-2"
    assert "MY" in decision.facts["ineligible_because"]


def test_tt1_only_a_failed_delivery_is_routed(ledger: ReturnsLedger) -> None:
    tiktok_address(ledger, registered_at=T0 - DAY)
    parcel = register(ledger, "tiktok_shop")
    with pytest.raises(TransitionError):
        ledger.route_return(parcel, T0 + 6 * DAY)
    ledger.request_return(parcel, "changed mind", seller_fault=False, occurred_at=T0 + DAY)
    with pytest.raises(RuleViolationError) as err:
        ledger.route_return(parcel, T0 + 6 * DAY)
    assert err.value.rule == "TT-1"


# -- TT-2 warehouse hold ------------------------------------------------------------


def test_tt2_ineligible_parcel_is_held_fourteen_days(ledger: ReturnsLedger,
                                                    held_parcel: UUID) -> None:
    state = ledger.get_parcel(held_parcel)
    assert state.status == "held_at_warehouse"
    assert state.hold_until == T0 + 6 * DAY + 14 * DAY
    assert history_types(ledger, held_parcel)[-2:] == ["ReturnRouted", "HeldAtWarehouse"]


def test_tt2_disposal_at_hold_until_is_allowed(ledger: ReturnsLedger, held_parcel: UUID) -> None:
    hold_until = ledger.get_parcel(held_parcel).hold_until
    assert ledger.dispose(held_parcel, "destroyed", hold_until).status == "destroyed"
    assert ledger.get_parcel(held_parcel).liability == "seller"


def test_tt2_disposal_one_microsecond_before_hold_until_is_refused(
        ledger: ReturnsLedger, held_parcel: UUID) -> None:
    hold_until = ledger.get_parcel(held_parcel).hold_until
    with pytest.raises(RuleViolationError) as err:
        ledger.dispose(held_parcel, "abandoned", hold_until - USEC)
    assert err.value.rule == "TT-2"
    assert ledger.get_parcel(held_parcel).status == "held_at_warehouse"


def test_tt2_redelivery_inside_hold_is_allowed_and_paid_by_platform(
        ledger: ReturnsLedger, held_parcel: UUID) -> None:
    hold_until = ledger.get_parcel(held_parcel).hold_until
    assert ledger.request_redelivery(held_parcel, hold_until - USEC).status == "redelivering"
    requested = ledger.get_parcel_history(held_parcel)[-1]
    assert requested.type == "RedeliveryRequested"
    assert requested.data["payer"] == "platform"
    assert requested.data["rule"] == "TT-2"
    assert ledger.record_delivery(held_parcel, hold_until + DAY).status == "delivered"
    assert ledger.get_parcel(held_parcel).hold_until is None


def test_tt2_redelivery_at_hold_until_is_refused(ledger: ReturnsLedger,
                                                 held_parcel: UUID) -> None:
    hold_until = ledger.get_parcel(held_parcel).hold_until
    with pytest.raises(RuleViolationError) as err:
        ledger.request_redelivery(held_parcel, hold_until)
    assert err.value.rule == "TT-2"
    assert ledger.get_parcel(held_parcel).status == "held_at_warehouse"


# -- TT-3 one free return -----------------------------------------------------------


def test_tt3_first_return_is_free_and_platform_pays(ledger: ReturnsLedger,
                                                   tiktok_eligible: UUID) -> None:
    decision = ledger.route_return(tiktok_eligible, T0 + 6 * DAY).extra["decision"]
    assert (decision.rule, decision.free_return, decision.payer.value) == ("TT-3", True,
                                                                           "platform")
    state = ledger.get_parcel(tiktok_eligible)
    assert state.free_return_used is True
    # The return keeps the parcel and its order number; tracking shows "returning".
    assert state.order_id == "ORDER-TRK-1"
    assert state.status == "returning_to_seller"


def test_tt3_aggregate_refuses_a_second_free_return_decision(ledger: ReturnsLedger,
                                                             returning_parcel: UUID) -> None:
    from domain.policies.base import RouteDecision
    from domain.values import Destination, Party

    parcel = ledger.repository.get(returning_parcel)
    parcel.record_return_failure("carrier", ledger.policies.for_platform("tiktok_shop"),
                                 T0 + 8 * DAY)
    free_again = RouteDecision(Destination.SELLER_OVERSEAS, "TT-3", True, Party.PLATFORM, {})
    with pytest.raises(RuleViolationError) as err:
        parcel.route_return(free_again, T0 + 9 * DAY)
    assert err.value.rule == "TT-3"


def test_tt3_policy_gives_a_seller_paid_return_once_the_free_one_is_used(
        ledger: ReturnsLedger, tiktok_eligible: UUID) -> None:
    from dataclasses import replace

    policy = ledger.policies.for_platform("tiktok_shop")
    parcel = ledger.repository.get(tiktok_eligible)
    addresses = [a.facts() for a in ledger._addresses_of("seller-1")]
    facts = replace(parcel.facts(), free_return_used=True)
    decision = policy.route(facts, addresses, T0 + 6 * DAY)
    assert (decision.rule, decision.free_return, decision.payer.value) == ("TT-1", False,
                                                                           "seller")
    assert decision.facts["free_return_used_before"] == "true"


def test_tt3_a_failed_free_return_gets_no_second_return(ledger: ReturnsLedger,
                                                        returning_parcel: UUID) -> None:
    ledger.record_return_failure(returning_parcel, "carrier", T0 + 8 * DAY)
    decision = ledger.route_return(returning_parcel, T0 + 9 * DAY).extra["decision"]
    assert (decision.rule, decision.free_return) == ("TT-5", False)  # to its end (TT-5)
    with pytest.raises(TransitionError):
        ledger.request_redelivery(returning_parcel, T0 + 10 * DAY)
    with pytest.raises(TransitionError):
        ledger.route_return(returning_parcel, T0 + 10 * DAY)
    free = [e for e in ledger.get_parcel_history(returning_parcel)
            if e.type == "ReturnRouted" and e.data["free_return"]]
    assert len(free) == 1


# -- TT-4 no redelivery once returning -----------------------------------------------


def test_tt4_no_redelivery_once_returning(ledger: ReturnsLedger, returning_parcel: UUID) -> None:
    version = ledger.get_parcel(returning_parcel).version
    with pytest.raises(RuleViolationError) as err:
        ledger.request_redelivery(returning_parcel, occurred_at=T0 + 7 * DAY)
    assert err.value.rule == "TT-4"
    assert ledger.get_parcel(returning_parcel).version == version


def test_tt4_redelivery_is_allowed_while_held_not_returning(ledger: ReturnsLedger,
                                                           held_parcel: UUID) -> None:
    assert ledger.request_redelivery(held_parcel, T0 + 7 * DAY).status == "redelivering"


# -- TT-5 failed return -------------------------------------------------------------


@pytest.mark.parametrize("cause", ["seller_unreachable", "wrong_address"])
def test_tt5_seller_fault_failure_is_the_sellers_loss_and_refuses_a_ticket(
        ledger: ReturnsLedger, returning_parcel: UUID, cause: str) -> None:
    ledger.record_return_failure(returning_parcel, cause, T0 + 8 * DAY)
    state = ledger.get_parcel(returning_parcel)
    assert (state.status, state.liability) == ("return_failed", "seller")
    failed = ledger.get_parcel_history(returning_parcel)[-1]
    assert failed.data["rule"] == "TT-5"
    assert failed.data["facts"]["ticket_allowed"] == "false"
    with pytest.raises(RuleViolationError) as err:
        ledger.open_investigation(returning_parcel, "failed_return", T0 + 9 * DAY)
    assert err.value.rule == "TT-5"


@pytest.mark.parametrize("cause", ["carrier", "other"])
def test_tt5_other_failure_allows_a_ticket(ledger: ReturnsLedger, returning_parcel: UUID,
                                           cause: str) -> None:
    ledger.record_return_failure(returning_parcel, cause, T0 + 8 * DAY)
    assert ledger.get_parcel(returning_parcel).liability == "platform"
    opened = ledger.open_investigation(returning_parcel, "failed_return", T0 + 9 * DAY)
    investigation = opened.extra["investigation_id"]
    # An open ticket keeps the parcel from being disposed of.
    with pytest.raises(RuleViolationError) as err:
        ledger.dispose(returning_parcel, "destroyed", T0 + 10 * DAY)
    assert err.value.rule == "TT-5"
    ledger.resolve_investigation(returning_parcel, investigation, "provider lost it",
                                 "provider", T0 + 12 * DAY)
    assert ledger.dispose(returning_parcel, "destroyed", T0 + 13 * DAY).status == "destroyed"
    assert ledger.get_parcel(returning_parcel).liability == "provider"


def test_tt5_ticket_needs_a_failed_return(ledger: ReturnsLedger, returning_parcel: UUID) -> None:
    with pytest.raises(RuleViolationError) as err:
        ledger.open_investigation(returning_parcel, "failed_return", T0 + 8 * DAY)
    assert err.value.rule == "TT-5"


def test_tt5_failed_return_goes_back_to_the_warehouse(ledger: ReturnsLedger,
                                                     returning_parcel: UUID) -> None:
    ledger.record_return_failure(returning_parcel, "carrier", T0 + 8 * DAY)
    decision = ledger.route_return(returning_parcel, T0 + 9 * DAY).extra["decision"]
    assert decision.destination.value == "provider_warehouse"
    assert decision.facts["return_failed"] == "true"


def test_tt5_platform_liability_survives_the_way_to_the_warehouse(
        ledger: ReturnsLedger, returning_parcel: UUID) -> None:
    ledger.record_return_failure(returning_parcel, "carrier", T0 + 8 * DAY)
    ledger.route_return(returning_parcel, T0 + 9 * DAY)
    ledger.dispose(returning_parcel, "destroyed", T0 + 9 * DAY)  # no 14-day hold (TT-5)
    assert ledger.get_parcel(returning_parcel).liability == "platform"
    destroyed = ledger.get_parcel_history(returning_parcel)[-1]
    assert (destroyed.data["rule"], destroyed.data["facts"]["cause"]) == ("TT-5", "carrier")


# -- TT-6 false return --------------------------------------------------------------


def test_tt6_false_return_opens_an_investigation(ledger: ReturnsLedger,
                                                 returning_parcel: UUID) -> None:
    result = ledger.open_investigation(returning_parcel, "false_return", T0 + 20 * DAY)
    investigation = result.extra["investigation_id"]
    opened = ledger.get_parcel_history(returning_parcel)[-1]
    assert (opened.type, opened.data["rule"]) == ("InvestigationOpened", "TT-6")
    assert ledger.get_parcel(returning_parcel).investigations[investigation]["status"] == "open"
    ledger.resolve_investigation(returning_parcel, investigation, "lost by the provider",
                                 "provider", T0 + 25 * DAY)
    state = ledger.get_parcel(returning_parcel)
    assert state.investigations[investigation]["status"] == "resolved"
    assert state.liability == "provider"


def test_tt6_false_return_is_refused_for_a_parcel_not_returning(ledger: ReturnsLedger,
                                                                held_parcel: UUID) -> None:
    with pytest.raises(RuleViolationError) as err:
        ledger.open_investigation(held_parcel, "false_return", T0 + 20 * DAY)
    assert err.value.rule == "TT-6"


# -- TT-7 attempts and return window -------------------------------------------------


def test_tt7_three_attempts_are_recorded_a_fourth_is_refused(ledger: ReturnsLedger) -> None:
    parcel = register(ledger, "tiktok_shop")
    for day in (2, 3, 4):
        ledger.record_delivery_attempt(parcel, "buyer not at home", T0 + day * DAY)
    assert ledger.get_parcel(parcel).attempts == 3
    with pytest.raises(RuleViolationError) as err:
        ledger.record_delivery_attempt(parcel, "buyer not at home", T0 + 5 * DAY)
    assert err.value.rule == "TT-7"
    assert err.value.facts == {"attempt_number": "4", "max_attempts": "3"}
    assert ledger.get_parcel(parcel).attempts == 3


def test_tt7_return_window_counts_from_the_last_failed_attempt(ledger: ReturnsLedger) -> None:
    tiktok_address(ledger, registered_at=T0 - DAY)
    parcel = register(ledger, "tiktok_shop")
    ledger.record_delivery_attempt(parcel, "not at home", T0 + 2 * DAY)
    ledger.record_delivery_attempt(parcel, "not at home", T0 + 3 * DAY)
    # The failure is reported later than the last attempt; routing even later.
    ledger.record_failed_delivery(parcel, "unreachable", T0 + 3 * DAY - HOUR)
    decision = ledger.route_return(parcel, T0 + 9 * DAY).extra["decision"]
    assert decision.expected_back_by == T0 + 3 * DAY + 15 * DAY
    assert decision.facts["last_failed_attempt_at"] == (T0 + 3 * DAY).isoformat()
    assert ledger.get_parcel(parcel).expected_back_by == T0 + 18 * DAY


def test_tt7_without_attempts_the_window_counts_from_the_failure(ledger: ReturnsLedger) -> None:
    tiktok_address(ledger, registered_at=T0 - DAY)
    parcel = failed_tiktok_parcel(ledger, failed_at=T0 + 4 * DAY)
    decision = ledger.route_return(parcel, T0 + 9 * DAY).extra["decision"]
    assert decision.expected_back_by == T0 + 4 * DAY + 15 * DAY


def test_tt7_redelivery_gets_attempts_of_its_own(ledger: ReturnsLedger) -> None:
    parcel = register(ledger, "tiktok_shop", tracking="TRK-2")
    for day in (2, 3, 4):
        ledger.record_delivery_attempt(parcel, "not at home", T0 + day * DAY)
    ledger.record_failed_delivery(parcel, "unreachable", T0 + 4 * DAY)
    ledger.route_return(parcel, T0 + 5 * DAY)
    ledger.request_redelivery(parcel, T0 + 6 * DAY)
    # The provider tries again (TT-2): its failed attempts are recorded and capped anew.
    for day in (7, 8, 9):
        ledger.record_delivery_attempt(parcel, "not at home", T0 + day * DAY)
    with pytest.raises(RuleViolationError) as err:
        ledger.record_delivery_attempt(parcel, "not at home", T0 + 10 * DAY)
    assert err.value.rule == "TT-7"
    attempts = [e.data["attempt_number"] for e in ledger.get_parcel_history(parcel)
                if e.type == "DeliveryAttemptFailed"]
    assert attempts == [1, 2, 3, 1, 2, 3]



def test_tt6_resolved_false_return_investigation_cites_its_rules(
        ledger: ReturnsLedger, returning_parcel: UUID) -> None:
    """The finding of a false-return investigation is a decision: `rules` lists TT-6."""
    opened = ledger.open_investigation(returning_parcel, "false_return", T0 + 20 * DAY)
    ledger.resolve_investigation(returning_parcel, opened.extra["investigation_id"],
                                 "false return confirmed", "provider", T0 + 25 * DAY)
    resolved = [e for e in ledger.get_parcel_history(returning_parcel)
                if e.type == "InvestigationResolved"]
    assert resolved[0].data["rule"] == "TT-6" and resolved[0].data["rules"] == ["TT-6"]
