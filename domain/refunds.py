"""The refunds of one parcel: what was asked, approved and issued (AM-2, AM-3, AM-4)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.api_key import actor_person
from domain.copying import CheapCopy
from domain.errors import DomainError, InvalidValueError, RuleViolationError
from domain.facts import ParcelFacts
from domain.money import Money, total
from domain.values import RefundComponent, RefundComponentKind


class RefundReferenceConflictError(DomainError):
    """The same external refund reference was sent with other amounts."""

    def __init__(self, reference: str) -> None:
        super().__init__(f"refund {reference} was already requested with other components")
        self.reference = reference


class RefundNotFoundError(DomainError):
    """No refund of the parcel has that reference."""

    def __init__(self, reference: str) -> None:
        super().__init__(f"refund {reference} not found")
        self.reference = reference


# Refund statuses. Rejected, failed and reversed no longer count against the cap (AM-3).
COMMITTED = frozenset({"requested", "approved", "issued"})
RELEASED = frozenset({"rejected", "failed", "reversed"})
# What the AM-4 threshold counts: everything that has left or is leaving for the parcel.
# A failed or reversed refund did leave once; only a rejected one never did. Counting the
# released ones keeps "issue, record a failure, issue again" from avoiding the review.
OUTGOING = frozenset({"requested", "approved", "issued", "failed", "reversed"})
# Actors that name no person: they may not take the second person's part (AM-4).
NOT_A_PERSON = frozenset({"", "system", "unknown", "unowned", "deadlines", "carrier",
                          "person:"})
NOT_A_PERSON_PREFIXES = ("unowned:", "unknown:", "system:")
# Which status each release comes from: a waiting refund is rejected (AM-4), an
# issued one fails (the payment bounced) or is reversed (charged back).
RELEASE_FROM = {"rejected": "requested", "failed": "issued", "reversed": "issued"}
RELEASE_RULE = {"rejected": "AM-4", "failed": "AM-3", "reversed": "AM-3"}


def is_person(actor: str | None) -> bool:
    """Whether an actor names one person (the application passes a person's id).

    The system, jobs and credentials without an owner are nobody in particular: two of
    them cannot be told apart, so they never count as the second person (AM-4).
    """
    if actor is None:
        return False
    name = person_key(actor)
    return name not in NOT_A_PERSON and not name.startswith(NOT_A_PERSON_PREFIXES)


def person_key(actor: str) -> str:
    """How two actors are compared: "Alice " and "alice" are one person, and the acting
    key is left out (`person:alice/key:<one>` and `person:alice/key:<other>` too)."""
    return actor_person(actor).strip().casefold()


def same_person(one: str | None, other: str | None) -> bool:
    return one is not None and other is not None and person_key(one) == person_key(other)


@dataclass
class Refund:
    """One refund, known by the platform's external reference."""

    reference: str
    components: list[RefundComponent]
    amount: Money
    needs_approval: bool
    requested_by: str
    requested_at: datetime
    status: str = "requested"
    approved_by: str | None = None
    approved_at: datetime | None = None
    issued_at: datetime | None = None
    issued_by: str | None = None
    # Rejected, failed or reversed: who said so, when, why (the amount is released, AM-3).
    released_by: str | None = None
    released_at: datetime | None = None
    reason: str | None = None

    @property
    def is_committed(self) -> bool:
        """Still counts against what was paid (AM-3): asked, approved or issued."""
        return self.status in COMMITTED

    @property
    def is_outgoing(self) -> bool:
        """Counts towards the AM-4 threshold: everything but a rejected refund."""
        return self.status in OUTGOING

    def by_kind(self, kind: RefundComponentKind) -> list[Money]:
        return [c.amount for c in self.components if c.kind is kind]


@dataclass
class RefundBook(CheapCopy):
    """Every refund of a parcel, in one currency."""

    currency: str
    refunds: dict[str, Refund] = field(default_factory=dict)

    def __getitem__(self, reference: str) -> Refund:
        return self.refunds[reference]

    def __iter__(self) -> Iterator[Refund]:
        return iter(self.refunds.values())

    @property
    def issued_total(self) -> Money:
        """What has gone back to the buyer."""
        return total([r.amount for r in self if r.status == "issued"], self.currency)

    @property
    def committed_total(self) -> Money:
        """Issued plus still waiting for approval: what the cap (AM-3) counts."""
        return total([r.amount for r in self if r.is_committed], self.currency)

    @property
    def outgoing_total(self) -> Money:
        """What has left or is leaving for the parcel, released refunds included (AM-4)."""
        return total([r.amount for r in self if r.is_outgoing], self.currency)

    def pending(self) -> list[Refund]:
        """Refunds waiting for a second person's approval (AM-4)."""
        return [r for r in self if r.status == "requested" and r.needs_approval]

    def find(self, reference: str) -> Refund | None:
        return self.refunds.get(reference)

    def get_or_raise(self, reference: str) -> Refund:
        try:
            return self.refunds[reference]
        except KeyError:
            raise RefundNotFoundError(reference) from None

    def same_request(self, reference: str, components: list[RefundComponent]) -> Refund | None:
        """The existing refund when the reference is known with the same components."""
        existing = self.refunds.get(reference)
        if existing is None:
            return None
        if sorted(map(_key, existing.components)) != sorted(map(_key, components)):
            raise RefundReferenceConflictError(reference)
        return existing

    def check_new(self, components: list[RefundComponent], facts: ParcelFacts,
                  amount_paid: Money, shipping_paid: Money,
                  return_shipping_cost: Money | None) -> Money:
        """AM-2 and AM-3: each kind within what was paid for it; returns the amount."""
        if not components:
            raise InvalidValueError("components", "a refund has at least one component")
        for component in components:
            if component.amount.currency != self.currency:
                raise InvalidValueError("currency", f"refunds of this parcel are in {self.currency}")
        caps = {RefundComponentKind.ITEM: amount_paid,
                RefundComponentKind.SHIPPING: shipping_paid,
                RefundComponentKind.RETURN_SHIPPING: Money.zero(self.currency)}
        if any(c.kind is RefundComponentKind.RETURN_SHIPPING for c in components):
            if not facts.seller_fault:
                raise RuleViolationError(
                    "AM-2", "return shipping is refunded only when the return is the "
                    "seller's fault", seller_fault=str(bool(facts.seller_fault)).lower())
            caps[RefundComponentKind.RETURN_SHIPPING] = (
                return_shipping_cost or Money.zero(self.currency))
        for kind, cap in caps.items():
            asked = total([c.amount for c in components if c.kind is kind], self.currency)
            if not asked.is_positive:
                continue
            before = total([m for r in self if r.is_committed for m in r.by_kind(kind)],
                           self.currency)
            if before + asked > cap:
                raise RuleViolationError(
                    "AM-3", f"the {kind.value} refund would exceed what was paid",
                    kind=kind.value, paid=str(cap), already_refunded=str(before),
                    requested=str(asked))
        return total([c.amount for c in components], self.currency)

    def approval_retry(self, reference: str, approver: str) -> Refund | None:
        """The refund, when the same person approves again what they approved: a retry."""
        refund = self.find(reference)
        if refund is not None and same_person(refund.approved_by, approver):
            return refund
        return None

    def check_approval(self, refund: Refund, approver: str) -> None:
        """AM-4: only a waiting refund, only by a person, never by the one who asked."""
        if not refund.needs_approval or refund.status != "requested":
            raise RuleViolationError("AM-4", "this refund does not wait for approval",
                                     reference=refund.reference, status=refund.status)
        if not is_person(approver):
            raise RuleViolationError("AM-4", "an approval is given by an identified person",
                                     reference=refund.reference, approver=approver)
        if same_person(approver, refund.requested_by):
            raise RuleViolationError("AM-4", "a large refund needs a second person's approval",
                                     reference=refund.reference, requested_by=approver)

    def release_retry(self, reference: str, status: str) -> Refund | None:
        """The refund, when it is rejected, failed or reversed already: a retry."""
        refund = self.find(reference)
        return refund if refund is not None and refund.status == status else None

    def check_release(self, refund: Refund, status: str, actor: str) -> None:
        """Reject, fail or reverse: from the right status; an issued refund is released
        by an identified person other than the one who issued it (separation of duties)."""
        if refund.status != RELEASE_FROM[status] or (
                status == "rejected" and not refund.needs_approval):
            raise RuleViolationError(
                RELEASE_RULE[status], f"a {refund.status} refund cannot be {status}",
                reference=refund.reference, status=refund.status,
                allowed_from=RELEASE_FROM[status])
        if status == "rejected":
            return  # withdrawing money that never left needs no second person
        if not is_person(actor):
            raise RuleViolationError("AM-4", f"a refund is {status} on the word of an "
                                     "identified person", reference=refund.reference,
                                     actor=actor)
        if same_person(actor, refund.issued_by):
            raise RuleViolationError("AM-4", f"the person who issued a refund does not record "
                                     f"it as {status}: a second person does",
                                     reference=refund.reference, issued_by=actor)

    # -- state changes, called from the aggregate's event methods ----------------
    def requested(self, reference: str, components: list[dict[str, Any]], amount: Money,
                  needs_approval: bool, actor: str, occurred_at: datetime) -> None:
        parts = [RefundComponent(c["kind"], c["amount"]) for c in components]
        self.refunds[reference] = Refund(reference, parts, amount, needs_approval, actor,
                                         occurred_at)

    def approved(self, reference: str, actor: str, occurred_at: datetime) -> None:
        refund = self.refunds[reference]
        refund.status, refund.approved_by, refund.approved_at = "approved", actor, occurred_at

    def issued(self, reference: str, occurred_at: datetime, actor: str | None = None) -> None:
        refund = self.refunds[reference]
        refund.status, refund.issued_at, refund.issued_by = "issued", occurred_at, actor

    def released(self, reference: str, status: str, reason: str, actor: str,
                 occurred_at: datetime) -> None:
        refund = self.refunds[reference]
        refund.status, refund.reason = status, reason
        refund.released_by, refund.released_at = actor, occurred_at


def _key(component: RefundComponent) -> tuple[str, str]:
    return component.kind.value, str(component.amount)  # amount and currency
