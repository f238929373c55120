"""A parcel's refunds: asked, approved, issued, rejected, failed, reversed (AM-2 .. AM-4).

Separation of duties holds here (docs/LEDGER.md): money that leaves without a second
person's approval never passes the AM-4 threshold of the parcel, released refunds
included, and an issued refund is released only on the word of another person.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from domain.money import Money
from domain.parcel_state import ParcelDecision, ParcelEvent, ParcelState
from domain.policies.base import PlatformPolicy
from domain.refunds import RELEASE_RULE, Refund
from domain.values import RefundComponent, Status, aware, text


class _Released:
    """What a rejected, failed or reversed refund does: its amount is released (the
    events keep their own fields: the library makes each event class a dataclass)."""

    refund_status: ClassVar[str]
    reference: str
    reason: str
    actor: str
    occurred_at: datetime

    def change(self, parcel: Any) -> None:
        parcel.refunds.released(self.reference, self.refund_status, self.reason,
                                self.actor, self.occurred_at)


class ParcelRefunds(ParcelState):
    """The refund commands of `ReturnParcel` and the events they record."""

    # Each refund event says the status it leaves its refund in (`refund_status`): the
    # refund book and the refunds view take it from here.
    class RefundRequested(ParcelDecision):
        refund_status: ClassVar[str] = "requested"
        reference: str
        components: list[dict[str, Any]]
        amount: Money
        needs_approval: bool
        rule: str
        facts: dict[str, str]

        def change(self, parcel: Any) -> None:
            parcel.refunds.requested(self.reference, self.components, self.amount,
                                     self.needs_approval, self.actor, self.occurred_at)

    class RefundApproved(ParcelDecision):
        refund_status: ClassVar[str] = "approved"
        reference: str
        rule: str

        def change(self, parcel: Any) -> None:
            parcel.refunds.approved(self.reference, self.actor, self.occurred_at)

    class RefundIssued(ParcelEvent):
        refund_status: ClassVar[str] = "issued"
        reference: str
        amount: Money

        def change(self, parcel: Any) -> None:
            parcel.refunds.issued(self.reference, self.occurred_at, self.actor)

    class RefundRejected(_Released, ParcelDecision):
        refund_status: ClassVar[str] = "rejected"
        reference: str
        amount: Money
        reason: str
        rule: str

    class RefundFailed(_Released, ParcelDecision):
        refund_status: ClassVar[str] = "failed"
        reference: str
        amount: Money
        reason: str
        rule: str

    class RefundReversed(_Released, ParcelDecision):
        refund_status: ClassVar[str] = "reversed"
        reference: str
        amount: Money
        reason: str
        rule: str

    if TYPE_CHECKING:  # recorded by ReturnParcel (CD-4: the full refund closes the parcel)
        def _closed(self, occurred_at: datetime, actor: str) -> None: ...

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
        # The rules that allowed it (the platform's, AM-3's cap), then AM-4 where it decided.
        rules = [*policy.refund_rules(self.facts()), *([approval.rule] if needs_approval else [])]
        self.trigger_event(self.RefundRequested, reference=reference,
                           components=[c.as_dict() for c in components], amount=amount,
                           needs_approval=needs_approval, rule=rules[-1], rules=rules,
                           facts=approval.facts, occurred_at=occurred_at, actor=actor)
        if not needs_approval:
            self._issue(reference, occurred_at, actor)
        return self.refunds[reference]

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
        self.trigger_event(self.RefundApproved, reference=reference, rule="AM-4",
                           occurred_at=occurred_at, actor=actor)
        self._issue(reference, occurred_at, actor)
        return self.refunds[reference]

    def _issue(self, reference: str, occurred_at: datetime, actor: str) -> None:
        self.trigger_event(self.RefundIssued, reference=reference,
                           amount=self.refunds[reference].amount, occurred_at=occurred_at,
                           actor=actor)
        if self.status is Status.AWAITING_REFUND and self.refunded_total >= self.full_refund:
            self._closed(occurred_at=occurred_at, actor=actor)  # CD-4 done

    def reject_refund(self, reference: str, reason: str, occurred_at: datetime,
                      actor: str = "system") -> Refund:
        """AM-4: finance refuses a refund waiting for approval; its amount is released."""
        return self._release("reject_refund", "rejected", self.RefundRejected, reference,
                             reason, occurred_at, actor)

    def record_refund_failure(self, reference: str, reason: str, occurred_at: datetime,
                              actor: str = "system") -> Refund:
        """AM-3: the payment of an issued refund failed; the amount is no longer committed.

        Recorded by a person other than the refund's issuer (separation of duties)."""
        return self._release("record_refund_failure", "failed", self.RefundFailed,
                             reference, reason, occurred_at, actor)

    def reverse_refund(self, reference: str, reason: str, occurred_at: datetime,
                       actor: str = "system") -> Refund:
        """AM-3: an issued refund came back (e.g. charged back); its amount is available again.

        Recorded by a person other than the refund's issuer (separation of duties)."""
        return self._release("reverse_refund", "reversed", self.RefundReversed, reference,
                             reason, occurred_at, actor)

    def _release(self, command: str, status: str, event_class: type[ParcelEvent],
                 reference: str, reason: str, occurred_at: datetime, actor: str) -> Refund:
        retry = self.refunds.release_retry(reference, status)
        if retry is not None:
            return retry
        self._allow(command)
        refund = self.refunds.get_or_raise(reference)
        self.refunds.check_release(refund, status, actor)
        self.trigger_event(event_class, reference=reference, amount=refund.amount,
                           reason=text(reason, "reason"), rule=RELEASE_RULE[status],
                           occurred_at=aware(occurred_at, "occurred_at"), actor=actor)
        return refund
