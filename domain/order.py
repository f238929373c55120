"""Orders before a parcel can come back: Lazada's order states (LZ-3) and Cdiscount's
order acceptance (CD-1), each with the deadline that business time sets.

An Order is its own aggregate, apart from the ReturnParcel: it lives before shipping
(pending, accepted, ...), while a parcel is registered once it shipped. The deadlines
(48 hours to be ready to ship, 48 hours to accept) count from the order's creation in
business time; the automatic outcome (cancellation, with the fine recorded for LZ-3) is
made by the deadlines run through `expire`, which decides nothing when the order has
moved on, so running it twice records nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidValueError, RuleViolationError, TransitionError
from domain.money import Money
from domain.plausibility import check_not_before, check_site
from domain.values import aware, country, text

ORDER_NAMESPACE = uuid5(NAMESPACE_URL, "https://returns-ledger.invalid/order")


class OrderStatus(StrEnum):
    PENDING = "pending"  # LZ-3: the platform verified the payment
    READY_TO_SHIP = "ready_to_ship"  # LZ-3
    AWAITING_ACCEPTANCE = "awaiting_acceptance"  # CD-1
    ACCEPTED = "accepted"  # CD-1: the buyer is charged
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    DELIVERY_FAILED = "delivery_failed"
    REFUSED = "refused"  # CD-1: the seller refused the order
    CANCELLED = "cancelled"


ORDER_TERMINAL = frozenset({OrderStatus.REFUSED, OrderStatus.CANCELLED})
# The stage each platform's order starts in, and the rule that governs its deadline.
FIRST_STAGE = {"lazada": (OrderStatus.PENDING, "LZ-3"),
               "cdiscount": (OrderStatus.AWAITING_ACCEPTANCE, "CD-1")}
# LZ-3: "shipped" is set by the system (LGS) and "delivered" from the carrier's data.
SYSTEM_REPORTERS = frozenset({"system", "lgs", "carrier", "platform"})


@dataclass(frozen=True)
class OrderDeadlines:
    """The hours the seeds give (exact numbers, not "about"); the ledger takes LZ-3's from
    POLICY_READY_TO_SHIP_HOURS, like the registration check does."""

    ready_to_ship_hours: int = 48  # LZ-3
    acceptance_hours: int = 48  # CD-1
    reply_hours: int = 48  # CD-3
    reply_preferred_hours: int = 24  # CD-3

    def stage_hours(self, rule: str) -> int:
        return self.ready_to_ship_hours if rule == "LZ-3" else self.acceptance_hours


def order_id_for(platform: str, order_id: str) -> UUID:
    """The same platform and order number always name the same order."""
    return uuid5(ORDER_NAMESPACE, f"{platform}:{order_id}")


def _decision(rule: str, **facts: Any) -> dict[str, Any]:
    return {"rule": rule, "rules": [rule], "facts": {k: str(v) for k, v in facts.items()}}


class Order(Aggregate):
    """One marketplace order from payment to shipping and delivery (LZ-3, CD-1)."""

    class Event(Aggregate.Event):
        occurred_at: datetime
        actor: str

    class OrderCreated(Event, Aggregate.Created):
        platform: str
        site: str
        seller_id: str
        order_id: str
        status: str
        due_at: datetime
        rule: str
        rules: list[str]
        commission: Money | None

        # Version 1, stored before creations listed their rules, named only `rule`.
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["rules"] = [state["rule"]]

    class ReadyToShip(Event):
        rule: str
        rules: list[str]
        facts: dict[str, str]

    class OrderAccepted(Event):
        rule: str
        rules: list[str]
        facts: dict[str, str]

    class OrderRefused(Event):
        reason: str
        rule: str
        rules: list[str]
        facts: dict[str, str]

    class OrderShipped(Event):
        reported_by: str
        rule: str
        rules: list[str]
        facts: dict[str, str]

    class OrderDelivered(Event):
        reported_by: str
        rule: str
        rules: list[str]
        facts: dict[str, str]

    class OrderDeliveryFailed(Event):
        reported_by: str
        rule: str
        rules: list[str]
        facts: dict[str, str]

    class OrderCancelledAutomatically(Event):
        rule: str
        rules: list[str]
        facts: dict[str, str]

    class OrderCancelledByBuyer(Event):
        rule: str
        rules: list[str]
        facts: dict[str, str]

    class BuyerCancellationRequested(Event):
        rule: str
        rules: list[str]
        facts: dict[str, str]

    class BuyerCancellationAnswered(Event):
        accepted: bool
        rule: str
        rules: list[str]
        facts: dict[str, str]

    @staticmethod
    def create_id(platform: str, order_id: str) -> UUID:
        return order_id_for(platform, order_id)

    @event(OrderCreated)
    def __init__(self, *, platform: str, site: str, seller_id: str, order_id: str,
                 status: str, due_at: datetime, rule: str, rules: list[str],
                 commission: Money | None, occurred_at: datetime, actor: str) -> None:
        self.platform = platform
        self.site = site
        self.seller_id = seller_id
        self.order_id = order_id
        self.created_at = occurred_at
        self.status = OrderStatus(status)
        self.due_at: datetime | None = due_at
        self.stage_rule = rule
        self.commission = commission
        self.cancellation_requested = False
        self.settled: bool | None = None
        self.fined = False
        self.commission_refunded: bool | None = None

    @classmethod
    def create(cls, *, platform: str, site: str, seller_id: str, order_id: str,
               created_at: datetime, deadlines: OrderDeadlines,
               commission: Money | None = None, sites: frozenset[str] = frozenset(),
               actor: str = "system") -> Order:
        """The platform verified the payment (LZ-3) or passed the order on (CD-1)."""
        if platform not in FIRST_STAGE:
            raise InvalidValueError("platform", "order stages are kept for lazada (LZ-3) and "
                                    "cdiscount (CD-1)")
        status, rule = FIRST_STAGE[platform]
        check_site(platform, country(site, "site"), sites)  # RL-3
        created_at = aware(created_at, "created_at")
        if commission is not None and commission.is_negative:
            raise InvalidValueError("commission", "must not be negative")
        return cls(platform=platform, site=country(site, "site"),
                   seller_id=text(seller_id, "seller_id"),
                   order_id=text(order_id, "order_id", 64), status=status.value,
                   due_at=created_at + timedelta(hours=deadlines.stage_hours(rule)),
                   rule=rule, rules=[rule], commission=commission, occurred_at=created_at,
                   actor=actor)

    # -- shared checks ----------------------------------------------------------------
    def _expect(self, command: str, *statuses: OrderStatus) -> None:
        if self.status not in statuses:
            raise TransitionError(self.status, command)

    def _at(self, occurred_at: datetime) -> datetime:
        occurred_at = aware(occurred_at, "occurred_at")
        check_not_before("occurred_at", occurred_at, self.created_at)  # RL-3
        return occurred_at

    def _in_time(self, occurred_at: datetime) -> None:
        if self.due_at is None:  # the first stage has one from the creation, always
            raise RuleViolationError(self.stage_rule, f"the order has no {self.stage_rule} "
                                     "deadline to decide by", status=self.status)
        if occurred_at > self.due_at:
            raise RuleViolationError(
                self.stage_rule, f"the {self.stage_rule} deadline has passed: the order is "
                "cancelled automatically", deadline=self.due_at.isoformat(),
                occurred_at=occurred_at.isoformat())

    def is_delayed(self, now: datetime) -> bool:
        """LZ-3 "delayed": still in its first stage after that stage's deadline."""
        return self.due_at is not None and now > self.due_at

    # -- LZ-3 -----------------------------------------------------------------------------
    def mark_ready_to_ship(self, occurred_at: datetime, actor: str = "system") -> None:
        """LZ-3: the seller sets the pending order ready to ship, within 48 hours."""
        self._expect("mark_ready_to_ship", OrderStatus.PENDING)
        at = self._at(occurred_at)
        self._in_time(at)
        self._ready_to_ship(**_decision("LZ-3", deadline=self.due_at.isoformat()
                                        if self.due_at else ""), occurred_at=at, actor=actor)

    @event(ReadyToShip)
    def _ready_to_ship(self, rule: str, rules: list[str], facts: dict[str, str],
                       occurred_at: datetime, actor: str) -> None:
        self.status = OrderStatus.READY_TO_SHIP
        self.due_at = None

    def record_shipped(self, occurred_at: datetime, reported_by: str,
                       actor: str = "system") -> None:
        """LZ-3: the system sets "shipped" when the parcel reaches the destination country's
        logistics centre; CD-1: an accepted Cdiscount order ships."""
        reported_by = text(reported_by, "reported_by", 50)
        at = self._at(occurred_at)
        if self.platform == "lazada":
            self._expect("record_shipped", OrderStatus.READY_TO_SHIP)
            if reported_by not in SYSTEM_REPORTERS:
                raise RuleViolationError("LZ-3", "\"shipped\" is set by Lazada's logistics "
                                         "(LGS), not by the seller", reported_by=reported_by)
            decision = _decision("LZ-3", reported_by=reported_by)
        else:
            self._expect("record_shipped", OrderStatus.ACCEPTED)
            decision = _decision("CD-1", reported_by=reported_by)
        self._shipped(reported_by=reported_by, **decision, occurred_at=at, actor=actor)

    @event(OrderShipped)
    def _shipped(self, reported_by: str, rule: str, rules: list[str], facts: dict[str, str],
                 occurred_at: datetime, actor: str) -> None:
        self.status = OrderStatus.SHIPPED

    def record_delivered(self, occurred_at: datetime, reported_by: str,
                         actor: str = "system") -> None:
        """LZ-3: "delivered" comes from the carrier's information; settled next cycle."""
        self._expect("record_delivered", OrderStatus.SHIPPED)
        reported_by = text(reported_by, "reported_by", 50)
        at = self._at(occurred_at)
        if self.platform == "lazada" and reported_by not in SYSTEM_REPORTERS:
            raise RuleViolationError("LZ-3", "\"delivered\" is set from the carrier's "
                                     "information, not by the seller", reported_by=reported_by)
        rule = "LZ-3" if self.platform == "lazada" else "CD-1"
        self._delivered(reported_by=reported_by,
                        **_decision(rule, reported_by=reported_by, settled="next_cycle"),
                        occurred_at=at, actor=actor)

    @event(OrderDelivered)
    def _delivered(self, reported_by: str, rule: str, rules: list[str], facts: dict[str, str],
                   occurred_at: datetime, actor: str) -> None:
        self.status = OrderStatus.DELIVERED
        self.settled = True

    def record_delivery_failed(self, occurred_at: datetime, reported_by: str,
                               actor: str = "system") -> None:
        """LZ-3: delivery failed; a seller who marks it so is not settled, even when the
        goods were delivered on time."""
        self._expect("record_delivery_failed", OrderStatus.SHIPPED, OrderStatus.DELIVERED)
        reported_by = text(reported_by, "reported_by", 50)
        at = self._at(occurred_at)
        by_seller = reported_by == "seller"
        rule = "LZ-3" if self.platform == "lazada" else "CD-1"
        self._delivery_failed(
            reported_by=reported_by,
            **_decision(rule, reported_by=reported_by, settled="false",
                        marked_by_seller=str(by_seller).lower(),
                        delivered_before=str(self.status is OrderStatus.DELIVERED).lower()),
            occurred_at=at, actor=actor)

    @event(OrderDeliveryFailed)
    def _delivery_failed(self, reported_by: str, rule: str, rules: list[str],
                         facts: dict[str, str], occurred_at: datetime, actor: str) -> None:
        self.status = OrderStatus.DELIVERY_FAILED
        self.settled = False

    # -- CD-1 -----------------------------------------------------------------------------
    def accept(self, occurred_at: datetime, actor: str = "system") -> None:
        """CD-1: the seller accepts within 48 hours; the buyer is then charged."""
        self._expect("accept", OrderStatus.AWAITING_ACCEPTANCE)
        at = self._at(occurred_at)
        self._in_time(at)
        self._accepted(**_decision("CD-1", buyer_charged="true",
                                   deadline=self.due_at.isoformat() if self.due_at else ""),
                       occurred_at=at, actor=actor)

    @event(OrderAccepted)
    def _accepted(self, rule: str, rules: list[str], facts: dict[str, str],
                  occurred_at: datetime, actor: str) -> None:
        self.status = OrderStatus.ACCEPTED
        self.due_at = None

    def refuse(self, reason: str, occurred_at: datetime, actor: str = "system") -> None:
        """CD-1: a refusal lowers the seller's acceptance rate; the commission is kept."""
        self._expect("refuse", OrderStatus.AWAITING_ACCEPTANCE)
        at = self._at(occurred_at)
        self._in_time(at)
        self._refused(reason=text(reason, "reason"),
                      **_decision("CD-1", acceptance_rate_lowered="true",
                                  commission_refunded="false",
                                  commission=self.commission or ""),
                      occurred_at=at, actor=actor)

    @event(OrderRefused)
    def _refused(self, reason: str, rule: str, rules: list[str], facts: dict[str, str],
                 occurred_at: datetime, actor: str) -> None:
        self.status = OrderStatus.REFUSED
        self.due_at = None
        self.commission_refunded = False

    def buyer_cancels(self, occurred_at: datetime, actor: str = "system") -> None:
        """CD-1: before acceptance the order is just cancelled; after acceptance or
        shipping the seller accepts or refuses the cancellation."""
        at = self._at(occurred_at)
        if self.platform != "cdiscount":
            raise RuleViolationError("CD-1", "buyer cancellations are kept for Cdiscount "
                                     "orders", platform=self.platform)
        if self.status is OrderStatus.AWAITING_ACCEPTANCE:
            self._cancelled_by_buyer(**_decision("CD-1", before_acceptance="true",
                                                 buyer_charged="false"),
                                     occurred_at=at, actor=actor)
            return
        self._expect("buyer_cancels", OrderStatus.ACCEPTED, OrderStatus.SHIPPED)
        if self.cancellation_requested:
            raise TransitionError("cancellation requested", "buyer_cancels")
        self._cancellation_requested(**_decision("CD-1", status=self.status.value),
                                     occurred_at=at, actor=actor)

    @event(OrderCancelledByBuyer)
    def _cancelled_by_buyer(self, rule: str, rules: list[str], facts: dict[str, str],
                            occurred_at: datetime, actor: str) -> None:
        self.status = OrderStatus.CANCELLED
        self.due_at = None

    @event(BuyerCancellationRequested)
    def _cancellation_requested(self, rule: str, rules: list[str], facts: dict[str, str],
                                occurred_at: datetime, actor: str) -> None:
        self.cancellation_requested = True

    def answer_cancellation(self, accept: bool, occurred_at: datetime,
                            actor: str = "system") -> None:
        """CD-1: an accepted cancellation cancels the order and refunds the commission."""
        if not self.cancellation_requested:
            raise TransitionError(self.status, "answer_cancellation (none requested)")
        at = self._at(occurred_at)
        self._cancellation_answered(
            accepted=bool(accept),
            **_decision("CD-1", accepted=str(bool(accept)).lower(),
                        commission_refunded=str(bool(accept)).lower(),
                        commission=self.commission or ""),
            occurred_at=at, actor=actor)

    @event(BuyerCancellationAnswered)
    def _cancellation_answered(self, accepted: bool, rule: str, rules: list[str],
                               facts: dict[str, str], occurred_at: datetime,
                               actor: str) -> None:
        self.cancellation_requested = False
        if accepted:
            self.status = OrderStatus.CANCELLED
            self.commission_refunded = True

    # -- the deadlines run ----------------------------------------------------------------
    def expire(self, now: datetime, actor: str = "deadlines") -> bool:
        """Cancel the order once its first stage's deadline has passed (LZ-3 with the
        seller's fine, CD-1), at the run's business time; False, recording nothing, when
        there is nothing to cancel. The deadline itself still belongs to the seller."""
        now = aware(now, "now")
        if self.due_at is None or now <= self.due_at or self.status not in (
                OrderStatus.PENDING, OrderStatus.AWAITING_ACCEPTANCE):
            return False
        if self.stage_rule == "LZ-3":
            decision = _decision("LZ-3", deadline=self.due_at.isoformat(), fined="true",
                                 fine_borne_by="seller", not_ready_to_ship="true")
        else:
            decision = _decision("CD-1", deadline=self.due_at.isoformat(),
                                 not_accepted="true", buyer_charged="false")
        self._cancelled_automatically(**decision, occurred_at=now, actor=actor)
        return True

    @event(OrderCancelledAutomatically)
    def _cancelled_automatically(self, rule: str, rules: list[str], facts: dict[str, str],
                                 occurred_at: datetime, actor: str) -> None:
        self.status = OrderStatus.CANCELLED
        self.fined = facts.get("fined") == "true"
        self.due_at = None
