"""Decisions cite every rule that decided them (`rules`, in order, beside `rule`); TT-1
follows the address the seller keeps; TT-5 routes a failed return to its end."""

from __future__ import annotations

from uuid import UUID

import pytest

from application.ledger import ReturnsLedger
from domain.errors import TransitionError
from tests.integration.rules.conftest import (
    DAY,
    HOUR,
    T0,
    eur,
    failed_tiktok_parcel,
    item,
    register,
    tiktok_address,
)


# -- TT-1: the address the seller keeps ---------------------------------------------------
def test_tt1_address_deactivated_after_the_order_but_before_the_failure_is_not_used(
        ledger: ReturnsLedger) -> None:
    address = tiktok_address(ledger, registered_at=T0 - 30 * DAY)
    parcel = failed_tiktok_parcel(ledger, failed_at=T0 + 5 * DAY)
    ledger.deactivate_return_address(address, "warehouse closed", T0 + 2 * DAY)
    decision = ledger.route_return(parcel, T0 + 6 * DAY).extra["decision"]
    assert decision.destination.value == "provider_warehouse"
    assert decision.rule == "TT-2"
    assert decision.facts["address_id"] == str(address)
    assert "deactivated" in decision.facts["ineligible_because"]


def test_tt1_another_kept_address_of_the_country_receives_it(ledger: ReturnsLedger) -> None:
    closed = tiktok_address(ledger, registered_at=T0 - 30 * DAY)
    kept = tiktok_address(ledger, registered_at=T0 - 40 * DAY)
    parcel = failed_tiktok_parcel(ledger, failed_at=T0 + 5 * DAY)
    ledger.deactivate_return_address(closed, "warehouse closed", T0 + 2 * DAY)
    decision = ledger.route_return(parcel, T0 + 6 * DAY).extra["decision"]
    assert decision.address_id == str(kept)


def test_tt1_address_deactivated_after_the_failure_still_receives_it(
        ledger: ReturnsLedger) -> None:
    address = tiktok_address(ledger, registered_at=T0 - 30 * DAY)
    parcel = failed_tiktok_parcel(ledger, failed_at=T0 + 5 * DAY)
    ledger.deactivate_return_address(address, "moving", T0 + 5 * DAY + HOUR)
    decision = ledger.route_return(parcel, T0 + 6 * DAY).extra["decision"]
    assert decision.address_id == str(address)


# -- rules lists -----------------------------------------------------------------------
def test_tt1_tt3_free_return_cites_both_rules(ledger: ReturnsLedger) -> None:
    tiktok_address(ledger, registered_at=T0 - 30 * DAY)
    parcel = failed_tiktok_parcel(ledger)
    answer = ledger.route_return(parcel, T0 + 6 * DAY)
    assert answer.extra["decision"].rules == ("TT-1", "TT-3")
    routed = ledger.get_parcel_history(parcel)[-1]
    assert (routed.type, routed.data["rule"], routed.data["rules"]) == (
        "ReturnRouted", "TT-3", ["TT-1", "TT-3"])


def test_tt2_hold_cites_the_ineligibility_and_the_hold(ledger: ReturnsLedger) -> None:
    parcel = failed_tiktok_parcel(ledger)
    ledger.route_return(parcel, T0 + 6 * DAY)
    routed, held = ledger.get_parcel_history(parcel)[-2:]
    assert routed.data["rules"] == ["TT-1", "TT-2"]
    assert held.data["rules"] == ["TT-2"]


# -- TT-5: a failed return ends at the warehouse, without a hold -----------------------
def _failed_return(ledger: ReturnsLedger, cause: str = "carrier") -> UUID:
    tiktok_address(ledger, registered_at=T0 - 30 * DAY)
    parcel = failed_tiktok_parcel(ledger)
    ledger.route_return(parcel, T0 + 6 * DAY)
    ledger.record_return_failure(parcel, cause, T0 + 8 * DAY)
    return parcel


def test_tt5_routing_after_a_failed_return_cites_tt5_without_a_hold(
        ledger: ReturnsLedger) -> None:
    parcel = _failed_return(ledger)
    decision = ledger.route_return(parcel, T0 + 9 * DAY).extra["decision"]
    assert (decision.destination.value, decision.rule, decision.hold_until) == (
        "provider_warehouse", "TT-5", None)
    assert decision.rules == ("TT-5",)
    assert "HeldAtWarehouse" not in [e.type for e in ledger.get_parcel_history(parcel)][-2:]
    assert ledger.get_parcel(parcel).hold_until is None


def test_tt5_no_redelivery_after_a_failed_return(ledger: ReturnsLedger) -> None:
    parcel = _failed_return(ledger)
    ledger.route_return(parcel, T0 + 9 * DAY)
    with pytest.raises(TransitionError):
        ledger.request_redelivery(parcel, T0 + 10 * DAY)


def test_tt5_failed_return_is_disposed_at_once_with_its_liability(
        ledger: ReturnsLedger) -> None:
    parcel = _failed_return(ledger, "seller_unreachable")
    ledger.route_return(parcel, T0 + 9 * DAY)
    ledger.dispose(parcel, "destroyed", T0 + 9 * DAY + HOUR)
    destroyed = ledger.get_parcel_history(parcel)[-1]
    assert (destroyed.data["rule"], destroyed.data["rules"]) == ("TT-5", ["TT-5"])
    assert ledger.get_parcel(parcel).liability == "seller"


# -- refunds are not labelled AM-4 where AM-4 did not decide ----------------------------
@pytest.mark.parametrize("platform,site,currency", [("tiktok_shop", "MY", "MYR"),
                                                    ("cdiscount", "FR", "EUR")])
def test_am4_small_refunds_on_other_platforms_do_not_cite_am4(
        ledger: ReturnsLedger, platform: str, site: str, currency: str) -> None:
    from domain.money import Money
    from domain.values import RefundComponent

    parcel = register(ledger, platform, site=site, currency=currency, price="20.00")
    ledger.request_refund(parcel, "R-1", [RefundComponent("item", Money.of("5.00", currency))],
                          T0 + 2 * DAY)
    requested = [e for e in ledger.get_parcel_history(parcel) if e.type == "RefundRequested"]
    assert requested[0].data["rule"] != "AM-4"
    assert "AM-4" not in requested[0].data["rules"]


def test_am4_large_refund_cites_am4_in_its_rules(ledger: ReturnsLedger) -> None:
    parcel = register(ledger, "cdiscount", site="FR", currency="EUR", price="900.00")
    ledger.request_refund(parcel, "R-1", [item(eur("600.00"))], T0 + 2 * DAY)
    requested = [e for e in ledger.get_parcel_history(parcel) if e.type == "RefundRequested"]
    assert requested[0].data["rule"] == "AM-4" and requested[0].data["rules"][-1] == "AM-4"


# -- RL-1: only an undeliverable parcel comes back at the seller's cost -------------------
def test_rl1_a_parcel_that_did_not_fail_is_not_carrier_returned(ledger: ReturnsLedger) -> None:
    parcel = register(ledger, "amazon", site="US", currency="USD")
    with pytest.raises(TransitionError):
        ledger.route_return(parcel, T0 + 2 * DAY)  # registered, neither failed nor asked
    ledger.record_delivery(parcel, T0 + 2 * DAY)
    with pytest.raises(TransitionError):
        ledger.route_return(parcel, T0 + 3 * DAY)  # delivered: a return request comes first
    assert ledger.get_parcel(parcel).status == "delivered"
