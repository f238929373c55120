"""RL-2: corrections are events; nothing recorded is deleted or changed."""

from __future__ import annotations

import pytest

from application.ledger import ReturnsLedger
from domain.errors import InvalidValueError, RuleViolationError, TransitionError
from domain.money import Money
from domain.plausibility import ImplausibleValueError
from tests.integration.rules.conftest import DAY, T0, item, register


def test_rl2_a_parcel_registered_by_mistake_is_voided_and_ends(ledger: ReturnsLedger) -> None:
    parcel = register(ledger, "tiktok_shop")
    ledger.void_parcel(parcel, "test parcel", T0 + 2 * DAY)
    state = ledger.get_parcel(parcel)
    assert state.status == "voided"
    voided = ledger.get_parcel_history(parcel)[-1]
    assert (voided.type, voided.data["reason"], voided.data["rules"]) == (
        "ParcelVoided", "test parcel", ["RL-2"])
    assert [e.type for e in ledger.get_parcel_history(parcel)][0] == "ParcelRegistered"
    with pytest.raises(TransitionError):
        ledger.record_delivery(parcel, T0 + 3 * DAY)  # terminal
    with pytest.raises(TransitionError):
        ledger.void_parcel(parcel, "again", T0 + 3 * DAY)


def test_rl2_a_parcel_with_refunds_is_not_voided(ledger: ReturnsLedger) -> None:
    parcel = register(ledger, "tiktok_shop")
    ledger.request_refund(parcel, "R-1", [item(Money.of("10.00", "MYR"))], T0 + 2 * DAY)
    with pytest.raises(RuleViolationError) as refused:
        ledger.void_parcel(parcel, "mistake", T0 + 3 * DAY)
    assert refused.value.rule == "RL-2"


def test_rl2_a_wrong_field_is_corrected_by_an_event_naming_what_it_corrects(
        ledger: ReturnsLedger) -> None:
    parcel = register(ledger, "tiktok_shop", site="MY")
    answer = ledger.correct_parcel(parcel, "site", "TH", "typed the wrong site", T0 + 2 * DAY)
    assert answer.extra["corrects_version"] == 1
    assert ledger.get_parcel(parcel).site == "TH"
    corrected = ledger.get_parcel_history(parcel)[-1]
    assert corrected.type == "FieldCorrected"
    assert (corrected.data["field"], corrected.data["previous"], corrected.data["value"],
            corrected.data["corrects_version"]) == ("site", "MY", "TH", 1)
    again = ledger.correct_parcel(parcel, "site", "VN", "still wrong", T0 + 3 * DAY)
    assert again.extra["corrects_version"] == corrected.version  # the correction it corrects
    registered = ledger.get_parcel_history(parcel)[0]
    assert registered.data["site"] == "MY"  # the original stays as it was recorded


def test_rl2_corrections_are_held_to_the_registration_rules(ledger: ReturnsLedger) -> None:
    parcel = register(ledger, "lazada", site="MY")
    with pytest.raises(ImplausibleValueError):
        ledger.correct_parcel(parcel, "site", "FR", "no", T0 + 2 * DAY)  # RL-3
    with pytest.raises(ImplausibleValueError):
        ledger.correct_parcel(parcel, "amount_paid", Money.of("900.00", "MYR"), "no",
                              T0 + 2 * DAY)
    with pytest.raises(InvalidValueError) as field:
        ledger.correct_parcel(parcel, "tracking_number", "X", "no", T0 + 2 * DAY)
    assert field.value.field == "field"
    with pytest.raises(InvalidValueError):
        ledger.correct_parcel(parcel, "site", "MY", "the same", T0 + 2 * DAY)
    ledger.correct_parcel(parcel, "amount_paid", Money.of("90.00", "MYR"), "voucher",
                          T0 + 2 * DAY)
    assert ledger.get_parcel(parcel).amount_paid == Money.of("90.00", "MYR")


def test_rl2_refunds_are_never_corrected_this_way(ledger: ReturnsLedger) -> None:
    parcel = register(ledger, "tiktok_shop")
    ledger.request_refund(parcel, "R-1", [item(Money.of("10.00", "MYR"))], T0 + 2 * DAY)
    with pytest.raises(RuleViolationError) as refused:
        ledger.correct_parcel(parcel, "amount_paid", Money.of("50.00", "MYR"), "no",
                              T0 + 3 * DAY)
    assert refused.value.rule == "RL-2"
    ledger.correct_parcel(parcel, "store_id", "store-2", "wrong store", T0 + 3 * DAY)


def test_rl2_a_voided_parcel_keeps_its_platform_and_tracking_number(
        ledger: ReturnsLedger) -> None:
    """As documented: the id is the voided parcel's, so registering it again is refused."""
    from domain.errors import DuplicateParcelError

    parcel = register(ledger, "tiktok_shop", price="100.00")
    with pytest.raises(InvalidValueError) as lines:
        ledger.correct_parcel(parcel, "lines", [], "wrong line prices", T0 + 2 * DAY)
    assert lines.value.field == "field"
    ledger.void_parcel(parcel, "wrong line prices", T0 + 2 * DAY)
    with pytest.raises(DuplicateParcelError):
        register(ledger, "tiktok_shop", price="80.00", occurred_at=T0 + 2 * DAY)
    assert ledger.get_parcel(parcel).status == "voided"
