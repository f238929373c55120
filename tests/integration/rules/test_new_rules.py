"""TT-8 (who asks for a redelivery), AM-5 (Amazon's return window), AM-6 (a replacement)."""

from __future__ import annotations

from uuid import UUID

import pytest

from application.ledger import ReturnsLedger
from domain.errors import RuleViolationError
from tests.integration.rules.conftest import DAY, T0, eur, failed_tiktok_parcel, item
from tests.integration.rules.test_amazon import amazon_parcel, returned


@pytest.fixture
def held(ledger: ReturnsLedger) -> UUID:
    parcel = failed_tiktok_parcel(ledger)
    ledger.route_return(parcel, T0 + 6 * DAY)  # no eligible address: TT-2 hold
    return parcel


# -- TT-8 ------------------------------------------------------------------------------
def test_tt8_the_buyers_redelivery_request_records_who_asked(ledger: ReturnsLedger,
                                                             held: UUID) -> None:
    ledger.contact_buyer(held, T0 + 7 * DAY)  # the seller may contact the buyer
    ledger.request_redelivery(held, T0 + 8 * DAY, requested_by="buyer")
    requested = ledger.get_parcel_history(held)[-1]
    assert requested.type == "RedeliveryRequested"
    assert requested.data["facts"]["requested_by"] == "buyer"
    assert requested.data["rules"] == ["TT-8", "TT-2"]
    contacted = ledger.get_parcel_history(held)[-2]
    assert (contacted.type, contacted.data["rule"]) == ("BuyerContacted", "TT-8")


def test_tt8_a_redelivery_asked_by_the_seller_is_refused(ledger: ReturnsLedger,
                                                         held: UUID) -> None:
    with pytest.raises(RuleViolationError) as refused:
        ledger.request_redelivery(held, T0 + 8 * DAY, requested_by="seller")
    assert refused.value.rule == "TT-8"
    assert ledger.get_parcel(held).status == "held_at_warehouse"


def test_tt8_the_seller_contacts_the_buyer_only_within_the_hold(ledger: ReturnsLedger,
                                                                held: UUID) -> None:
    with pytest.raises(RuleViolationError) as late:
        ledger.contact_buyer(held, T0 + 6 * DAY + 14 * DAY)
    assert late.value.rule == "TT-8"


# -- AM-5 ------------------------------------------------------------------------------
def test_am5_a_return_within_30_days_of_delivery_is_in_the_window(
        ledger: ReturnsLedger) -> None:
    parcel = amazon_parcel(ledger)  # delivered on day 2
    ledger.request_return(parcel, "changed mind", False, T0 + 32 * DAY)
    requested = ledger.get_parcel_history(parcel)[-1]
    assert (requested.data["rule"], requested.data["facts"]["outside_window"]) == (
        "AM-5", "false")
    assert requested.data["facts"]["reply_by"] == (T0 + 35 * DAY).isoformat()  # Fri -> Mon


def test_am5_a_return_after_the_window_needs_the_sellers_decision(
        ledger: ReturnsLedger) -> None:
    parcel = amazon_parcel(ledger)
    with pytest.raises(RuleViolationError) as refused:
        ledger.request_return(parcel, "changed mind", False, T0 + 33 * DAY)
    assert refused.value.rule == "AM-5"
    ledger.request_return(parcel, "changed mind", False, T0 + 33 * DAY,
                          outside_window_accepted=True)
    facts = ledger.get_parcel_history(parcel)[-1].data["facts"]
    assert (facts["outside_window"], facts["seller_decision"]) == ("true", "accepted")


# -- AM-6 ------------------------------------------------------------------------------
def test_am6_a_replacement_ends_a_damaged_return_without_a_refund(
        ledger: ReturnsLedger) -> None:
    parcel = returned(ledger, amazon_parcel(ledger), seller_fault=True)  # damaged
    ledger.request_refund(parcel, "R-PART", [item(eur("20.00"))], T0 + 10 * DAY)  # partial
    ledger.agree_replacement(parcel, "AMZ-REPLACEMENT-1", T0 + 10 * DAY)
    state = ledger.get_parcel(parcel)
    assert state.status == "closed"
    agreed = ledger.get_parcel_history(parcel)[-1]
    assert (agreed.type, agreed.data["replacement_order_id"], agreed.data["rule"]) == (
        "ReplacementAgreed", "AMZ-REPLACEMENT-1", "AM-6")


def test_am6_a_resellable_item_gets_no_replacement(ledger: ReturnsLedger) -> None:
    parcel = returned(ledger, amazon_parcel(ledger), seller_fault=False)  # resellable
    with pytest.raises(RuleViolationError) as refused:
        ledger.agree_replacement(parcel, "AMZ-REPLACEMENT-1", T0 + 10 * DAY)
    assert refused.value.rule == "AM-6"


def test_am6_no_replacement_before_the_inspection(ledger: ReturnsLedger) -> None:
    parcel = returned(ledger, amazon_parcel(ledger), seller_fault=True, inspect=False)
    with pytest.raises(RuleViolationError) as refused:
        ledger.agree_replacement(parcel, "AMZ-REPLACEMENT-1", T0 + 10 * DAY)
    assert refused.value.rule == "AM-6"


def test_am5_the_window_is_a_setting() -> None:
    from application.ledger import ReturnsLedger as Ledger
    from tests.conftest import TEST_PERSONAL_DATA_KEY

    ledger = Ledger({"PERSISTENCE_MODULE": "eventsourcing.popo",
                     "PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY,
                     "POLICY_RETURN_REQUEST_WINDOW_DAYS": "10"})
    try:
        parcel = amazon_parcel(ledger)  # delivered on day 2
        with pytest.raises(RuleViolationError) as refused:
            ledger.request_return(parcel, "changed mind", False, T0 + 13 * DAY)
        assert refused.value.facts["window_days"] == "10"
    finally:
        ledger.close()
