"""Errors name what went wrong: a rule id only where a rule broke, never an assert."""

from __future__ import annotations

import pytest

from domain.address import ReturnAddress
from domain.errors import (
    InvalidValueError,
    NoApplicableRuleError,
    RuleViolationError,
    TransitionError,
)
from domain.parcel import ReturnParcel
from domain.policies import PlatformPolicy, RouteDecision
from domain.values import Destination, DisposalKind, Party, Status
from tests.unit.support import DAY, T0, parcel, policies

RULES = policies()


def failed_parcel() -> ReturnParcel:
    p = parcel(RULES)
    p.record_delivery_failure("refused", RULES.for_platform("tiktok_shop"), T0 + 2 * DAY)
    return p


def test_tt2_a_hold_without_its_end_is_refused_before_anything_is_recorded() -> None:
    """Under `python -O` the old assert let a hold without `hold_until` reach the views."""
    p = failed_parcel()
    p.collect_events()
    hold = RouteDecision(Destination.PROVIDER_WAREHOUSE, "TT-2", False, Party.NOBODY, {})
    with pytest.raises(InvalidValueError) as err:
        p.route_return(hold, T0 + 3 * DAY)
    assert err.value.field == "hold_until"
    assert p.collect_events() == [] and p.status is Status.DELIVERY_FAILED


def test_tt2_a_held_parcel_without_its_hold_end_is_not_disposed_of() -> None:
    facts = failed_parcel().facts()
    held = type(facts)(**{**facts.__dict__, "status": Status.HELD, "hold_until": None})
    with pytest.raises(RuleViolationError) as err:
        PlatformPolicy().disposal_ruling(held, DisposalKind.DESTROYED, T0 + 30 * DAY)
    assert err.value.rule == "TT-2"


def test_disposal_of_a_parcel_neither_held_nor_failed_is_a_transition_error() -> None:
    facts = parcel(RULES).facts()
    with pytest.raises(TransitionError) as err:
        PlatformPolicy().disposal_ruling(facts, DisposalKind.DESTROYED, T0 + 30 * DAY)
    assert (err.value.status, err.value.command) == ("registered", "dispose")
    assert not hasattr(err.value, "rule")


def test_a_platform_without_routing_rules_names_no_fake_rule() -> None:
    with pytest.raises(NoApplicableRuleError) as err:
        PlatformPolicy().route(failed_parcel().facts(), [], T0 + 3 * DAY)
    assert err.value.decision == "routing" and not hasattr(err.value, "rule")


def test_deactivating_an_address_twice_is_a_transition_error() -> None:
    address = ReturnAddress.register(
        seller_id="seller-1", platform="amazon", country_code="DE",
        address={"lines": ["Hauptstr. 1"], "city": "Berlin", "postcode": "10115"},
        effective_from=T0, occurred_at=T0)
    address.deactivate("moved", T0 + DAY)
    with pytest.raises(TransitionError) as err:
        address.deactivate("moved", T0 + 2 * DAY)
    assert (err.value.status, err.value.command, err.value.subject) == (
        "deactivated", "deactivate", "return address")
