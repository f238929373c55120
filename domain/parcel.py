"""ReturnParcel: one physical package of one order, and everything that happens to it.

The aggregate is written in parts: what it holds and which state allows which command
(`parcel_state.py`), its return (`parcel_returns.py`), refunds (`parcel_refunds.py`) and
investigations (`parcel_investigations.py`); registration, delivery and the parcel's
end are here. Every event is nested in ReturnParcel, so each keeps its stored topic
(`domain.parcel:ReturnParcel.<Event>`) whichever part declares it: the library
redefines the parts' events on the aggregate class.

Two ways of recording, one rule: here the library's `@event` methods assign the state
(the decorator only works on methods of the aggregate class itself); in the parts, the
commands record with `trigger_event` and each event's `change()` assigns the state.
Either way the public method decides and the recording only assigns, since it runs
again on every replay, and the status comes from the event (`ParcelEvent`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.copying import CheapCopy
from domain.errors import InvalidValueError, RuleViolationError
from domain.money import Money
from domain.parcel_corrections import ParcelCorrections
from domain.parcel_investigations import ParcelInvestigations
from domain.parcel_refunds import ParcelRefunds
from domain.parcel_remedies import ParcelRemedies
from domain.parcel_returns import ParcelReturns
from domain.parcel_state import ALLOWED, NON_TERMINAL, ParcelDecision, ParcelEvent
from domain.plausibility import check_amounts, check_not_before, check_site
from domain.policies.base import PlatformPolicy
from domain.refunds import RefundBook
from domain.values import (
    Condition,
    Destination,
    DisposalKind,
    FailureReason,
    Line,
    Party,
    Platform,
    Remedy,
    Status,
    aware,
    choice,
    country,
    goods_value,
    latest,
    text,
)

__all__ = ["ALLOWED", "NON_TERMINAL", "PARCEL_NAMESPACE", "ReturnParcel", "parcel_id"]

PARCEL_NAMESPACE = uuid5(NAMESPACE_URL, "https://returns-ledger.invalid/parcel")


def parcel_id(platform: str, tracking_number: str | None, order_id: str | None = None) -> UUID:
    """The same platform and tracking number always name the same parcel."""
    key = tracking_number if tracking_number else f"order:{order_id}"
    return uuid5(PARCEL_NAMESPACE, f"{platform}:{key}")


class ReturnParcel(ParcelReturns, ParcelRefunds, ParcelInvestigations, ParcelCorrections,
                   ParcelRemedies, CheapCopy, Aggregate):
    """A parcel that may come back: its delivery, return, refunds and end."""

    class Event(ParcelEvent):
        """An event of a ReturnParcel (`leads_to`, `change`: see ParcelEvent)."""

    class ParcelRegistered(Event, Aggregate.Created):
        leads_to = Status.REGISTERED
        platform: str
        site: str
        seller_id: str
        store_id: str | None
        order_id: str
        order_created_at: datetime
        tracking_number: str | None
        lines: list[dict[str, Any]]
        amount_paid: Money
        shipping_paid: Money
        tracked_shipping: bool
        tracking_url: str | None

        def goods_value(self) -> Money:
            """What the goods in the parcel are worth at their order prices."""
            return goods_value([Line.from_dict(line) for line in self.lines],
                               self.amount_paid.currency)

    class DeliveryAttemptFailed(Event):
        attempt_number: int
        reason: str

    class DeliveryFailed(Event, ParcelDecision):
        leads_to = Status.DELIVERY_FAILED
        reason: str
        reported_by: str
        rule: str | None
        facts: dict[str, str]

    class Delivered(Event):
        leads_to = Status.DELIVERED

    class Redelivered(Event):
        leads_to = Status.DELIVERED

    class Destroyed(Event, ParcelDecision):
        leads_to = Status.DESTROYED
        rule: str
        liability: str
        loss: Money
        facts: dict[str, str]

    class Abandoned(Event, ParcelDecision):
        leads_to = Status.ABANDONED
        rule: str
        liability: str
        loss: Money
        facts: dict[str, str]

    class ParcelClosed(Event):
        leads_to = Status.CLOSED

    @staticmethod
    def create_id(platform: str, tracking_number: str | None, order_id: str) -> UUID:
        return parcel_id(platform, tracking_number, order_id)

    def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None:
        """A decision lists the rules that decided it; one decided by its `rule` alone
        lists that one."""
        occurred_at = kwargs.get("occurred_at")
        if isinstance(occurred_at, datetime):  # RL-3: nothing happens before the order
            check_not_before("occurred_at", occurred_at, self.order_created_at)
        if issubclass(event_class, ParcelDecision) and "rules" not in kwargs:
            rule = kwargs.get("rule")
            kwargs["rules"] = [rule] if rule else []
        super().trigger_event(event_class, **kwargs)

    @event(ParcelRegistered)
    def __init__(self, *, platform: str, site: str, seller_id: str, store_id: str | None,
                 order_id: str, order_created_at: datetime, tracking_number: str | None,
                 lines: list[dict[str, Any]], amount_paid: Money, shipping_paid: Money,
                 tracked_shipping: bool, tracking_url: str | None, occurred_at: datetime,
                 actor: str) -> None:
        self.platform = platform
        self.site = site
        self.seller_id = seller_id
        self.store_id = store_id
        self.order_id = order_id
        self.order_created_at = order_created_at
        self.tracking_number = tracking_number
        self.lines = [Line.from_dict(line) for line in lines]
        self.amount_paid = amount_paid
        self.shipping_paid = shipping_paid
        self.tracked_shipping = tracked_shipping
        self.tracking_url = tracking_url
        self.registered_at = occurred_at
        self.status = Status.REGISTERED
        self.attempts = 0
        self.last_failed_attempt_at: datetime | None = None
        self.failure_reason: str | None = None
        self.return_reason: str | None = None
        self.seller_fault: bool | None = None
        self.unconditional_return = False
        self.return_shipping_cost: Money | None = None
        self.destination: Destination | None = None
        self.address_id: str | None = None
        self.route_rule: str | None = None
        self.payer: Party | None = None
        self.remedy: Remedy | None = None
        self.free_return_used = False
        self.hold_until: datetime | None = None
        self.expected_back_by: datetime | None = None
        self.label_tracking_number: str | None = None
        self.return_failure_cause: str | None = None
        self.liability: Party | None = None
        self.condition: Condition | None = None
        self.restock: bool | None = None
        self.refunds = RefundBook(amount_paid.currency)
        self.investigations: dict[str, dict[str, str]] = {}

    # -- registration ---------------------------------------------------------
    @classmethod
    def register(cls, *, platform: str, site: str, seller_id: str, order_id: str,
                 order_created_at: datetime, tracking_number: str | None,
                 lines: list[Line], amount_paid: Money, shipping_paid: Money | None = None,
                 store_id: str | None = None, tracked_shipping: bool = False,
                 tracking_url: str | None = None, ready_to_ship_at: datetime | None = None,
                 policy: PlatformPolicy, occurred_at: datetime,
                 actor: str = "system") -> ReturnParcel:
        """Record a parcel that shipped, after the platform's registration rules."""
        platform = choice(Platform, platform, "platform").value
        if not lines:
            raise InvalidValueError("lines", "a parcel has at least one line")
        currency = amount_paid.currency
        shipping_paid = shipping_paid or Money.zero(currency)
        for money in [shipping_paid] + [line.unit_price for line in lines]:
            if money.currency != currency:
                raise InvalidValueError("currency", "all amounts of a parcel share one currency")
        if amount_paid.is_negative or shipping_paid.is_negative:
            raise InvalidValueError("amount_paid", "must not be negative")
        tracking = (text(tracking_number, "tracking_number", 64) if tracking_number is not None
                    else None)
        check_site(platform, country(site, "site"), policy.sites)
        check_amounts(amount_paid, goods_value(lines, currency))
        check_not_before("occurred_at", aware(occurred_at, "occurred_at"),
                         aware(order_created_at, "order_created_at"))
        if tracking is None and not policy.allows_untracked:
            raise InvalidValueError("tracking_number", f"a {platform} parcel is registered "
                                    "with its tracking number")
        parcel = cls(
            platform=platform, site=country(site, "site"), seller_id=text(seller_id, "seller_id"),
            store_id=text(store_id, "store_id") if store_id else None,
            order_id=text(order_id, "order_id", 64),
            order_created_at=aware(order_created_at, "order_created_at"),
            tracking_number=tracking, lines=[line.as_dict() for line in lines],
            amount_paid=amount_paid, shipping_paid=shipping_paid,
            tracked_shipping=bool(tracked_shipping), tracking_url=tracking_url,
            occurred_at=aware(occurred_at, "occurred_at"), actor=actor)
        if ready_to_ship_at is not None:
            ready_to_ship_at = aware(ready_to_ship_at, "ready_to_ship_at")
            check_not_before("ready_to_ship_at", ready_to_ship_at, parcel.order_created_at)
        policy.check_registration(parcel.facts(), ready_to_ship_at, bool(tracked_shipping),
                                  tracking_url)
        return parcel

    # -- delivery -------------------------------------------------------------
    def record_delivery_attempt(self, reason: str, policy: PlatformPolicy,
                                occurred_at: datetime, actor: str = "system") -> None:
        """The carrier tried and failed once (TT-7 caps the attempts)."""
        self._allow("record_delivery_attempt")
        number = self.attempts + 1
        policy.check_delivery_attempt(number)
        self._delivery_attempt_failed(attempt_number=number, reason=text(reason, "reason"),
                                      occurred_at=aware(occurred_at, "occurred_at"), actor=actor)

    @event(DeliveryAttemptFailed)
    def _delivery_attempt_failed(self, attempt_number: int, reason: str,
                                 occurred_at: datetime, actor: str) -> None:
        self.attempts = attempt_number
        # TT-7: a scan recorded late never moves the last failed attempt back.
        self.last_failed_attempt_at = latest(self.last_failed_attempt_at, occurred_at)

    def record_delivery_failure(self, reason: str, policy: PlatformPolicy,
                                occurred_at: datetime, reported_by: str = "carrier",
                                actor: str = "system") -> None:
        """The carrier gave up: the parcel will be routed back."""
        self._allow("record_delivery_failure")
        reason = choice(FailureReason, reason, "reason").value
        ruling = policy.delivery_failure_ruling(self.facts(), reported_by)
        self._delivery_failed(reason=reason, reported_by=reported_by,
                              rule=ruling.rule if ruling else None,
                              facts=ruling.facts if ruling else {},
                              occurred_at=aware(occurred_at, "occurred_at"), actor=actor)

    @event(DeliveryFailed)
    def _delivery_failed(self, reason: str, reported_by: str, rule: str | None,
                         facts: dict[str, str], occurred_at: datetime, actor: str) -> None:
        self.failure_reason = reason
        # TT-7: the return window counts from the last failed attempt.
        self.last_failed_attempt_at = latest(self.last_failed_attempt_at, occurred_at)

    def record_delivery(self, occurred_at: datetime, actor: str = "system") -> None:
        """The buyer has the parcel (first delivery or redelivery)."""
        self._allow("record_delivery")
        occurred_at = aware(occurred_at, "occurred_at")
        if self.status is Status.REDELIVERING:
            self._redelivered(occurred_at=occurred_at, actor=actor)
        else:
            self._delivered(occurred_at=occurred_at, actor=actor)

    @event(Delivered)
    def _delivered(self, occurred_at: datetime, actor: str) -> None:
        """The status comes from the event (`leads_to`); AM-5's window counts from it."""
        self.delivered_at = occurred_at

    @event(Redelivered)
    def _redelivered(self, occurred_at: datetime, actor: str) -> None:
        self.hold_until = None
        self.delivered_at = occurred_at

    # -- ends -----------------------------------------------------------------
    def dispose(self, kind: str, policy: PlatformPolicy, occurred_at: datetime,
                actor: str = "system") -> None:
        """The parcel's end without a return (TT-2 after the hold, TT-5 after a failure)."""
        self._allow("dispose")
        disposal = choice(DisposalKind, kind, "kind")
        occurred_at = aware(occurred_at, "occurred_at")
        for inv_id, inv in self.investigations.items():
            if inv["status"] == "open":
                raise RuleViolationError(inv["rule"], "an open investigation keeps the parcel",
                                         investigation_id=inv_id)
        ruling = policy.disposal_ruling(self.facts(), disposal, occurred_at)
        emit = self._destroyed if disposal is DisposalKind.DESTROYED else self._abandoned
        emit(rule=ruling.rule, liability=ruling.party.value, loss=self.goods_value,
             facts=ruling.facts, occurred_at=occurred_at, actor=actor)

    @event(Destroyed)
    def _destroyed(self, rule: str, liability: str, loss: Money, facts: dict[str, str],
                   occurred_at: datetime, actor: str) -> None:
        self.liability = Party(liability)

    @event(Abandoned)
    def _abandoned(self, rule: str, liability: str, loss: Money, facts: dict[str, str],
                   occurred_at: datetime, actor: str) -> None:
        self.liability = Party(liability)

    def close(self, occurred_at: datetime, actor: str = "system") -> None:
        """Nothing more will happen: received and settled, or kept by the buyer."""
        self._allow("close")
        if self.refunds.pending():
            raise RuleViolationError("AM-4", "a refund still waits for approval",
                                     pending=",".join(r.reference for r in self.refunds.pending()))
        if self.status is Status.AWAITING_REFUND and self.refunded_total < self.full_refund:
            # CD-4: the buyer keeps the item against a full refund; closing first would drop it.
            raise RuleViolationError("CD-4", "the full refund without return is not issued yet",
                                     refunded=self.refunded_total, full_refund=self.full_refund)
        self._closed(occurred_at=aware(occurred_at, "occurred_at"), actor=actor)

    @event(ParcelClosed)
    def _closed(self, occurred_at: datetime, actor: str) -> None:
        """The status comes from the event (`leads_to`)."""
