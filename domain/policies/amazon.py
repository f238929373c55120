"""Amazon seller-fulfilled and drop-shipped returns (AM-1 .. AM-4)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from domain.errors import RuleViolationError
from domain.money import Money
from domain.policies.base import AddressFacts, PlatformPolicy, RouteDecision, Ruling, later
from domain.values import Destination, Party, Remedy, Status

if TYPE_CHECKING:
    from domain.facts import ParcelFacts


def business_days_after(moment: datetime, days: int) -> datetime:
    """`days` working days (Monday to Friday) after `moment`, at the same time of day."""
    current = moment
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


class AmazonPolicy(PlatformPolicy):
    """Buyer-requested returns: confirm, label, receive, inspect, refund."""

    platform = "amazon"
    # Amazon's marketplaces (sellercentral), by country.
    sites = frozenset({"US", "CA", "MX", "BR", "GB", "IE", "DE", "FR", "IT", "ES", "NL", "BE",
                       "SE", "PL", "TR", "AE", "SA", "EG", "IN", "JP", "AU", "SG", "ZA"})

    def route(self, facts: ParcelFacts, addresses: list[AddressFacts],
              occurred_at: datetime, remedy: Remedy | None = None) -> RouteDecision:
        """AM-1 confirm the return; AM-2 the seller pays return shipping if at fault."""
        if facts.status is Status.DELIVERY_FAILED:
            return self.carrier_return(facts, addresses, occurred_at)
        if facts.status is not Status.RETURN_REQUESTED:
            raise RuleViolationError("AM-1", "the buyer must request the return first",
                                     status=facts.status)
        active = [a for a in addresses if a.platform == self.platform and a.active_at(occurred_at)]
        address = max(active, key=lambda a: a.effective_from) if active else None
        seller_fault = bool(facts.seller_fault)
        return RouteDecision(
            destination=Destination.SELLER_DOMESTIC, rule="AM-2", free_return=False,
            payer=Party.SELLER if seller_fault else Party.BUYER,
            address_id=address.address_id if address else None,
            facts={"return_reason": facts.return_reason or "",
                   "seller_fault": str(seller_fault).lower(),
                   "return_shipping_paid_by": "seller" if seller_fault else "buyer",
                   "address_id": address.address_id if address else ""},
            expected_back_by=later(occurred_at, days=self.settings.return_window_days),
        )

    def return_request_ruling(self, facts: ParcelFacts, delivered_at: datetime | None,
                              occurred_at: datetime, outside_window_accepted: bool,
                              ) -> Ruling | None:
        """AM-5: a return is requested within the window after delivery (default 30 days,
        Amazon's public seller policy; settings in PolicySettings); later only with the
        seller's explicit decision. The answer is due within 1 business day (`reply_by`)."""
        if delivered_at is None:
            return None  # not delivered (yet): no window has started
        days = self.settings.return_request_window_days
        window = later(delivered_at, days=days)
        reply_by = business_days_after(occurred_at, self.settings.return_reply_business_days)
        facts_out = {"delivered_at": delivered_at.isoformat(), "window_ends": window.isoformat(),
                     "window_days": str(days), "reply_by": reply_by.isoformat(),
                     "refund_within_business_days_of_receipt":
                         str(self.settings.refund_business_days)}
        if occurred_at <= window:
            return Ruling("AM-5", Party.NOBODY, {**facts_out, "outside_window": "false"})
        if not outside_window_accepted:
            raise RuleViolationError("AM-5", "the return is requested after the return window: "
                                     "it needs the seller's explicit decision",
                                     **facts_out, requested_at=occurred_at.isoformat())
        return Ruling("AM-5", Party.NOBODY, {**facts_out, "outside_window": "true",
                                             "seller_decision": "accepted"})

    def check_receipt(self, facts: ParcelFacts) -> None:
        """AM-1: a buyer's return travels on the label the seller provided."""
        if facts.return_reason is not None and facts.label_tracking_number is None:
            raise RuleViolationError("AM-1", "the seller provides a return label before the "
                                     "item comes back", status=facts.status)

    def refund_rules(self, facts: ParcelFacts) -> tuple[str, ...]:
        """AM-1 (received and inspected first, for a return) and AM-3 (the amount)."""
        return ("AM-1", "AM-3") if facts.return_reason is not None else ("AM-3",)

    def check_refund(self, facts: ParcelFacts, kinds: set[str], total: Money) -> None:
        """AM-1: the item is received and inspected before it is refunded."""
        if facts.status in (Status.RETURN_REQUESTED, Status.RETURNING) or (
                facts.status is Status.RECEIVED and facts.condition is None):
            raise RuleViolationError("AM-1", "the returned item must be received and "
                                     "inspected before the refund", status=facts.status)
