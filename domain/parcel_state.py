"""What a parcel holds, what its rules may see of it, and which commands each state allows.

Shared by the parts of `ReturnParcel` (delivery and ends in `parcel.py`, returns in
`parcel_returns.py`, refunds in `parcel_refunds.py`, investigations in
`parcel_investigations.py`).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from eventsourcing.domain import Aggregate

from domain.errors import TransitionError
from domain.facts import ParcelFacts
from domain.money import Money
from domain.refunds import RefundBook
from domain.values import (
    TERMINAL,
    Condition,
    Destination,
    Line,
    Party,
    Remedy,
    Status,
    goods_value,
)

S = Status
NON_TERMINAL = frozenset(Status) - TERMINAL

# Which commands each state allows; terminal states appear nowhere, so they absorb.
ALLOWED: dict[str, frozenset[Status]] = {
    "record_delivery_attempt": frozenset({S.REGISTERED, S.REDELIVERING}),
    "record_delivery_failure": frozenset({S.REGISTERED, S.REDELIVERING}),
    "record_delivery": frozenset({S.REGISTERED, S.REDELIVERING}),
    "request_return": frozenset({S.REGISTERED, S.DELIVERED}),
    "route_return": frozenset({S.DELIVERY_FAILED, S.RETURN_REQUESTED, S.RETURN_FAILED}),
    "request_redelivery": frozenset({S.HELD, S.RETURNING}),
    "issue_return_label": frozenset({S.RETURNING}),
    "record_return_failure": frozenset({S.RETURNING}),
    "receive": frozenset({S.RETURNING}),
    "inspect": frozenset({S.RECEIVED}),
    "request_refund": NON_TERMINAL,
    "approve_refund": NON_TERMINAL,
    "reject_refund": NON_TERMINAL,
    # A payment that bounces or is charged back is a fact about money already issued:
    # it is recorded whatever became of the parcel, closed ones included (AM-3).
    "record_refund_failure": frozenset(Status),
    "reverse_refund": frozenset(Status),
    "dispose": frozenset({S.HELD, S.RETURN_FAILED}),
    "open_investigation": NON_TERMINAL,
    "resolve_investigation": NON_TERMINAL,
    "close": frozenset({S.RECEIVED, S.DELIVERED, S.AWAITING_REFUND}),
    "contact_buyer": frozenset({S.HELD}),  # TT-8
    "agree_replacement": frozenset({S.RECEIVED}),  # AM-6
    "void": NON_TERMINAL,  # RL-2
    "correct": NON_TERMINAL,  # RL-2
}


class ParcelEvent(Aggregate.Event):
    """Something that happened to a parcel: when (business time) and on whose word.

    Every event says which status it leads to (`leads_to`, or `status_after()` where it
    depends on the event): the aggregate takes its status from there, and so do the
    views, so a transition cannot be known to one and not the other. An event that
    changes more than the status says so in `change()`, which only assigns state: it
    runs again on every replay.
    """

    occurred_at: datetime
    actor: str
    leads_to: ClassVar[Status | None] = None
    # The import line the event came from ({"import", "line", "sha256"} of its raw record),
    # set on the stored event when an import recorded it; None on every other event.
    source: ClassVar[dict[str, Any] | None] = None

    def status_after(self) -> Status | None:
        """The parcel's status once this event is applied; None when it stays."""
        return self.leads_to

    def change(self, parcel: Any) -> None:
        """What the event changes on the parcel besides its status (nothing here)."""

    def apply(self, aggregate: Any) -> None:
        self.change(aggregate)
        status = self.status_after()
        if status is not None:
            aggregate.status = status


class ParcelDecision(ParcelEvent):
    """An event that records a decision: `rule` (the one that settled it, as always) and
    `rules` (every rule that decided it, in order, e.g. TT-1 then TT-3)."""

    rule: str | None
    rules: list[str]

    # Version 1, stored before decisions listed their rules, named only `rule`.
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        rule = state.get("rule")
        state["rules"] = [rule] if rule else []


class ParcelState:
    """The state every part of a parcel reads, and the snapshot its rules see."""

    platform: str
    site: str
    seller_id: str
    order_id: str
    order_created_at: datetime
    tracking_number: str | None
    lines: list[Line]
    amount_paid: Money
    shipping_paid: Money
    status: Status
    attempts: int
    last_failed_attempt_at: datetime | None
    failure_reason: str | None
    return_reason: str | None
    seller_fault: bool | None
    unconditional_return: bool
    return_shipping_cost: Money | None
    destination: Destination | None
    address_id: str | None
    route_rule: str | None
    payer: Party | None
    remedy: Remedy | None
    free_return_used: bool
    hold_until: datetime | None
    expected_back_by: datetime | None
    label_tracking_number: str | None
    return_failure_cause: str | None
    liability: Party | None
    condition: Condition | None
    restock: bool | None
    refunds: RefundBook
    delivered_at: datetime | None = None  # AM-5 (set by Delivered and Redelivered)
    investigations: dict[str, dict[str, str]]

    if TYPE_CHECKING:  # given by the library's Aggregate, which ReturnParcel also is
        def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None: ...

    @property
    def currency(self) -> str:
        return self.amount_paid.currency

    @property
    def goods_value(self) -> Money:
        """What the goods in the parcel are worth at their order prices."""
        return goods_value(self.lines, self.currency)

    @property
    def full_refund(self) -> Money:
        """Everything the buyer paid: items and shipping (CD-4)."""
        return self.amount_paid + self.shipping_paid

    @property
    def refunded_total(self) -> Money:
        """Money that has actually gone back to the buyer."""
        return self.refunds.issued_total

    def facts(self, customs_skus: frozenset[str] = frozenset()) -> ParcelFacts:
        """A frozen snapshot of what the rules may look at."""
        return ParcelFacts(
            platform=self.platform, site=self.site, seller_id=self.seller_id,
            order_created_at=self.order_created_at, status=self.status,
            goods_value=self.goods_value, full_refund=self.full_refund,
            has_tracking=self.tracking_number is not None,
            skus=tuple(line.sku for line in self.lines), customs_skus=customs_skus,
            free_return_used=self.free_return_used,
            last_failed_attempt_at=self.last_failed_attempt_at,
            failure_reason=self.failure_reason, hold_until=self.hold_until,
            destination=self.destination, return_failure_cause=self.return_failure_cause,
            liability=self.liability, return_reason=self.return_reason,
            seller_fault=self.seller_fault, unconditional_return=self.unconditional_return,
            condition=self.condition, label_tracking_number=self.label_tracking_number,
            remedy=self.remedy, refunds_committed=self.refunds.committed_total)

    def _allow(self, command: str) -> None:
        if self.status not in ALLOWED[command]:
            raise TransitionError(self.status, command)

    def check_allowed(self, command: str) -> None:
        """Refuse a command the parcel's state does not allow (terminal states allow none)."""
        self._allow(command)
