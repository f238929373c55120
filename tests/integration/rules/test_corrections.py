"""RL-2: corrections are events; nothing recorded is deleted or changed."""

from __future__ import annotations

from uuid import UUID

import pytest

from application.ledger import ReturnsLedger
from domain.errors import (
    InvalidValueError,
    RefusedValueError,
    RuleViolationError,
    TransitionError,
)
from domain.money import Money
from domain.plausibility import ImplausibleValueError
from domain.values import Line
from tests.integration.rules.conftest import DAY, T0, eur, item, register


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
    with pytest.raises(RefusedValueError) as refused:  # a 422 naming the field and rule
        ledger.correct_parcel(parcel, "amount_paid", Money.of("50.00", "MYR"), "no",
                              T0 + 3 * DAY)
    assert (refused.value.rule, refused.value.field) == ("RL-2", "amount_paid")
    ledger.correct_parcel(parcel, "store_id", "store-2", "wrong store", T0 + 3 * DAY)


def test_rl2_a_voided_parcel_keeps_its_platform_and_tracking_number(
        ledger: ReturnsLedger) -> None:
    """As documented: the id is the voided parcel's, so registering it again is refused."""
    from domain.errors import DuplicateParcelError

    parcel = register(ledger, "tiktok_shop", price="100.00")
    with pytest.raises(InvalidValueError) as number:
        ledger.correct_parcel(parcel, "tracking_number", "TRK-2", "wrong", T0 + 2 * DAY)
    assert number.value.field == "field"
    ledger.void_parcel(parcel, "wrong tracking number", T0 + 2 * DAY)
    with pytest.raises(DuplicateParcelError):
        register(ledger, "tiktok_shop", price="80.00", occurred_at=T0 + 2 * DAY)
    assert ledger.get_parcel(parcel).status == "voided"


# -- lines (SKUs, quantities, unit prices) -------------------------------------------------
def myr(amount: str) -> Money:
    return Money.of(amount, "MYR")


def worth(ledger: ReturnsLedger, parcel: UUID) -> Money:
    lines = ledger.get_parcel(parcel).lines
    return sum((line["unit_price"] * line["quantity"] for line in lines[1:]),
               lines[0]["unit_price"] * lines[0]["quantity"])


def test_rl2_wrong_lines_are_corrected_by_an_event_naming_what_it_corrects(
        ledger: ReturnsLedger) -> None:
    """A parcel registered with wrong lines on a real tracking number is put right."""
    parcel = register(ledger, "tiktok_shop", price="100.00")
    right = [Line("SKU-1", 1, myr("80.00")), Line("SKU-2", 2, myr("15.00"))]
    answer = ledger.correct_parcel(parcel, "lines", right, "the ERP sent the wrong order",
                                   T0 + 2 * DAY)
    assert answer.extra["corrects_version"] == 1
    state = ledger.get_parcel(parcel)
    assert [(line["sku"], line["quantity"], line["unit_price"]) for line in state.lines] == [
        ("SKU-1", 1, myr("80.00")), ("SKU-2", 2, myr("15.00"))]
    corrected = ledger.get_parcel_history(parcel)[-1]
    assert (corrected.type, corrected.data["field"]) == ("FieldCorrected", "lines")
    assert corrected.data["previous"] == [{"sku": "SKU-1", "quantity": 1,
                                           "unit_price": myr("100.00").as_dict()}]
    assert corrected.data["value"][1] == {"sku": "SKU-2", "quantity": 2,
                                          "unit_price": myr("15.00").as_dict()}
    assert (corrected.data["corrects_version"], corrected.data["rules"]) == (1, ["RL-2", "RL-3"])
    assert (corrected.data["facts"]["goods_value_before"],
            corrected.data["facts"]["goods_value"]) == ("100.00 MYR", "110.00 MYR")
    again = ledger.correct_parcel(parcel, "lines", [Line("SKU-1", 1, myr("110.00"))],
                                  "one line after all", T0 + 3 * DAY)
    assert again.extra["corrects_version"] == corrected.version  # the correction it corrects
    registered = ledger.get_parcel_history(parcel)[0].data["lines"][0]
    assert registered["unit_price"] == myr("100.00").as_dict()  # as it was recorded
    with pytest.raises(InvalidValueError) as same:  # nothing to correct
        ledger.correct_parcel(parcel, "lines", [Line("SKU-1", 1, myr("110.00"))], "x",
                              T0 + 4 * DAY)
    assert same.value.field == "value"


def test_rl2_the_lines_of_a_parcel_with_refunds_are_not_corrected(
        ledger: ReturnsLedger) -> None:
    parcel = register(ledger, "tiktok_shop", price="100.00")
    ledger.request_refund(parcel, "R-1", [item(myr("10.00"))], T0 + 2 * DAY)
    with pytest.raises(RefusedValueError) as refused:
        ledger.correct_parcel(parcel, "lines", [Line("SKU-1", 2, myr("100.00"))], "no",
                              T0 + 3 * DAY)
    assert (refused.value.field, refused.value.rule) == ("lines", "RL-2")
    assert "refunds" in refused.value.detail
    assert ledger.get_parcel(parcel).lines[0]["quantity"] == 1


def test_rl2_corrected_lines_are_lines(ledger: ReturnsLedger) -> None:
    parcel = register(ledger, "tiktok_shop")
    for wrong in ([], "SKU-1", [Line("SKU-1", 1, eur("100.00"))]):  # none, text, a currency
        with pytest.raises(InvalidValueError) as refused:
            ledger.correct_parcel(parcel, "lines", wrong, "no", T0 + 2 * DAY)
        assert refused.value.field == "lines"
    assert ledger.get_parcel(parcel).version == 1


def test_rl3_corrected_lines_must_cover_amount_paid(ledger: ReturnsLedger) -> None:
    """RL-3 as at registration: amount_paid (goods, shipping excluded) is at most the
    lines' value; lower lines wait for amount_paid to be corrected first."""
    parcel = register(ledger, "tiktok_shop", price="100.00")
    with pytest.raises(ImplausibleValueError) as refused:
        ledger.correct_parcel(parcel, "lines", [Line("SKU-1", 1, myr("80.00"))], "no",
                              T0 + 2 * DAY)
    assert (refused.value.field, refused.value.rule) == ("lines", "RL-3")
    assert refused.value.facts == {"amount_paid": "100.00 MYR", "goods_value": "80.00 MYR"}
    ledger.correct_parcel(parcel, "amount_paid", myr("80.00"), "the voucher", T0 + 2 * DAY)
    ledger.correct_parcel(parcel, "lines", [Line("SKU-1", 1, myr("80.00"))], "the price",
                          T0 + 2 * DAY)
    assert worth(ledger, parcel) == myr("80.00")


def _untracked_cdiscount(ledger: ReturnsLedger, price: str = "15.00") -> UUID:
    return ledger.register_parcel(
        platform="cdiscount", site="FR", seller_id="seller-1", order_id="CD-1",
        order_created_at=T0, tracking_number=None, lines=[Line("SKU-1", 1, eur(price))],
        amount_paid=eur(price), occurred_at=T0 + DAY).id


def test_cd2_corrected_lines_cannot_make_an_untracked_parcel_worth_over_15_eur(
        ledger: ReturnsLedger) -> None:
    parcel = _untracked_cdiscount(ledger)
    with pytest.raises(RefusedValueError) as refused:
        ledger.correct_parcel(parcel, "lines", [Line("SKU-1", 1, eur("15.01"))], "no",
                              T0 + 2 * DAY)
    assert (refused.value.field, refused.value.rule) == ("lines", "CD-2")
    assert "tracking number is mandatory" in refused.value.detail
    assert refused.value.facts["product_value"] == "15.01 EUR"
    assert ledger.get_parcel(parcel).version == 1


def test_cd2_corrected_lines_of_untracked_parcel_within_15_eur_are_allowed(
        ledger: ReturnsLedger) -> None:
    parcel = _untracked_cdiscount(ledger)
    right = [Line("SKU-1", 1, eur("7.50")), Line("SKU-2", 1, eur("7.50"))]
    ledger.correct_parcel(parcel, "lines", right, "two items", T0 + 2 * DAY)
    assert ledger.get_parcel_history(parcel)[-1].data["rules"] == ["RL-2", "RL-3", "CD-2"]
    tracked = register(ledger, "cdiscount", site="FR", currency="EUR", price="15.00",
                       tracking="CD-TRK")  # with a tracking number the value is free
    ledger.correct_parcel(tracked, "lines", [Line("SKU-1", 1, eur("99.00"))], "price",
                          T0 + 2 * DAY)
    assert worth(ledger, tracked) == eur("99.00")


def _routed_lazada(ledger: ReturnsLedger) -> UUID:
    ledger.register_return_address(
        seller_id="seller-1", platform="lazada", country="MY",
        address={"lines": ["1 Jalan Example"], "city": "Kuala Lumpur", "postcode": "50000"},
        effective_from=T0 - DAY, occurred_at=T0 - DAY)
    parcel = register(ledger, "lazada", price="50.00", tracking="LZ-LINES")
    ledger.record_failed_delivery(parcel, "bad_address", T0 + 3 * DAY)
    ledger.route_return(parcel, T0 + 4 * DAY)
    return parcel


def _set_customs(ledger: ReturnsLedger, sku: str) -> None:
    ledger.set_customs_profile(
        seller_id="seller-1", sku=sku, hs_code="420292", declared_name_local="手机壳",
        declared_name_en="Phone case", declared_value=Money.of("3.50", "USD"),
        material="silicone", use="protects a phone", brand="NoBrand", occurred_at=T0 - DAY)


def test_lz2_corrected_lines_of_a_routed_return_list_the_skus_lacking_customs_data(
        ledger: ReturnsLedger) -> None:
    parcel = _routed_lazada(ledger)
    _set_customs(ledger, "SKU-KNOWN")
    right = [Line("SKU-KNOWN", 1, myr("20.00")), Line("SKU-NEW", 1, myr("30.00"))]
    ledger.correct_parcel(parcel, "lines", right, "wrong SKUs", T0 + 5 * DAY)
    corrected = ledger.get_parcel_history(parcel)[-1]
    assert corrected.data["facts"]["customs_info_missing_skus"] == "SKU-NEW"
    assert corrected.data["rules"] == ["RL-2", "RL-3", "LZ-2"]


def test_lz2_corrected_lines_before_routing_or_after_receipt_list_nothing(
        ledger: ReturnsLedger) -> None:
    """Only a return routed and not yet received is on the work list; routing lists the
    corrected lines' SKUs itself."""
    early = register(ledger, "lazada", price="50.00", tracking="LZ-EARLY")
    ledger.correct_parcel(early, "lines", [Line("SKU-X", 1, myr("50.00"))], "x", T0 + 2 * DAY)
    assert "customs_info_missing_skus" not in ledger.get_parcel_history(early)[-1].data["facts"]
    parcel = _routed_lazada(ledger)
    ledger.receive(parcel, T0 + 6 * DAY)
    ledger.correct_parcel(parcel, "lines", [Line("SKU-Y", 1, myr("50.00"))], "y", T0 + 7 * DAY)
    assert "customs_info_missing_skus" not in ledger.get_parcel_history(parcel)[-1].data["facts"]
