"""RL-3: a parcel's site, amounts and business times must be possible."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from application.ledger import ReturnsLedger
from domain.plausibility import CLOCK_TOLERANCE, ImplausibleValueError
from tests.integration.rules.conftest import DAY, HOUR, T0, failed_tiktok_parcel, register


@pytest.mark.parametrize("platform,site,currency", [
    ("tiktok_shop", "ZZ", "MYR"), ("tiktok_shop", "US", "USD"), ("lazada", "FR", "EUR"),
    ("lazada", "CN", "CNY"), ("cdiscount", "DE", "EUR"), ("amazon", "ZZ", "USD")])
def test_rl3_a_site_the_platform_does_not_serve_is_refused(
        ledger: ReturnsLedger, platform: str, site: str, currency: str) -> None:
    with pytest.raises(ImplausibleValueError) as refused:
        register(ledger, platform, site=site, currency=currency)
    assert (refused.value.field, refused.value.rule) == ("site", "RL-3")


@pytest.mark.parametrize("platform,site,currency", [
    ("tiktok_shop", "GB", "GBP"), ("tiktok_shop", "VN", "VND"), ("lazada", "ID", "IDR"),
    ("cdiscount", "FR", "EUR"), ("amazon", "JP", "JPY")])
def test_rl3_a_site_the_platform_serves_is_accepted(
        ledger: ReturnsLedger, platform: str, site: str, currency: str) -> None:
    register(ledger, platform, site=site, currency=currency, price="100")


def test_rl3_amount_paid_above_the_lines_is_refused(ledger: ReturnsLedger) -> None:
    from domain.money import Money
    from domain.values import Line

    with pytest.raises(ImplausibleValueError) as refused:
        ledger.register_parcel(
            platform="tiktok_shop", site="MY", seller_id="s1", order_id="O-1",
            order_created_at=T0, tracking_number="T-1",
            lines=[Line("SKU-1", 1, Money.of("450.00", "MYR"))],
            amount_paid=Money.of("500.00", "MYR"), occurred_at=T0 + DAY)
    assert (refused.value.field, refused.value.rule) == ("amount_paid", "RL-3")


def test_rl3_amount_paid_below_the_lines_is_a_discount_and_accepted(
        ledger: ReturnsLedger) -> None:
    from domain.money import Money
    from domain.values import Line

    parcel = ledger.register_parcel(
        platform="cdiscount", site="FR", seller_id="s1", order_id="O-1",
        order_created_at=T0, tracking_number="T-1",
        lines=[Line("SKU-1", 2, Money.of("225.00", "EUR"))],
        amount_paid=Money.of("440.00", "EUR"), shipping_paid=Money.of("9.90", "EUR"),
        occurred_at=T0 + DAY).id
    state = ledger.get_parcel(parcel)
    assert (state.amount_paid, state.shipping_paid) == (Money.of("440.00", "EUR"),
                                                         Money.of("9.90", "EUR"))


def test_rl3_registration_before_the_order_is_refused(ledger: ReturnsLedger) -> None:
    with pytest.raises(ImplausibleValueError) as refused:
        register(ledger, "tiktok_shop", occurred_at=T0 - HOUR)
    assert (refused.value.field, refused.value.rule) == ("occurred_at", "RL-3")


def test_rl3_an_event_dated_before_the_order_is_refused(ledger: ReturnsLedger) -> None:
    parcel = register(ledger, "amazon", site="US", currency="USD")
    with pytest.raises(ImplausibleValueError) as refused:
        ledger.record_delivery(parcel, T0 - DAY)  # a Delivered before the order
    assert refused.value.rule == "RL-3"
    ledger.record_delivery(parcel, T0 + 2 * DAY)
    assert ledger.get_parcel(parcel).status == "delivered"


def test_rl3_business_times_in_the_future_are_refused_beyond_the_tolerance(
        ledger: ReturnsLedger) -> None:
    now = datetime.now(UTC)
    with pytest.raises(ImplausibleValueError) as refused:
        register(ledger, "tiktok_shop", tracking="FUTURE", order_created_at=now,
                 occurred_at=now + CLOCK_TOLERANCE + timedelta(minutes=1))
    assert (refused.value.field, refused.value.rule) == ("occurred_at", "RL-3")
    parcel = register(ledger, "tiktok_shop", tracking="SKEWED", order_created_at=now,
                      occurred_at=now + timedelta(minutes=1))  # a clock a little ahead
    with pytest.raises(ImplausibleValueError):
        ledger.record_failed_delivery(parcel, "refused", now + timedelta(days=2))


def test_rl3_order_on_a_site_lazada_does_not_serve_is_refused(memory_ledger) -> None:
    with pytest.raises(ImplausibleValueError) as refused:
        memory_ledger.create_order(platform="lazada", site="FR", seller_id="s1",
                                   order_id="LZ-1", created_at=T0)
    assert refused.value.field == "site"


def test_rl3_failed_parcel_events_keep_their_order(ledger: ReturnsLedger) -> None:
    parcel = failed_tiktok_parcel(ledger)
    with pytest.raises(ImplausibleValueError):
        ledger.route_return(parcel, T0 - DAY)
