"""Lazada cross-border returns: LZ-1 real name, LZ-2 customs data, LZ-3 order states."""

from __future__ import annotations

import json
from uuid import UUID

import pytest

from application.ledger import ReturnsLedger
from domain.errors import InvalidValueError, RuleViolationError
from domain.money import Money
from tests.integration.rules.conftest import DAY, HOUR, T0, USEC, register

CN_ADDRESS = {"lines": ["88 Example Road"], "city": "Shenzhen", "postcode": "518000"}
IDENTITY = {"name": "Zhang Wei", "id_number": "110101199003074514",
            "name_local": "张伟", "document_front": "front-scan-7731"}


def cn_address(ledger: ReturnsLedger, seller: str = "seller-1",
               seller_country: str | None = "CN", at=T0 - 10 * DAY) -> UUID:
    return ledger.register_return_address(
        seller_id=seller, platform="lazada", country="CN", seller_country=seller_country,
        address=CN_ADDRESS, effective_from=at, occurred_at=at).id


def failed_lazada_parcel(ledger: ReturnsLedger, seller: str = "seller-1",
                         tracking: str = "LZ-1", **kwargs) -> UUID:
    parcel = register(ledger, "lazada", site="PH", currency="PHP", seller=seller,
                      tracking=tracking, **kwargs)
    ledger.record_failed_delivery(parcel, "bad_address", T0 + 5 * DAY)
    return parcel


def set_customs(ledger: ReturnsLedger, sku: str = "SKU-1", hs_code: str = "420292",
                seller: str = "seller-1", similar: bool = False):
    return ledger.set_customs_profile(
        seller_id=seller, sku=sku, hs_code=hs_code, declared_name_local="手机壳",
        declared_name_en="Phone case", declared_value=Money.of("3.50", "USD"),
        material="silicone", use="protects a phone", brand="NoBrand",
        occurred_at=T0 - DAY, similar_product=similar)


# -- LZ-1 real-name return address --------------------------------------------------


def test_lz1_unverified_cn_address_is_refused(ledger: ReturnsLedger) -> None:
    address = cn_address(ledger)
    assert ledger.get_return_address(address).real_name_status == "unverified"
    parcel = failed_lazada_parcel(ledger)
    with pytest.raises(RuleViolationError) as err:
        ledger.route_return(parcel, T0 + 6 * DAY)
    assert err.value.rule == "LZ-1"
    assert err.value.facts["real_name_status"] == "unverified"
    assert ledger.get_parcel(parcel).status == "delivery_failed"


def test_lz1_verified_cn_address_is_allowed(ledger: ReturnsLedger) -> None:
    address = cn_address(ledger)
    view = ledger.verify_real_name(address, IDENTITY, T0 - 9 * DAY)
    assert view.real_name_status == "verified"
    parcel = failed_lazada_parcel(ledger)
    decision = ledger.route_return(parcel, T0 + 6 * DAY).extra["decision"]
    assert decision.rule == "LZ-1"
    assert decision.address_id == str(address)
    assert decision.facts["real_name_required"] == "true"
    assert decision.destination.value == "seller_overseas_address"


@pytest.mark.parametrize("seller_country", ["KR", "JP"])
def test_lz1_korean_and_japanese_sellers_skip_real_name(ledger: ReturnsLedger,
                                                        seller_country: str) -> None:
    address = cn_address(ledger, seller_country=seller_country)
    assert ledger.get_return_address(address).real_name_status == "not_required"
    parcel = failed_lazada_parcel(ledger)
    decision = ledger.route_return(parcel, T0 + 6 * DAY).extra["decision"]
    assert decision.facts["real_name_required"] == "false"
    with pytest.raises(RuleViolationError) as err:
        ledger.verify_real_name(address, IDENTITY, T0)
    assert err.value.rule == "LZ-1"


def test_lz1_address_outside_cn_needs_no_real_name(ledger: ReturnsLedger) -> None:
    ledger.register_return_address(
        seller_id="seller-1", platform="lazada", country="MY", seller_country="CN",
        address=CN_ADDRESS, effective_from=T0 - DAY, occurred_at=T0 - DAY)
    parcel = failed_lazada_parcel(ledger)
    assert ledger.route_return(parcel, T0 + 6 * DAY).status == "returning_to_seller"


def test_lz1_verified_identity_is_reused_for_another_address_of_the_same_seller(
        ledger: ReturnsLedger) -> None:
    first = cn_address(ledger)
    ledger.verify_real_name(first, IDENTITY, T0 - 9 * DAY)
    second = cn_address(ledger, at=T0 - 5 * DAY)
    view = ledger.reuse_real_name(second, first, T0 - 5 * DAY)
    assert view.real_name_status == "verified"
    reused = ledger.repository.get(second)
    original = ledger.repository.get(first)
    assert reused.subject_id == original.subject_id
    assert ledger.vault.open(reused.subject_id, reused.sealed_identity) == IDENTITY
    parcel = failed_lazada_parcel(ledger)
    assert ledger.route_return(parcel, T0 + 6 * DAY).extra["decision"].address_id == str(second)


def test_lz1_identity_of_another_seller_is_not_reused(ledger: ReturnsLedger) -> None:
    first = cn_address(ledger, seller="seller-1")
    ledger.verify_real_name(first, IDENTITY, T0 - 9 * DAY)
    other = cn_address(ledger, seller="seller-2")
    with pytest.raises(RuleViolationError) as err:
        ledger.reuse_real_name(other, first, T0 - 5 * DAY)
    assert err.value.rule == "LZ-1"
    assert ledger.get_return_address(other).real_name_status == "unverified"


def test_lz1_identity_is_never_stored_in_plain_text(ledger: ReturnsLedger) -> None:
    first = cn_address(ledger)
    ledger.verify_real_name(first, IDENTITY, T0 - 9 * DAY)
    second = cn_address(ledger, at=T0 - 5 * DAY)
    ledger.reuse_real_name(second, first, T0 - 5 * DAY)
    stored = [e for address in (first, second)
              for e in ledger.recorder.select_events(address)]
    assert any(e.topic.endswith("RealNameVerified") for e in stored)
    raw = b"".join(e.state for e in stored)
    for secret in IDENTITY.values():
        for form in (secret.encode(), json.dumps(secret).encode()):
            assert form not in raw, f"{secret!r} is stored in plain text"
    # ... and the sealed form still opens to the identity for those allowed to see it.
    address = ledger.repository.get(first)
    assert ledger.vault.open(address.subject_id, address.sealed_identity) == IDENTITY


# -- LZ-2 customs information per SKU ------------------------------------------------


@pytest.mark.parametrize("hs_code", ["420292", "4202920000", "85171300"])
def test_lz2_hs_code_of_six_to_ten_digits_is_accepted(ledger: ReturnsLedger,
                                                      hs_code: str) -> None:
    assert set_customs(ledger, hs_code=hs_code).profile["hs_code"] == hs_code


@pytest.mark.parametrize("hs_code", ["42029", "42029200001", "4202.92", "42029A",
                                     "420292\n", "٤٢٠٢٩٢", " 420292", "", None])
def test_lz2_malformed_hs_code_is_refused(ledger: ReturnsLedger, hs_code: object) -> None:
    with pytest.raises(InvalidValueError) as err:
        set_customs(ledger, hs_code=hs_code)  # type: ignore[arg-type]
    assert err.value.field == "hs_code"


def test_lz2_similar_product_code_is_accepted_and_profile_reused(ledger: ReturnsLedger) -> None:
    set_customs(ledger, similar=True)
    view = set_customs(ledger, hs_code="420299")
    assert (view.version, view.similar_product, view.profile["hs_code"]) == (2, False, "420299")
    assert ledger.get_customs_profile("seller-1", "SKU-1").profile["hs_code"] == "420299"


def test_lz2_missing_customs_skus_are_listed_in_the_route_facts(ledger: ReturnsLedger) -> None:
    ledger.register_return_address(
        seller_id="seller-1", platform="lazada", country="MY", address=CN_ADDRESS,
        effective_from=T0 - DAY, occurred_at=T0 - DAY)
    parcel = failed_lazada_parcel(ledger)
    decision = ledger.route_return(parcel, T0 + 6 * DAY).extra["decision"]
    assert decision.facts["customs_info_missing_skus"] == "SKU-1"


def test_lz2_sku_with_customs_info_is_not_listed(ledger: ReturnsLedger) -> None:
    ledger.register_return_address(
        seller_id="seller-1", platform="lazada", country="MY", address=CN_ADDRESS,
        effective_from=T0 - DAY, occurred_at=T0 - DAY)
    set_customs(ledger)
    set_customs(ledger, seller="seller-2", sku="SKU-9")  # another seller's SKU does not count
    parcel = failed_lazada_parcel(ledger)
    decision = ledger.route_return(parcel, T0 + 6 * DAY).extra["decision"]
    assert decision.facts["customs_info_missing_skus"] == ""


# -- LZ-3 order states --------------------------------------------------------------


def test_lz3_ready_to_ship_within_48_hours_is_accepted(ledger: ReturnsLedger) -> None:
    parcel = register(ledger, "lazada", site="PH", currency="PHP",
                      ready_to_ship_at=T0 + 48 * HOUR)
    assert ledger.get_parcel(parcel).status == "registered"


def test_lz3_ready_to_ship_after_48_hours_is_cancelled(ledger: ReturnsLedger) -> None:
    with pytest.raises(RuleViolationError) as err:
        register(ledger, "lazada", site="PH", currency="PHP",
                 ready_to_ship_at=T0 + 48 * HOUR + USEC)
    assert err.value.rule == "LZ-3"
    assert err.value.facts["deadline"] == (T0 + 48 * HOUR).isoformat()


def test_lz3_ready_to_ship_must_carry_a_time_zone(ledger: ReturnsLedger) -> None:
    with pytest.raises(InvalidValueError) as err:
        register(ledger, "lazada", site="PH", currency="PHP",
                 ready_to_ship_at=(T0 + HOUR).replace(tzinfo=None))
    assert err.value.field == "ready_to_ship_at"


def test_lz3_failure_reported_by_the_seller_is_not_settled(ledger: ReturnsLedger) -> None:
    parcel = register(ledger, "lazada", site="PH", currency="PHP")
    ledger.record_failed_delivery(parcel, "refused", T0 + 5 * DAY, reported_by="seller")
    failed = ledger.get_parcel_history(parcel)[-1]
    assert (failed.type, failed.data["rule"]) == ("DeliveryFailed", "LZ-3")
    assert failed.data["facts"]["settled"] == "false"


def test_lz3_failure_reported_by_the_carrier_is_settled(ledger: ReturnsLedger) -> None:
    parcel = register(ledger, "lazada", site="PH", currency="PHP")
    ledger.record_failed_delivery(parcel, "refused", T0 + 5 * DAY)
    assert ledger.get_parcel_history(parcel)[-1].data["facts"]["settled"] == "true"
