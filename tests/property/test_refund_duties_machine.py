"""Separation of duties holds whatever people do with a parcel's refunds (AM-3, AM-4).

Random people, some through two keys (and actors that name nobody), request, approve,
reject, fail and reverse refunds of random amounts, kinds, currencies and references on
one parcel, on the aggregate alone. After every step, counted from the events the
aggregate emitted:

- AM-4: the money that left without a second person's approval is at most the
  threshold of the parcel's currency, whoever sent it, however often it was released;
  every approval is by an identified person other than the requester (whichever of
  their keys each used).
- AM-3: the net refunded amount (issued minus failed and reversed), per component and
  in total, never exceeds what was paid, nor does what is still committed.
- every failure or reversal is recorded by an identified person other than the issuer;
- a refused command emits nothing, and the state rebuilt from the events is the live one.

Besides fully random requests and releases, two rules aim at the loop that once got
round AM-4: a request of half the threshold up to all of it, and a failure or reversal
of a refund that is issued now (without them, 300 examples did not find "issue, let a
second person record it failed, issue again" when released refunds stopped counting).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.errors import DomainError
from domain.money import MINOR_UNITS, Money
from domain.parcel import ReturnParcel
from domain.policies import Policies
from domain.values import RefundComponent, RefundComponentKind
from tests.unit.support import DAY, HOUR, T0, parcel, policies, replayed

P = ReturnParcel
# Who each actor is, said here rather than asked of the domain: "Alice " and "alice" are
# one person, and so are every key of one owner (`person:<owner>/key:<id>`, the actor the
# application records) and that owner's events recorded before the key was.
PEOPLE = {"alice": "alice", "Alice ": "alice", "bob": "bob", "BOB": "bob", "carol": "carol",
          "person:dana": "dana", "person:dana/key:k-1": "dana", "person:dana/key:k-2": "dana",
          "person:erin/key:k-3": "erin", "person:erin/key:k-4": "erin"}
NOBODY = ["system", "unowned:key-9", "deadlines", "system/key:k-5"]
actors = st.sampled_from(sorted(PEOPLE) + NOBODY)


def who(actor: str) -> str | None:
    """The person an actor is, or None for one that names nobody."""
    return PEOPLE.get(actor)
references = st.sampled_from(["R-1", "R-2", "R-3", "R-4", "R-5", "R-6"])
kinds = st.sampled_from(list(RefundComponentKind))


class RefundDutiesMachine(RuleBasedStateMachine):
    """One TikTok Shop parcel in MYR, and what finance people do with its refunds."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[Any] = []
        self.now = T0 + DAY

    @initialize(price=st.integers(min_value=100, max_value=100_000),
                shipping=st.integers(min_value=0, max_value=2_000),
                threshold=st.integers(min_value=1, max_value=1_500))
    def register(self, price: int, shipping: int, threshold: int) -> None:
        self.threshold = Decimal(threshold)
        self.rules: Policies = policies(MYR=str(threshold))
        self.policy = self.rules.for_platform("tiktok_shop")
        self.parcel = parcel(self.rules, price=str(self.myr(price).amount),
                             shipping=str(self.myr(shipping).amount))
        self.collect()

    @staticmethod
    def myr(minor: int) -> Money:
        return Money(Decimal(minor).scaleb(-MINOR_UNITS["MYR"]), "MYR")

    def at(self) -> Any:
        self.now += HOUR
        return self.now

    def collect(self) -> None:
        self.events.extend(self.parcel.collect_events())

    def run(self, command: Any) -> None:
        """Run one command; a refused one must emit nothing."""
        try:
            command()
        except DomainError:
            assert not self.parcel.collect_events(), "a refused command emitted events"
            return
        self.collect()

    # -- what people do --------------------------------------------------------------
    @rule(reference=references, actor=actors, data=st.data())
    def request(self, reference: str, actor: str, data: st.DataObject) -> None:
        cap = int(self.parcel.full_refund.amount * 100) + 500
        parts = data.draw(st.lists(st.tuples(
            kinds, st.integers(min_value=1, max_value=cap),
            st.sampled_from(["MYR", "MYR", "MYR", "EUR"])), min_size=1, max_size=3))
        components = [RefundComponent(kind, Money(Decimal(minor).scaleb(-2), currency))
                      for kind, minor, currency in parts]
        self.run(lambda: self.parcel.request_refund(reference, components, self.policy,
                                                    self.at(), actor=actor))

    @rule(reference=references, actor=actors, data=st.data())
    def request_near_the_threshold(self, reference: str, actor: str,
                                   data: st.DataObject) -> None:
        """An item refund of half the threshold up to all of it (capped at what was paid):
        the size that issue-and-release loops use, two of them pass the threshold."""
        top = max(1, min(int(self.threshold * 100), int(self.parcel.amount_paid.amount * 100)))
        minor = data.draw(st.integers(min_value=max(1, top // 2), max_value=top))
        components = [RefundComponent(RefundComponentKind.ITEM, self.myr(minor))]
        self.run(lambda: self.parcel.request_refund(reference, components, self.policy,
                                                    self.at(), actor=actor))

    @rule(actor=actors, data=st.data())
    def release_an_issued_refund(self, actor: str, data: st.DataObject) -> None:
        """Fail or reverse a refund that is issued now (the second half of such a loop)."""
        issued = sorted(r.reference for r in self.parcel.refunds if r.status == "issued")
        if not issued:
            return
        reference = data.draw(st.sampled_from(issued))
        command = getattr(self.parcel, data.draw(st.sampled_from(
            ["record_refund_failure", "reverse_refund"])))
        self.run(lambda: command(reference, "bounced", self.at(), actor=actor))

    @rule(reference=references, actor=actors)
    def approve(self, reference: str, actor: str) -> None:
        self.run(lambda: self.parcel.approve_refund(reference, self.at(), actor=actor))

    @rule(reference=references, actor=actors)
    def reject(self, reference: str, actor: str) -> None:
        self.run(lambda: self.parcel.reject_refund(reference, "no", self.at(), actor=actor))

    @rule(reference=references, actor=actors)
    def fail(self, reference: str, actor: str) -> None:
        self.run(lambda: self.parcel.record_refund_failure(reference, "bounced", self.at(),
                                                           actor=actor))

    @rule(reference=references, actor=actors)
    def reverse(self, reference: str, actor: str) -> None:
        self.run(lambda: self.parcel.reverse_refund(reference, "charged back", self.at(),
                                                    actor=actor))

    @rule()
    def deliver(self) -> None:
        self.run(lambda: self.parcel.record_delivery(self.at()))

    @rule()
    def close(self) -> None:
        """A closed parcel still takes failures and reversals (money already issued)."""
        self.run(lambda: self.parcel.close(self.at()))

    # -- invariants, counted from the events -------------------------------------------
    @invariant()
    def at_most_the_threshold_leaves_unreviewed(self) -> None:
        requested = {e.reference: e for e in self.events if isinstance(e, P.RefundRequested)}
        approvals = {e.reference: e for e in self.events if isinstance(e, P.RefundApproved)}
        unreviewed: dict[str, Decimal] = defaultdict(Decimal)
        for e in self.events:
            if isinstance(e, P.RefundApproved):
                assert who(e.actor) is not None
                assert who(e.actor) != who(requested[e.reference].actor)
            if isinstance(e, P.RefundIssued) and e.reference not in approvals:
                unreviewed[e.actor] += e.amount.amount
        assert sum(unreviewed.values(), Decimal(0)) <= self.threshold, unreviewed

    @invariant()
    def net_refunds_never_exceed_what_was_paid(self) -> None:
        p = self.parcel
        caps = {RefundComponentKind.ITEM: p.amount_paid.amount,
                RefundComponentKind.SHIPPING: p.shipping_paid.amount,
                RefundComponentKind.RETURN_SHIPPING: Decimal(0)}  # never the seller's fault
        components = {e.reference: e.components for e in self.events
                      if isinstance(e, P.RefundRequested)}
        net: dict[Any, Decimal] = defaultdict(Decimal)
        status: dict[str, str] = {}
        for e in self.events:
            sign = {P.RefundIssued: 1, P.RefundFailed: -1, P.RefundReversed: -1}.get(type(e))
            if sign is not None:
                for c in components[e.reference]:
                    net[RefundComponentKind(c["kind"])] += sign * c["amount"].amount
            if isinstance(e, P.RefundRequested):
                status[e.reference] = "requested"
            elif isinstance(e, P.RefundIssued | P.RefundFailed | P.RefundReversed
                            | P.RefundRejected):
                status[e.reference] = type(e).__name__
        committed: dict[Any, Decimal] = defaultdict(Decimal)
        for reference, state in status.items():
            if state in ("requested", "RefundIssued"):
                for c in components[reference]:
                    committed[RefundComponentKind(c["kind"])] += c["amount"].amount
        for kind, cap in caps.items():
            assert Decimal(0) <= net[kind] <= cap, (kind, net[kind], cap)
            assert committed[kind] <= cap, (kind, committed[kind], cap)
        assert all(c["amount"].currency == "MYR" for parts in components.values()
                   for c in parts)

    @invariant()
    def a_release_is_recorded_by_a_second_person(self) -> None:
        issuer: dict[str, str] = {}
        for e in self.events:
            if isinstance(e, P.RefundIssued):
                issuer[e.reference] = e.actor
            elif isinstance(e, P.RefundFailed | P.RefundReversed):
                assert who(e.actor) is not None and who(e.actor) != who(issuer[e.reference])

    @invariant()
    def replay_equals_live(self) -> None:
        again = replayed(self.events)
        assert again.refunds == self.parcel.refunds
        assert again.status == self.parcel.status and again.version == self.parcel.version


# At least 300 examples wherever it runs (the profile's count is lower locally); the
# aggregate alone, no store: about a second per hundred examples.
RefundDutiesMachine.TestCase.settings = settings(
    max_examples=300, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
TestRefundDuties = RefundDutiesMachine.TestCase
