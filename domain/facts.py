"""What the platform rules may know about a parcel: a frozen snapshot of its state."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from domain.money import Money
from domain.values import Condition, Destination, Party, Remedy, Status


@dataclass(frozen=True)
class ParcelFacts:
    """The parcel as the policies see it; built by ReturnParcel.facts()."""

    platform: str
    site: str
    seller_id: str
    order_created_at: datetime
    status: Status
    goods_value: Money
    full_refund: Money
    has_tracking: bool
    skus: tuple[str, ...] = ()
    customs_skus: frozenset[str] = field(default_factory=frozenset)
    free_return_used: bool = False
    last_failed_attempt_at: datetime | None = None
    failure_reason: str | None = None
    hold_until: datetime | None = None
    destination: Destination | None = None
    return_failure_cause: str | None = None
    liability: Party | None = None
    return_reason: str | None = None
    seller_fault: bool | None = None
    unconditional_return: bool = False
    condition: Condition | None = None
    label_tracking_number: str | None = None
    remedy: Remedy | None = None
    refunds_committed: Money | None = None  # requested, approved or issued (AM-3, AM-4)

    @property
    def buyer_fault(self) -> bool:
        """The buyer's own reason (AM-2, CD-4) is the opposite of the seller's fault."""
        return self.seller_fault is False
