"""RL-3 plausibility: what a parcel says about itself must be possible.

- Its site is one its platform serves (each policy's `sites`).
- `amount_paid` is what the buyer paid for the goods, shipping excluded (shipping is
  `shipping_paid`): it cannot exceed the lines at their order prices (vouchers and
  discounts make it lower, never higher). Everything the buyer paid, the CD-4 "full
  refund, shipping included", is `amount_paid + shipping_paid`.
- Business times are not before the order was created, nor in the future beyond
  CLOCK_TOLERANCE (clocks of carriers and platforms differ a little). The domain reads
  no clock: the ledger gives `now` when it saves.

Every refusal is an ImplausibleValueError: the field and the rule (a 422 in the API).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from domain.errors import RefusedValueError
from domain.money import Money

RULE = "RL-3"
CLOCK_TOLERANCE = timedelta(minutes=5)


class ImplausibleValueError(RefusedValueError):
    """A value that cannot be true (RL-3): names the field and the rule."""

    def __init__(self, field: str, detail: str, **facts: Any) -> None:
        super().__init__(field, RULE, detail, **facts)


def check_site(platform: str, site: str, sites: frozenset[str]) -> None:
    if sites and site not in sites:
        raise ImplausibleValueError("site", f"{platform} does not serve the site {site}; it "
                                    f"serves {', '.join(sorted(sites))}", site=site)


def check_amounts(amount_paid: Money, goods_value: Money, field: str = "amount_paid") -> None:
    """`field` is the one given wrong: amount_paid, or the lines when they are corrected."""
    if amount_paid.amount > goods_value.amount:
        raise ImplausibleValueError(
            field, "amount_paid is what was paid for the goods, shipping excluded: "
            f"{amount_paid} cannot exceed the lines' value {goods_value}",
            amount_paid=amount_paid, goods_value=goods_value)


def check_not_before(field: str, moment: datetime, order_created_at: datetime) -> None:
    if moment < order_created_at:
        raise ImplausibleValueError(field, "a business time before the order was created",
                                    order_created_at=order_created_at.isoformat())


def check_not_in_future(events: Iterable[Any], now: datetime) -> None:
    """No event to be saved happened later than `now` plus the clocks' tolerance."""
    latest = now + CLOCK_TOLERANCE
    for event in events:
        occurred_at = getattr(event, "occurred_at", None)
        if isinstance(occurred_at, datetime) and occurred_at > latest:
            raise ImplausibleValueError("occurred_at", "a business time in the future",
                                        occurred_at=occurred_at.isoformat(),
                                        now=now.isoformat())
