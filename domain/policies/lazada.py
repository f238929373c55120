"""Lazada cross-border returns through a seller ERP (LZ-1 .. LZ-3)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from domain.errors import RuleViolationError
from domain.policies.base import AddressFacts, PlatformPolicy, RouteDecision, Ruling, later
from domain.values import Destination, Party, Remedy, Status

if TYPE_CHECKING:
    from domain.facts import ParcelFacts

# LZ-1: sellers from these countries skip real-name verification.
REAL_NAME_EXEMPT_SELLER_COUNTRIES = frozenset({"KR", "JP"})


def real_name_required(address_country: str, seller_country: str | None) -> bool:
    """LZ-1: a CN return address needs the recipient's real name, unless KR/JP seller."""
    return address_country == "CN" and seller_country not in REAL_NAME_EXEMPT_SELLER_COUNTRIES


class LazadaPolicy(PlatformPolicy):
    """Lazada returns go to the seller's registered return address."""

    platform = "lazada"
    sites = frozenset({"MY", "TH", "VN", "PH", "SG", "ID"})  # Lazada's six
    uses_customs_facts = True  # LZ-2

    def check_registration(self, facts: ParcelFacts, ready_to_ship_at: datetime | None,
                           tracked_shipping: bool, tracking_url: str | None) -> None:
        """LZ-3: a pending order not ready to ship within 48 hours is cancelled."""
        if ready_to_ship_at is None:
            return
        deadline = later(facts.order_created_at, hours=self.settings.ready_to_ship_hours)
        if ready_to_ship_at > deadline:
            raise RuleViolationError(
                "LZ-3", "the order was not ready to ship in time and is cancelled",
                order_created_at=facts.order_created_at.isoformat(),
                ready_to_ship_at=ready_to_ship_at.isoformat(), deadline=deadline.isoformat())
        if ready_to_ship_at < facts.order_created_at:
            raise RuleViolationError("LZ-3", "ready to ship before the order was created",
                                     order_created_at=facts.order_created_at.isoformat())

    def delivery_failure_ruling(self, facts: ParcelFacts, reported_by: str) -> Ruling | None:
        """LZ-3: an order marked delivery failed by the seller is not settled."""
        settled = reported_by != "seller"
        return Ruling("LZ-3", Party.SELLER if not settled else Party.NOBODY,
                      {"reported_by": reported_by, "settled": str(settled).lower()})

    def route(self, facts: ParcelFacts, addresses: list[AddressFacts],
              occurred_at: datetime, remedy: Remedy | None = None) -> RouteDecision:
        """LZ-1: back to the seller's return address in force, verified if in CN."""
        if facts.status not in (Status.DELIVERY_FAILED, Status.RETURN_REQUESTED):
            raise RuleViolationError("LZ-1", "only a failed delivery or a return request "
                                     "is routed back", status=facts.status)
        active = [a for a in addresses if a.platform == self.platform and a.active_at(occurred_at)]
        if not active:
            raise RuleViolationError("LZ-1", "the seller has no Lazada return address in force",
                                     seller_id=facts.seller_id)
        address = max(active, key=lambda a: (a.effective_from, a.registered_at))
        needs_name = real_name_required(address.country, address.seller_country)
        if needs_name and address.real_name_status != "verified":
            raise RuleViolationError(
                "LZ-1", "returns to a CN address need the recipient's real-name verification",
                address_id=address.address_id, real_name_status=address.real_name_status)
        missing = sorted(sku for sku in facts.skus if sku not in facts.customs_skus)
        return RouteDecision(
            destination=Destination.SELLER_OVERSEAS if address.country != facts.site
            else Destination.SELLER_DOMESTIC,
            rule="LZ-1", free_return=False, payer=Party.SELLER,
            address_id=address.address_id,
            facts={"address_id": address.address_id, "address_country": address.country,
                   "real_name_required": str(needs_name).lower(),
                   "real_name_status": address.real_name_status,
                   "seller_country": address.seller_country or "",
                   # LZ-2: listed, not refused: the seller adds customs data later.
                   "customs_info_missing_skus": ",".join(missing)},
            expected_back_by=later(occurred_at, days=self.settings.return_window_days),
        )
