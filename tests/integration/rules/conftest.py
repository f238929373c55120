"""Helpers for the rule tests through the ledger (on the in-memory store): fixed business
times and parcels per platform."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from application.ledger import ReturnsLedger
from domain.money import Money
from domain.values import Line, RefundComponent
from tests.conftest import TEST_PERSONAL_DATA_KEY

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
USEC = timedelta(microseconds=1)
ADDRESS = {"lines": ["No. 8, Jalan Example"], "city": "Kuala Lumpur", "postcode": "50000"}


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


def item(amount: Money) -> RefundComponent:
    return RefundComponent("item", amount)


def shipping(amount: Money) -> RefundComponent:
    return RefundComponent("shipping", amount)


def return_shipping(amount: Money) -> RefundComponent:
    return RefundComponent("return_shipping", amount)


def register(ledger: ReturnsLedger, platform: str, *, site: str = "MY",
             seller: str = "seller-1", tracking: str = "TRK-1", currency: str = "MYR",
             price: str = "100.00", quantity: int = 1, shipping_paid: str | None = None,
             order_created_at: datetime = T0, **kwargs: Any) -> UUID:
    """A parcel of one line, paid in full, registered a day after the order."""
    unit = Money.of(price, currency)
    return ledger.register_parcel(
        platform=platform, site=site, seller_id=seller, order_id=f"ORDER-{tracking}",
        order_created_at=order_created_at, tracking_number=tracking,
        lines=[Line("SKU-1", quantity, unit)], amount_paid=unit * quantity,
        shipping_paid=Money.of(shipping_paid, currency) if shipping_paid else None,
        occurred_at=kwargs.pop("occurred_at", order_created_at + DAY), **kwargs).id


def tiktok_address(ledger: ReturnsLedger, *, registered_at: datetime,
                   effective_from: datetime | None = None, seller: str = "seller-1",
                   country: str = "MY") -> UUID:
    """A TikTok Shop overseas return address, registered on the platform at a business time."""
    return ledger.register_return_address(
        seller_id=seller, platform="tiktok_shop", country=country, address=ADDRESS,
        effective_from=effective_from if effective_from is not None else registered_at,
        occurred_at=registered_at).id


def failed_tiktok_parcel(ledger: ReturnsLedger, *, failed_at: datetime = T0 + 5 * DAY,
                         **kwargs: Any) -> UUID:
    """A TikTok Shop MY parcel whose delivery failed (refused by the buyer)."""
    parcel = register(ledger, "tiktok_shop", **kwargs)
    ledger.record_failed_delivery(parcel, "refused", failed_at)
    return parcel


def history_types(ledger: ReturnsLedger, parcel: UUID) -> list[str]:
    return [entry.type for entry in ledger.get_parcel_history(parcel)]


@pytest.fixture
def ledger_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The rules through the ledger need no database: the library's in-memory store, unless
    a test is about the store (`@pytest.mark.parametrize("ledger_env", ["sqlite"],
    indirect=True)`: a second ledger replays what the first stored)."""
    if getattr(request, "param", "memory") == "sqlite":
        return {"PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY,
                **request.getfixturevalue("sqlite_env")}
    return {"PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY,
            "PERSISTENCE_MODULE": "eventsourcing.popo"}


@pytest.fixture
def tiktok_eligible(ledger: ReturnsLedger) -> UUID:
    """A failed TikTok parcel whose seller had an overseas address long before the order."""
    tiktok_address(ledger, registered_at=T0 - 30 * DAY)
    return failed_tiktok_parcel(ledger)


@pytest.fixture
def returning_parcel(ledger: ReturnsLedger, tiktok_eligible: UUID) -> UUID:
    """A TikTok parcel on its free way back to the seller's overseas address."""
    ledger.route_return(tiktok_eligible, T0 + 6 * DAY)
    return tiktok_eligible


@pytest.fixture
def held_parcel(ledger: ReturnsLedger) -> UUID:
    """A TikTok parcel without an eligible address, held at the provider's warehouse."""
    parcel = failed_tiktok_parcel(ledger)
    ledger.route_return(parcel, T0 + 6 * DAY)
    return parcel
