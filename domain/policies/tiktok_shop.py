"""TikTok Shop, Southeast Asia cross-border: failed deliveries (TT-1 .. TT-7)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from domain.errors import RuleViolationError
from domain.policies.base import AddressFacts, PlatformPolicy, RouteDecision, later
from domain.values import Destination, Party, Remedy, Status

if TYPE_CHECKING:
    from domain.facts import ParcelFacts


class TikTokShopPolicy(PlatformPolicy):
    """Where a failed TikTok Shop delivery goes, and who pays."""

    platform = "tiktok_shop"
    sites = frozenset({"MY", "TH", "VN", "PH", "SG", "ID", "GB"})  # SEA cross-border and UK

    def route(self, facts: ParcelFacts, addresses: list[AddressFacts],
              occurred_at: datetime, remedy: Remedy | None = None) -> RouteDecision:
        """TT-1 eligible -> the seller's overseas address (TT-1 and TT-3), else the
        warehouse's hold (TT-1 and TT-2); a failed return goes back to the warehouse to be
        destroyed or abandoned (TT-5: no hold, no redelivery)."""
        if facts.status not in (Status.DELIVERY_FAILED, Status.RETURN_FAILED):
            raise RuleViolationError("TT-1", "only a failed delivery is routed back",
                                     status=facts.status)
        if facts.status is Status.RETURN_FAILED:
            return RouteDecision(
                destination=Destination.PROVIDER_WAREHOUSE, rule="TT-5", free_return=False,
                payer=Party.NOBODY, rules=("TT-5",),
                facts={"return_failed": "true", "cause": facts.return_failure_cause or "",
                       "end": "destroyed_or_abandoned", "redelivery": "none"})
        address, why = self.eligible_address(facts, addresses, occurred_at)
        window_from = facts.last_failed_attempt_at or occurred_at
        if address is None:
            return RouteDecision(
                destination=Destination.PROVIDER_WAREHOUSE, rule="TT-2", free_return=False,
                payer=Party.NOBODY, facts={**why, "hold_days": str(self.settings.hold_days)},
                hold_until=later(occurred_at, days=self.settings.hold_days),
                rules=("TT-1", "TT-2"))
        free = not facts.free_return_used
        return RouteDecision(
            destination=Destination.SELLER_OVERSEAS,
            rule="TT-3" if free else "TT-1",
            rules=("TT-1", "TT-3"),
            free_return=free,
            payer=Party.PLATFORM if free else Party.SELLER,
            facts={**why, "free_return_used_before": str(facts.free_return_used).lower(),
                   "last_failed_attempt_at": window_from.isoformat(),
                   "return_window_days": str(self.settings.return_window_days)},
            address_id=address.address_id,
            expected_back_by=later(window_from, days=self.settings.return_window_days),
        )

    def eligible_address(self, facts: ParcelFacts, addresses: list[AddressFacts],
                         occurred_at: datetime | None = None,
                         ) -> tuple[AddressFacts | None, dict[str, str]]:
        """TT-1: an address in the site's country, registered and effective strictly
        before the order was created, and still kept (not deactivated) when the delivery
        failed: the latest failed attempt, by business time (TT-7)."""
        order_at = facts.order_created_at
        failed_at = facts.last_failed_attempt_at or occurred_at or order_at
        base = {"order_created_at": order_at.isoformat(), "site": facts.site,
                "delivery_failure_reason": facts.failure_reason or ""}
        candidates = [a for a in addresses
                      if a.platform == self.platform and a.country == facts.site]
        if not candidates:
            return None, {**base, "ineligible_because": "no overseas return address in "
                                                         f"{facts.site}"}
        in_time = [a for a in candidates
                   if a.registered_at < order_at and a.effective_from < order_at]
        eligible = [a for a in in_time
                    if a.deactivated_at is None or a.deactivated_at > failed_at]
        if in_time and not eligible:
            last = max(in_time, key=lambda a: a.deactivated_at or failed_at)
            return None, {**base, "ineligible_because":
                          "the address was deactivated before the delivery failed",
                          "address_id": last.address_id,
                          "address_deactivated_at": (last.deactivated_at or failed_at)
                          .isoformat(),
                          "delivery_failed_at": failed_at.isoformat()}
        if not eligible:
            first = min(candidates, key=lambda a: a.registered_at)
            return None, {**base, "ineligible_because":
                          "address registered or effective only at or after order creation",
                          "address_id": first.address_id,
                          "address_registered_at": first.registered_at.isoformat(),
                          "address_effective_from": first.effective_from.isoformat()}
        chosen = max(eligible, key=lambda a: (a.effective_from, a.registered_at))
        return chosen, {**base, "address_id": chosen.address_id,
                        "address_registered_at": chosen.registered_at.isoformat(),
                        "address_effective_from": chosen.effective_from.isoformat()}
