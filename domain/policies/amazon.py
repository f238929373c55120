"""Amazon seller-fulfilled and drop-shipped returns (AM-1 .. AM-4)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from domain.errors import RuleViolationError
from domain.money import Money
from domain.policies.base import AddressFacts, PlatformPolicy, RouteDecision, later
from domain.values import Destination, Party, Remedy, Status

if TYPE_CHECKING:
    from domain.facts import ParcelFacts


class AmazonPolicy(PlatformPolicy):
    """Buyer-requested returns: confirm, label, receive, inspect, refund."""

    platform = "amazon"

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
