"""ReturnParcel: one physical package of one order, and everything that happens to it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.copying import CheapCopy
from domain.errors import InvalidValueError, RuleViolationError, TransitionError
from domain.facts import ParcelFacts
from domain.money import Money
from domain.policies.base import PlatformPolicy, RouteDecision
from domain.refunds import RELEASE_RULE, Refund, RefundBook
from domain.values import (
    INVESTIGATION_RULE,
    TERMINAL,
    Condition,
    Destination,
    DisposalKind,
    FailureReason,
    InvestigationKind,
    Line,
    Party,
    Platform,
    RefundComponent,
    Remedy,
    ReturnFailureCause,
    Status,
    aware,
    choice,
    country,
    goods_value,
    latest,
    text,
)

PARCEL_NAMESPACE = uuid5(NAMESPACE_URL, "https://returns-ledger.invalid/parcel")
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
}


def parcel_id(platform: str, tracking_number: str | None, order_id: str | None = None) -> UUID:
    """The same platform and tracking number always name the same parcel."""
    key = tracking_number if tracking_number else f"order:{order_id}"
    return uuid5(PARCEL_NAMESPACE, f"{platform}:{key}")


class ReturnParcel(CheapCopy, Aggregate):
    """A parcel that may come back: its delivery, return, refunds and end."""

    class Event(Aggregate.Event):
        occurred_at: datetime
        actor: str
        # The status the parcel is in after the event (None: unchanged). The aggregate
        # and every view take it from here: one source of truth for the transitions.
        leads_to: ClassVar[Status | None] = None

        def status_after(self) -> Status | None:
            """The parcel's status once this event is applied; None when it stays."""
            return self.leads_to

        def apply(self, aggregate: Any) -> None:
            status = self.status_after()
            if status is not None:
                aggregate.status = status

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

    class DeliveryFailed(Event):
        leads_to = Status.DELIVERY_FAILED
        reason: str
        reported_by: str
        rule: str | None
        facts: dict[str, str]

    class Delivered(Event):
        leads_to = Status.DELIVERED

    class ReturnRequested(Event):
        leads_to = Status.RETURN_REQUESTED
        reason: str
        seller_fault: bool
        unconditional: bool
        return_shipping_cost: Money | None

    class ReturnRouted(Event):
        destination: str
        rule: str
        free_return: bool
        payer: str
        facts: dict[str, str]
        address_id: str | None
        expected_back_by: datetime | None
        remedy: str | None

        def status_after(self) -> Status:
            """Held at the warehouse (TT-2), kept by the buyer (CD-4), else on its way."""
            return {Destination.PROVIDER_WAREHOUSE.value: Status.HELD,
                    Destination.BUYER_KEEPS.value: Status.AWAITING_REFUND,
                    }.get(self.destination, Status.RETURNING)

    class HeldAtWarehouse(Event):
        leads_to = Status.HELD
        hold_until: datetime
        rule: str

    class RedeliveryRequested(Event):
        leads_to = Status.REDELIVERING
        rule: str
        payer: str
        facts: dict[str, str]

    class Redelivered(Event):
        leads_to = Status.DELIVERED

    class ReturnLabelIssued(Event):
        carrier: str
        tracking_number: str
        tracking_url: str | None
        rule: str

    class ReturnFailed(Event):
        leads_to = Status.RETURN_FAILED
        cause: str
        liability: str
        rule: str
        facts: dict[str, str]

    class Received(Event):
        leads_to = Status.RECEIVED
        location: str
        received_by: str

    class Inspected(Event):
        condition: str
        restock: bool

    class RefundRequested(Event):
        reference: str
        components: list[dict[str, Any]]
        amount: Money
        needs_approval: bool
        rule: str
        facts: dict[str, str]

    class RefundApproved(Event):
        reference: str
        rule: str

    class RefundIssued(Event):
        reference: str
        amount: Money

    class RefundRejected(Event):
        reference: str
        amount: Money
        reason: str
        rule: str

    class RefundFailed(Event):
        reference: str
        amount: Money
        reason: str
        rule: str

    class RefundReversed(Event):
        reference: str
        amount: Money
        reason: str
        rule: str

    class Destroyed(Event):
        leads_to = Status.DESTROYED
        rule: str
        liability: str
        loss: Money
        facts: dict[str, str]

    class Abandoned(Event):
        leads_to = Status.ABANDONED
        rule: str
        liability: str
        loss: Money
        facts: dict[str, str]

    class InvestigationOpened(Event):
        investigation_id: str
        kind: str
        rule: str
        facts: dict[str, str]

    class InvestigationResolved(Event):
        investigation_id: str
        outcome: str
        liability: str
        kind: str  # what was investigated (TT-5 ticket, TT-6 false return)
        rule: str  # the rule the finding settles

        # Version 1, stored before the event named its kind and rule, carried them only
        # in the investigation id ("false_return-1"): read that once, here.
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            kind = str(state["investigation_id"]).rsplit("-", 1)[0]
            state["kind"] = kind
            state["rule"] = INVESTIGATION_RULE.get(kind, "")

    class ParcelClosed(Event):
        leads_to = Status.CLOSED

    @staticmethod
    def create_id(platform: str, tracking_number: str | None, order_id: str) -> UUID:
        return parcel_id(platform, tracking_number, order_id)

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
        tracking = text(tracking_number, "tracking_number", 64) if tracking_number else None
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
        policy.check_registration(parcel.facts(), ready_to_ship_at, bool(tracked_shipping),
                                  tracking_url)
        return parcel

    # -- facts for the policies -----------------------------------------------
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
        """The status comes from the event (`leads_to`)."""

    @event(Redelivered)
    def _redelivered(self, occurred_at: datetime, actor: str) -> None:
        self.hold_until = None

    # -- returns --------------------------------------------------------------
    def request_return(self, reason: str, seller_fault: bool, occurred_at: datetime,
                       unconditional: bool = False, return_shipping_cost: Money | None = None,
                       actor: str = "system") -> None:
        """The buyer asks to send the item back (AM-1, CD-4)."""
        self._allow("request_return")
        if return_shipping_cost is not None and return_shipping_cost.currency != self.currency:
            raise InvalidValueError("return_shipping_cost", f"must be in {self.currency}")
        self._return_requested(reason=text(reason, "reason"), seller_fault=bool(seller_fault),
                               unconditional=bool(unconditional),
                               return_shipping_cost=return_shipping_cost,
                               occurred_at=aware(occurred_at, "occurred_at"), actor=actor)

    @event(ReturnRequested)
    def _return_requested(self, reason: str, seller_fault: bool, unconditional: bool,
                          return_shipping_cost: Money | None, occurred_at: datetime,
                          actor: str) -> None:
        self.return_reason = reason
        self.seller_fault = seller_fault
        self.unconditional_return = unconditional
        self.return_shipping_cost = return_shipping_cost

    def route_return(self, decision: RouteDecision, occurred_at: datetime,
                     actor: str = "system") -> None:
        """Send the parcel where the platform's rules say it goes."""
        self._allow("route_return")
        occurred_at = aware(occurred_at, "occurred_at")
        hold_until = decision.hold_until
        if decision.destination is Destination.PROVIDER_WAREHOUSE and hold_until is None:
            # A hold is recorded with its end, always: the deadlines view needs it (TT-2).
            raise InvalidValueError("hold_until", "a hold at the provider's warehouse ends "
                                    "at a given time (TT-2)")
        if decision.free_return and self.free_return_used:
            raise RuleViolationError("TT-3", "the platform pays for one return per parcel only",
                                     free_return_used="true")
        self._return_routed(
            destination=decision.destination.value, rule=decision.rule,
            free_return=decision.free_return, payer=decision.payer.value,
            facts=dict(decision.facts), address_id=decision.address_id,
            expected_back_by=decision.expected_back_by,
            remedy=decision.remedy.value if decision.remedy else None,
            occurred_at=occurred_at, actor=actor)
        if decision.destination is Destination.PROVIDER_WAREHOUSE and hold_until is not None:
            self._held_at_warehouse(hold_until=hold_until, rule=decision.rule,
                                    occurred_at=occurred_at, actor=actor)

    @event(ReturnRouted)
    def _return_routed(self, destination: str, rule: str, free_return: bool, payer: str,
                       facts: dict[str, str], address_id: str | None,
                       expected_back_by: datetime | None, remedy: str | None,
                       occurred_at: datetime, actor: str) -> None:
        self.destination = Destination(destination)
        self.route_rule = rule
        self.payer = Party(payer)
        self.address_id = address_id
        self.expected_back_by = expected_back_by
        self.remedy = Remedy(remedy) if remedy else None
        self.free_return_used = self.free_return_used or free_return
        self.return_failure_cause = None

    @event(HeldAtWarehouse)
    def _held_at_warehouse(self, hold_until: datetime, rule: str, occurred_at: datetime,
                           actor: str) -> None:
        self.hold_until = hold_until

    def request_redelivery(self, policy: PlatformPolicy, occurred_at: datetime,
                           actor: str = "system") -> None:
        """The buyer asks for another try from the warehouse (TT-2; refused by TT-4)."""
        self._allow("request_redelivery")
        occurred_at = aware(occurred_at, "occurred_at")
        ruling = policy.check_redelivery(self.facts(), occurred_at)
        self._redelivery_requested(rule=ruling.rule, payer=ruling.party.value,
                                   facts=ruling.facts, occurred_at=occurred_at, actor=actor)

    @event(RedeliveryRequested)
    def _redelivery_requested(self, rule: str, payer: str, facts: dict[str, str],
                              occurred_at: datetime, actor: str) -> None:
        self.attempts = 0  # TT-2/TT-7: the provider tries again, with attempts of its own

    def issue_return_label(self, carrier: str, tracking_number: str, policy: PlatformPolicy,
                           occurred_at: datetime, tracking_url: str | None = None,
                           actor: str = "system") -> None:
        """The seller provides the return label (AM-1, CD-4; CD-2 keeps it unchanged)."""
        self._allow("issue_return_label")
        rule = policy.check_label(self.facts(), tracking_url)
        if self.label_tracking_number is not None:
            raise RuleViolationError("AM-1", "a return label was already issued",
                                     tracking_number=self.label_tracking_number)
        self._return_label_issued(carrier=text(carrier, "carrier"),
                                  tracking_number=text(tracking_number, "tracking_number", 64),
                                  tracking_url=tracking_url, rule=rule,
                                  occurred_at=aware(occurred_at, "occurred_at"), actor=actor)

    @event(ReturnLabelIssued)
    def _return_label_issued(self, carrier: str, tracking_number: str,
                             tracking_url: str | None, rule: str, occurred_at: datetime,
                             actor: str) -> None:
        self.label_tracking_number = tracking_number

    def record_return_failure(self, cause: str, policy: PlatformPolicy,
                              occurred_at: datetime, actor: str = "system") -> None:
        """The return to the seller failed; TT-5 says who bears the loss."""
        self._allow("record_return_failure")
        ruling = policy.return_failure_ruling(
            self.facts(), choice(ReturnFailureCause, cause, "cause"))
        self._return_failed(cause=ruling.facts["cause"], liability=ruling.party.value,
                            rule=ruling.rule, facts=ruling.facts,
                            occurred_at=aware(occurred_at, "occurred_at"), actor=actor)

    @event(ReturnFailed)
    def _return_failed(self, cause: str, liability: str, rule: str, facts: dict[str, str],
                       occurred_at: datetime, actor: str) -> None:
        self.return_failure_cause = cause
        self.liability = Party(liability)

    def receive(self, policy: PlatformPolicy, occurred_at: datetime, location: str = "seller",
                received_by: str = "seller", actor: str = "system") -> None:
        """The seller (or its return warehouse) has the parcel back."""
        self._allow("receive")
        policy.check_receipt(self.facts())
        self._received(location=text(location, "location"),
                       received_by=text(received_by, "received_by"),
                       occurred_at=aware(occurred_at, "occurred_at"), actor=actor)

    @event(Received)
    def _received(self, location: str, received_by: str, occurred_at: datetime,
                  actor: str) -> None:
        """The status comes from the event (`leads_to`)."""

    def inspect(self, condition: str, occurred_at: datetime, restock: bool | None = None,
                actor: str = "system") -> None:
        """AM-1: record the item's condition and whether it goes back to stock."""
        self._allow("inspect")
        if self.condition is not None:
            raise TransitionError(self.status, "inspect (already inspected)")
        found = choice(Condition, condition, "condition")
        if restock is None:
            restock = found is Condition.RESELLABLE
        self._inspected(condition=found.value, restock=bool(restock),
                        occurred_at=aware(occurred_at, "occurred_at"), actor=actor)

    @event(Inspected)
    def _inspected(self, condition: str, restock: bool, occurred_at: datetime,
                   actor: str) -> None:
        self.condition = Condition(condition)
        self.restock = restock

    # -- refunds --------------------------------------------------------------
    # Every refund command answers a retry (same reference, same person) with the same
    # refund in every state, closed parcels included: a CD-4 refund without return closes
    # the parcel in the very command a client may have to send again.
    def request_refund(self, reference: str, components: list[RefundComponent],
                       policy: PlatformPolicy, occurred_at: datetime,
                       actor: str = "system") -> Refund:
        """Record a refund; small ones are issued at once, large ones wait (AM-4)."""
        reference = text(reference, "reference", 100)
        existing = self.refunds.same_request(reference, components)
        if existing is not None:
            return existing  # the same reference again is the same refund
        self._allow("request_refund")
        amount = self.refunds.check_new(components, self.facts(), self.amount_paid,
                                        self.shipping_paid, self.return_shipping_cost)
        policy.check_refund(self.facts(), {c.kind.value for c in components}, amount)
        approval = policy.needs_approval(amount, self.refunds.outgoing_total)
        occurred_at = aware(occurred_at, "occurred_at")
        needs_approval = approval.facts["needs_approval"] == "true"
        self._refund_requested(reference=reference,
                               components=[c.as_dict() for c in components], amount=amount,
                               needs_approval=needs_approval, rule=approval.rule,
                               facts=approval.facts, occurred_at=occurred_at, actor=actor)
        if not needs_approval:
            self._issue(reference, occurred_at, actor)
        return self.refunds[reference]

    @event(RefundRequested)
    def _refund_requested(self, reference: str, components: list[dict[str, Any]],
                          amount: Money, needs_approval: bool, rule: str,
                          facts: dict[str, str], occurred_at: datetime, actor: str) -> None:
        self.refunds.requested(reference, components, amount, needs_approval, actor,
                               occurred_at)

    def approve_refund(self, reference: str, occurred_at: datetime,
                       actor: str = "system") -> Refund:
        """AM-4: a second person approves a large refund, which is then issued."""
        retry = self.refunds.approval_retry(reference, actor)
        if retry is not None:
            return retry
        self._allow("approve_refund")
        refund = self.refunds.get_or_raise(reference)
        self.refunds.check_approval(refund, actor)
        occurred_at = aware(occurred_at, "occurred_at")
        self._refund_approved(reference=reference, rule="AM-4", occurred_at=occurred_at,
                              actor=actor)
        self._issue(reference, occurred_at, actor)
        return self.refunds[reference]

    @event(RefundApproved)
    def _refund_approved(self, reference: str, rule: str, occurred_at: datetime,
                         actor: str) -> None:
        self.refunds.approved(reference, actor, occurred_at)

    def _issue(self, reference: str, occurred_at: datetime, actor: str) -> None:
        self._refund_issued(reference=reference, amount=self.refunds[reference].amount,
                            occurred_at=occurred_at, actor=actor)
        if self.status is Status.AWAITING_REFUND and self.refunded_total >= self.full_refund:
            self._closed(occurred_at=occurred_at, actor=actor)  # CD-4 done

    @event(RefundIssued)
    def _refund_issued(self, reference: str, amount: Money, occurred_at: datetime,
                       actor: str) -> None:
        self.refunds.issued(reference, occurred_at, actor)

    def reject_refund(self, reference: str, reason: str, occurred_at: datetime,
                      actor: str = "system") -> Refund:
        """AM-4: finance refuses a refund waiting for approval; its amount is released."""
        return self._release("reject_refund", "rejected", self._refund_rejected, reference,
                             reason, occurred_at, actor)

    def record_refund_failure(self, reference: str, reason: str, occurred_at: datetime,
                              actor: str = "system") -> Refund:
        """AM-3: the payment of an issued refund failed; the amount is no longer committed.

        Recorded by a person other than the refund's issuer (separation of duties)."""
        return self._release("record_refund_failure", "failed", self._refund_failed,
                             reference, reason, occurred_at, actor)

    def reverse_refund(self, reference: str, reason: str, occurred_at: datetime,
                       actor: str = "system") -> Refund:
        """AM-3: an issued refund came back (e.g. charged back); its amount is available again.

        Recorded by a person other than the refund's issuer (separation of duties)."""
        return self._release("reverse_refund", "reversed", self._refund_reversed, reference,
                             reason, occurred_at, actor)

    def _release(self, command: str, status: str, emit: Any, reference: str, reason: str,
                 occurred_at: datetime, actor: str) -> Refund:
        retry = self.refunds.release_retry(reference, status)
        if retry is not None:
            return retry
        self._allow(command)
        refund = self.refunds.get_or_raise(reference)
        self.refunds.check_release(refund, status, actor)
        emit(reference=reference, amount=refund.amount, reason=text(reason, "reason"),
             rule=RELEASE_RULE[status], occurred_at=aware(occurred_at, "occurred_at"),
             actor=actor)
        return refund

    @event(RefundRejected)
    def _refund_rejected(self, reference: str, amount: Money, reason: str, rule: str,
                         occurred_at: datetime, actor: str) -> None:
        self.refunds.released(reference, "rejected", reason, actor, occurred_at)

    @event(RefundFailed)
    def _refund_failed(self, reference: str, amount: Money, reason: str, rule: str,
                       occurred_at: datetime, actor: str) -> None:
        self.refunds.released(reference, "failed", reason, actor, occurred_at)

    @event(RefundReversed)
    def _refund_reversed(self, reference: str, amount: Money, reason: str, rule: str,
                         occurred_at: datetime, actor: str) -> None:
        self.refunds.released(reference, "reversed", reason, actor, occurred_at)

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

    # -- investigations (TT-5 tickets, TT-6 false returns) ----------------------
    def open_investigation(self, kind: str, occurred_at: datetime,
                           actor: str = "system") -> str:
        """The seller opens a ticket; the platform has the provider investigate."""
        self._allow("open_investigation")
        what = choice(InvestigationKind, kind, "kind")
        if what is InvestigationKind.FALSE_RETURN:
            if self.status is not Status.RETURNING or self.destination not in (
                    Destination.SELLER_OVERSEAS, Destination.SELLER_DOMESTIC):
                raise RuleViolationError("TT-6", "a false return is claimed only for a parcel "
                                         "tracked back to the seller", status=self.status)
            facts = {"destination": self.destination.value}
        else:
            if self.status is not Status.RETURN_FAILED:
                raise RuleViolationError("TT-5", "a failed-return ticket needs a failed return",
                                         status=self.status)
            if self.liability is Party.SELLER:
                raise RuleViolationError("TT-5", "the failure was the seller's fault: no ticket",
                                         cause=self.return_failure_cause or "")
            facts = {"cause": self.return_failure_cause or ""}
        rule = INVESTIGATION_RULE[what]
        investigation_id = f"{what.value}-{len(self.investigations) + 1}"
        self._investigation_opened(investigation_id=investigation_id, kind=what.value,
                                   rule=rule, facts=facts,
                                   occurred_at=aware(occurred_at, "occurred_at"), actor=actor)
        return investigation_id

    @event(InvestigationOpened)
    def _investigation_opened(self, investigation_id: str, kind: str, rule: str,
                              facts: dict[str, str], occurred_at: datetime, actor: str) -> None:
        self.investigations[investigation_id] = {"kind": kind, "rule": rule, "status": "open"}

    def resolve_investigation(self, investigation_id: str, outcome: str, liability: str,
                              occurred_at: datetime, actor: str = "system") -> None:
        """The platform's finding: who bears the loss."""
        self._allow("resolve_investigation")
        inv = self.investigations.get(investigation_id)
        if inv is None or inv["status"] != "open":
            raise InvalidValueError("investigation_id", f"no open investigation {investigation_id}")
        party = choice(Party, liability, "liability")
        self._investigation_resolved(investigation_id=investigation_id,
                                     outcome=text(outcome, "outcome"), liability=party.value,
                                     kind=inv["kind"], rule=inv["rule"],
                                     occurred_at=aware(occurred_at, "occurred_at"), actor=actor)

    @event(InvestigationResolved)
    def _investigation_resolved(self, investigation_id: str, outcome: str, liability: str,
                                kind: str, rule: str, occurred_at: datetime,
                                actor: str) -> None:
        self.investigations[investigation_id]["status"] = "resolved"
        self.liability = Party(liability)
