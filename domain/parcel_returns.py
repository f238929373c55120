"""A parcel's way back: the return request, the routing decision, the warehouse hold,
redelivery, the return label, a failed return, receipt and inspection (TT-1 .. TT-5,
LZ-1, AM-1, AM-2, CD-2, CD-4)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.errors import InvalidValueError, RuleViolationError, TransitionError
from domain.money import Money
from domain.parcel_state import ParcelDecision, ParcelEvent, ParcelState
from domain.policies.base import PlatformPolicy, RouteDecision
from domain.values import (
    Condition,
    Destination,
    Party,
    Remedy,
    ReturnFailureCause,
    Status,
    aware,
    choice,
    text,
)

REQUESTERS = ("buyer", "seller")  # TT-8: who asked for a redelivery


class ParcelReturns(ParcelState):
    """The return commands of `ReturnParcel` and the events they record."""

    class ReturnRequested(ParcelDecision):
        leads_to = Status.RETURN_REQUESTED
        reason: str
        seller_fault: bool
        unconditional: bool
        return_shipping_cost: Money | None
        facts: dict[str, str]  # AM-5: the return window, and the seller's decision after it

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Version 1 was stored before a return request was a decision (AM-5)."""
            state.setdefault("rule", None)
            state["rules"] = []
            state.setdefault("facts", {})

        def change(self, parcel: Any) -> None:
            parcel.return_reason = self.reason
            parcel.seller_fault = self.seller_fault
            parcel.unconditional_return = self.unconditional
            parcel.return_shipping_cost = self.return_shipping_cost

    class ReturnRouted(ParcelDecision):
        destination: str
        rule: str
        free_return: bool
        payer: str
        facts: dict[str, str]
        address_id: str | None
        expected_back_by: datetime | None
        remedy: str | None

        def status_after(self) -> Status:
            """Held at the warehouse (TT-2), kept by the buyer (CD-4), else on its way; a
            failed return sent back to the warehouse (TT-5) stays failed until its end."""
            if self.rule == "TT-5":
                return Status.RETURN_FAILED
            return {Destination.PROVIDER_WAREHOUSE.value: Status.HELD,
                    Destination.BUYER_KEEPS.value: Status.AWAITING_REFUND,
                    }.get(self.destination, Status.RETURNING)

        def change(self, parcel: Any) -> None:
            parcel.destination = Destination(self.destination)
            parcel.route_rule = self.rule
            parcel.payer = Party(self.payer)
            parcel.address_id = self.address_id
            parcel.expected_back_by = self.expected_back_by
            parcel.remedy = Remedy(self.remedy) if self.remedy else None
            parcel.free_return_used = parcel.free_return_used or self.free_return
            if self.rule != "TT-5":  # TT-5 keeps the failure (and its cause) to the end
                parcel.return_failure_cause = None

    class HeldAtWarehouse(ParcelDecision):
        leads_to = Status.HELD
        hold_until: datetime
        rule: str

        def change(self, parcel: Any) -> None:
            parcel.hold_until = self.hold_until

    class RedeliveryRequested(ParcelDecision):
        leads_to = Status.REDELIVERING
        rule: str
        payer: str
        facts: dict[str, str]

        def change(self, parcel: Any) -> None:
            parcel.attempts = 0  # TT-2/TT-7: the provider tries again, with its own attempts

    class ReturnLabelIssued(ParcelDecision):
        carrier: str
        tracking_number: str
        tracking_url: str | None
        rule: str

        def change(self, parcel: Any) -> None:
            parcel.label_tracking_number = self.tracking_number

    class ReturnFailed(ParcelDecision):
        leads_to = Status.RETURN_FAILED
        cause: str
        liability: str
        rule: str
        facts: dict[str, str]

        def change(self, parcel: Any) -> None:
            parcel.return_failure_cause = self.cause
            parcel.liability = Party(self.liability)

    class Received(ParcelEvent):
        leads_to = Status.RECEIVED
        location: str
        received_by: str

    class Inspected(ParcelEvent):
        condition: str
        restock: bool

        def change(self, parcel: Any) -> None:
            parcel.condition = Condition(self.condition)
            parcel.restock = self.restock

    def request_return(self, reason: str, seller_fault: bool, occurred_at: datetime,
                       unconditional: bool = False, return_shipping_cost: Money | None = None,
                       actor: str = "system", policy: PlatformPolicy | None = None,
                       outside_window_accepted: bool = False) -> None:
        """The buyer asks to send the item back (AM-1, CD-4); AM-5: after the return window
        only with the seller's explicit decision."""
        self._allow("request_return")
        if return_shipping_cost is not None and return_shipping_cost.currency != self.currency:
            raise InvalidValueError("return_shipping_cost", f"must be in {self.currency}")
        at = aware(occurred_at, "occurred_at")
        ruling = (policy.return_request_ruling(self.facts(), self.delivered_at, at,
                                               bool(outside_window_accepted))
                  if policy is not None else None)
        self.trigger_event(self.ReturnRequested, reason=text(reason, "reason"),
                           seller_fault=bool(seller_fault), unconditional=bool(unconditional),
                           return_shipping_cost=return_shipping_cost,
                           rule=ruling.rule if ruling else None,
                           rules=list(ruling.rules) if ruling else [],
                           facts=ruling.facts if ruling else {}, occurred_at=at, actor=actor)

    def route_return(self, decision: RouteDecision, occurred_at: datetime,
                     actor: str = "system") -> None:
        """Send the parcel where the platform's rules say it goes."""
        self._allow("route_return")
        occurred_at = aware(occurred_at, "occurred_at")
        if self.status is Status.RETURN_FAILED and self.route_rule == "TT-5":
            raise TransitionError(self.status, "route_return (already sent back to the "
                                  "provider's warehouse, TT-5)")
        held = decision.destination is Destination.PROVIDER_WAREHOUSE and decision.rule != "TT-5"
        if held and decision.hold_until is None:
            # A hold is recorded with its end, always: the deadlines view needs it (TT-2).
            raise InvalidValueError("hold_until", "a hold at the provider's warehouse ends "
                                    "at a given time (TT-2)")
        if decision.free_return and self.free_return_used:
            raise RuleViolationError("TT-3", "the platform pays for one return per parcel only",
                                     free_return_used="true")
        self.trigger_event(
            self.ReturnRouted, destination=decision.destination.value, rule=decision.rule,
            free_return=decision.free_return, payer=decision.payer.value,
            facts=dict(decision.facts), address_id=decision.address_id,
            expected_back_by=decision.expected_back_by,
            remedy=decision.remedy.value if decision.remedy else None,
            rules=list(decision.rules), occurred_at=occurred_at, actor=actor)
        if held:
            self.trigger_event(self.HeldAtWarehouse, hold_until=decision.hold_until,
                               rule=decision.rule, occurred_at=occurred_at, actor=actor)

    def request_redelivery(self, policy: PlatformPolicy, occurred_at: datetime,
                           actor: str = "system", requested_by: str = "buyer") -> None:
        """The buyer asks for another try from the warehouse (TT-2; refused by TT-4); the
        request records who asked, and one from the seller is refused (TT-8)."""
        self._allow("request_redelivery")
        if requested_by not in REQUESTERS:
            raise InvalidValueError("requested_by", f"one of {', '.join(REQUESTERS)}")
        occurred_at = aware(occurred_at, "occurred_at")
        ruling = policy.check_redelivery(self.facts(), occurred_at)
        if requested_by != "buyer":
            raise RuleViolationError("TT-8", "only the buyer, through the platform, starts a "
                                     "redelivery; the seller may contact the buyer",
                                     requested_by=requested_by)
        self.trigger_event(self.RedeliveryRequested, rule=ruling.rule, rules=["TT-8", ruling.rule],
                           payer=ruling.party.value,
                           facts={**ruling.facts, "requested_by": requested_by},
                           occurred_at=occurred_at, actor=actor)

    def issue_return_label(self, carrier: str, tracking_number: str, policy: PlatformPolicy,
                           occurred_at: datetime, tracking_url: str | None = None,
                           actor: str = "system") -> None:
        """The seller provides the return label (AM-1, CD-4; CD-2 keeps it unchanged)."""
        self._allow("issue_return_label")
        rule = policy.check_label(self.facts(), tracking_url)
        if self.label_tracking_number is not None:
            raise RuleViolationError("AM-1", "a return label was already issued",
                                     tracking_number=self.label_tracking_number)
        self.trigger_event(self.ReturnLabelIssued, carrier=text(carrier, "carrier"),
                           tracking_number=text(tracking_number, "tracking_number", 64),
                           tracking_url=tracking_url, rule=rule,
                           occurred_at=aware(occurred_at, "occurred_at"), actor=actor)

    def record_return_failure(self, cause: str, policy: PlatformPolicy,
                              occurred_at: datetime, actor: str = "system") -> None:
        """The return to the seller failed; TT-5 says who bears the loss."""
        self._allow("record_return_failure")
        ruling = policy.return_failure_ruling(
            self.facts(), choice(ReturnFailureCause, cause, "cause"))
        self.trigger_event(self.ReturnFailed, cause=ruling.facts["cause"],
                           liability=ruling.party.value, rule=ruling.rule, facts=ruling.facts,
                           occurred_at=aware(occurred_at, "occurred_at"), actor=actor)

    def receive(self, policy: PlatformPolicy, occurred_at: datetime, location: str = "seller",
                received_by: str = "seller", actor: str = "system") -> None:
        """The seller (or its return warehouse) has the parcel back."""
        self._allow("receive")
        policy.check_receipt(self.facts())
        self.trigger_event(self.Received, location=text(location, "location"),
                           received_by=text(received_by, "received_by"),
                           occurred_at=aware(occurred_at, "occurred_at"), actor=actor)

    def inspect(self, condition: str, occurred_at: datetime, restock: bool | None = None,
                actor: str = "system") -> None:
        """AM-1: record the item's condition and whether it goes back to stock."""
        self._allow("inspect")
        if self.condition is not None:
            raise TransitionError(self.status, "inspect (already inspected)")
        found = choice(Condition, condition, "condition")
        if restock is None:
            restock = found is Condition.RESELLABLE
        self.trigger_event(self.Inspected, condition=found.value, restock=bool(restock),
                           occurred_at=aware(occurred_at, "occurred_at"), actor=actor)
