"""Helpers for the operations tests: TT-2 held parcels on any start date, the CLI in env."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from application.ledger import ReturnsLedger
from domain.money import Money
from domain.values import Line

DAY = timedelta(days=1)
HOLD = 14 * DAY  # TT-2 default hold


def held_parcel(ledger: ReturnsLedger, suffix: str, start: datetime) -> tuple[UUID, datetime]:
    """A TikTok Shop parcel in Thailand (no return address: TT-2 holds it) routed on day 5
    after `start`; answers its id and the hold's end."""
    parcel = ledger.register_parcel(
        platform="tiktok_shop", site="TH", seller_id=f"seller-{suffix}",
        order_id=f"ORDER-{suffix}", order_created_at=start, tracking_number=f"TN-{suffix}",
        lines=[Line("SKU-1", 1, Money.of("450.00", "THB"))],
        amount_paid=Money.of("450.00", "THB"), occurred_at=start + DAY).id
    ledger.record_delivery_attempt(parcel, "not at home", start + 3 * DAY)
    ledger.record_failed_delivery(parcel, "refused", start + 4 * DAY)
    ledger.route_return(parcel, start + 5 * DAY)
    return parcel, start + 5 * DAY + HOLD
