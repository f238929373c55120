"""Frozen answers of the ledger's queries: no aggregate leaves the application."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from domain.money import Money

# Event attributes shown elsewhere in a history entry, not in its data.
_ENVELOPE = {"originator_id", "originator_version", "timestamp", "occurred_at", "actor",
             "originator_topic"}


def plain(value: Any) -> Any:
    """Event data as JSON-ready values: Money as a dict, times as ISO 8601, exact decimals."""
    if isinstance(value, Money):
        return value.as_dict()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (UUID, Enum)):
        return str(value.value if isinstance(value, Enum) else value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


@dataclass(frozen=True)
class CommandResult:
    """What every command answers: the parcel's id, version, status and event position."""

    id: UUID
    version: int
    status: str
    position: int | None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HistoryEntry:
    """One recorded event of an aggregate, as an auditor reads it."""

    version: int
    type: str
    recorded_at: datetime
    occurred_at: datetime | None
    actor: str | None
    data: dict[str, Any]
    # Set when recorded after an event that happened later (a late carrier scan).
    late: dict[str, Any] | None = None

    @classmethod
    def of(cls, domain_event: Any) -> HistoryEntry:
        state = vars(domain_event)
        return cls(version=domain_event.originator_version,
                   type=type(domain_event).__name__,
                   recorded_at=domain_event.timestamp,
                   occurred_at=state.get("occurred_at"),
                   actor=state.get("actor"),
                   data={k: plain(v) for k, v in state.items() if k not in _ENVELOPE})


@dataclass(frozen=True)
class RefundView:
    reference: str
    status: str
    amount: Money
    components: list[dict[str, Any]]
    needs_approval: bool
    requested_by: str
    requested_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    issued_at: datetime | None
    issued_by: str | None = None
    released_by: str | None = None  # rejected, failed or reversed by
    released_at: datetime | None = None
    reason: str | None = None


@dataclass(frozen=True)
class ParcelView:
    """A parcel's current state."""

    id: UUID
    platform: str
    site: str
    seller_id: str
    store_id: str | None
    order_id: str
    order_created_at: datetime
    tracking_number: str | None
    status: str
    version: int
    lines: list[dict[str, Any]]
    amount_paid: Money
    shipping_paid: Money
    attempts: int
    destination: str | None
    address_id: str | None
    route_rule: str | None
    payer: str | None
    free_return_used: bool
    hold_until: datetime | None
    expected_back_by: datetime | None
    label_tracking_number: str | None
    return_failure_cause: str | None
    condition: str | None
    restock: bool | None
    refunded_total: Money
    refunds: list[RefundView]
    liability: str | None
    investigations: dict[str, dict[str, str]]
    registered_at: datetime
    recorded_at: datetime
    modified_at: datetime

    @classmethod
    def of(cls, parcel: Any) -> ParcelView:
        return cls(
            id=parcel.id, platform=parcel.platform, site=parcel.site,
            seller_id=parcel.seller_id, store_id=parcel.store_id, order_id=parcel.order_id,
            order_created_at=parcel.order_created_at, tracking_number=parcel.tracking_number,
            status=parcel.status.value, version=parcel.version,
            lines=[line.as_dict() for line in parcel.lines], amount_paid=parcel.amount_paid,
            shipping_paid=parcel.shipping_paid, attempts=parcel.attempts,
            destination=_value(parcel.destination), address_id=parcel.address_id,
            route_rule=parcel.route_rule, payer=_value(parcel.payer),
            free_return_used=parcel.free_return_used, hold_until=parcel.hold_until,
            expected_back_by=parcel.expected_back_by,
            label_tracking_number=parcel.label_tracking_number,
            return_failure_cause=parcel.return_failure_cause,
            condition=_value(parcel.condition), restock=parcel.restock,
            refunded_total=parcel.refunded_total,
            refunds=[RefundView(r.reference, r.status, r.amount,
                                [c.as_dict() for c in r.components], r.needs_approval,
                                r.requested_by, r.requested_at, r.approved_by,
                                r.approved_at, r.issued_at, r.issued_by, r.released_by,
                                r.released_at, r.reason) for r in parcel.refunds],
            liability=_value(parcel.liability),
            investigations={k: dict(v) for k, v in parcel.investigations.items()},
            registered_at=parcel.registered_at, recorded_at=parcel.created_on,
            modified_at=parcel.modified_on)


@dataclass(frozen=True)
class ReturnAddressView:
    """A seller's return address; identity data never leaves sealed."""

    id: UUID
    seller_id: str
    platform: str
    country: str
    address: dict[str, Any]
    effective_from: datetime
    registered_at: datetime
    deactivated_at: datetime | None
    real_name_status: str
    seller_country: str | None
    version: int


@dataclass(frozen=True)
class CustomsProfileView:
    """A SKU's customs data (LZ-2)."""

    seller_id: str
    sku: str
    profile: dict[str, Any]
    similar_product: bool
    version: int


def _value(member: Enum | None) -> str | None:
    return None if member is None else str(member.value)
