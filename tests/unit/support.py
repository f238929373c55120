"""Domain-only helpers: parcels built and commanded on the aggregate, no ledger, no store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from domain.money import Money
from domain.parcel import ReturnParcel
from domain.policies import Policies, PolicySettings
from domain.values import Line, RefundComponent

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


def policies(**thresholds: str) -> Policies:
    """The platform rules, with AM-4 thresholds such as MYR="100" where a test needs one."""
    settings = PolicySettings()
    limits = dict(settings.large_refund_thresholds)
    limits.update({currency: Decimal(value) for currency, value in thresholds.items()})
    return Policies(PolicySettings(large_refund_thresholds=limits))


def item(amount: str, currency: str) -> list[RefundComponent]:
    return [RefundComponent("item", Money.of(amount, currency))]


def parcel(rules: Policies, platform: str = "tiktok_shop", *, site: str = "MY",
           currency: str = "MYR", price: str = "500.00", shipping: str = "0.00",
           tracking: str | None = "TRK-1", **kwargs: Any) -> ReturnParcel:
    """A parcel of one line, paid in full, registered a day after the order."""
    unit = Money.of(price, currency)
    return ReturnParcel.register(
        platform=platform, site=site, seller_id="seller-1", order_id=f"ORDER-{tracking}",
        order_created_at=T0, tracking_number=tracking, lines=[Line("SKU-1", 1, unit)],
        amount_paid=unit, shipping_paid=Money.of(shipping, currency),
        policy=rules.for_platform(platform), occurred_at=T0 + DAY, **kwargs)


def types(events: list[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


def replayed(events: list[Any]) -> ReturnParcel:
    """The aggregate rebuilt from its events, as the repository does."""
    aggregate: Any = None
    for domain_event in events:
        aggregate = domain_event.mutate(aggregate)
    return aggregate
