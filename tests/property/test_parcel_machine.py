"""A ReturnParcel driven by random commands through the ledger keeps its invariants.

After every step: refunds committed never exceed what was paid (per component and in
total), at most one free return (TT-3), each event raised the version by one, a
refused command changed nothing (terminal states refuse everything), and the state
rebuilt from the stored events equals the live aggregate.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.application import project_aggregate
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from application.dto import ParcelView
from application.ledger import ReturnsLedger
from domain.errors import DomainError, TransitionError
from domain.money import MINOR_UNITS, Money
from domain.parcel import ALLOWED, NON_TERMINAL, ReturnParcel
from domain.refunds import RefundReferenceConflictError
from domain.values import (
    TERMINAL,
    Condition,
    DisposalKind,
    FailureReason,
    InvestigationKind,
    Line,
    Party,
    RefundComponent,
    RefundComponentKind,
    Remedy,
    ReturnFailureCause,
    Status,
)
from tests.conftest import TEST_PERSONAL_DATA_KEY
from tests.integration.rules.conftest import ADDRESS, DAY, T0

USEC = timedelta(microseconds=1)
COMMITTED = ("requested", "approved", "issued")  # what the AM-3 cap counts
SITES = {"tiktok_shop": ("MY", "MYR"), "lazada": ("PH", "PHP"),
         "amazon": ("DE", "EUR"), "cdiscount": ("FR", "EUR")}
# Where the seller's return addresses are, per platform (LZ-1 real name, CD-4 remedies).
ADDRESS_SETUPS = {
    "tiktok_shop": ["none", "before_order", "at_order", "after_order"],
    "lazada": ["none", "cn_unverified", "cn_verified", "cn_kr_seller", "site_country"],
    "amazon": ["none", "domestic"],
    "cdiscount": ["none", "fr", "abroad", "fr_and_abroad"],
}

hours = st.integers(min_value=0, max_value=20 * 24)
# The aggregate's own command names (ALLOWED says which state allows which).
COMMANDS = ["record_delivery_attempt", "record_delivery_failure", "record_delivery",
            "request_return", "route_return", "request_redelivery", "issue_return_label",
            "record_return_failure", "receive", "inspect", "request_refund", "approve_refund",
            "reject_refund", "record_refund_failure", "reverse_refund",
            "dispose", "close", "open_investigation", "resolve_investigation"]
# Facts about money already paid out, recorded whatever became of the parcel: the only
# commands a terminal state takes, and they leave it terminal.
MONEY_FACTS = {"record_refund_failure", "reverse_refund"}
actors = st.sampled_from(["clerk", "finance", "system"])
references = st.sampled_from(["R-1", "R-2", "R-3"])


class LiveLedger(ReturnsLedger):
    """The ledger, remembering the last parcel object it saved: the live state."""

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        recordings = super().save(*objs, **kwargs)
        for obj in objs:
            if isinstance(obj, ReturnParcel):
                self.live = obj
        return recordings


class ParcelMachine(RuleBasedStateMachine):
    """One parcel of a random platform, commanded at random business times."""

    def __init__(self) -> None:
        super().__init__()
        self.ledger = LiveLedger({"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                                  "SQLITE_DBNAME": ":memory:",
                                  "PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY})
        self.parcel: UUID | None = None
        self.now = T0
        self.refused = 0
        self._view: ParcelView | None = None
        self._stored = 0

    def teardown(self) -> None:
        self.ledger.close()

    # -- set-up ------------------------------------------------------------------------
    @initialize(data=st.data(), platform=st.sampled_from(sorted(SITES)),
                minor=st.integers(min_value=1, max_value=2_000_000),
                shipping_minor=st.integers(min_value=0, max_value=2_000),
                quantity=st.integers(min_value=1, max_value=3), jpy=st.booleans())
    def register(self, data: st.DataObject, platform: str, minor: int, shipping_minor: int,
                 quantity: int, jpy: bool) -> None:
        site, currency = SITES[platform]
        if platform == "amazon" and jpy:
            site, currency = "JP", "JPY"
        self.currency = currency
        self._addresses(platform, site, data.draw(st.sampled_from(ADDRESS_SETUPS[platform])))
        unit = self.money(minor)
        self.parcel = self.ledger.register_parcel(
            platform=platform, site=site, seller_id="seller-1", order_id="ORDER-1",
            order_created_at=T0, tracking_number="TRK-1", lines=[Line("SKU-1", quantity, unit)],
            amount_paid=unit * quantity, shipping_paid=self.money(shipping_minor),
            occurred_at=T0 + DAY).id
        self.now = T0 + DAY

    def _addresses(self, platform: str, site: str, setup: str) -> None:
        def add(country: str, at: datetime, seller_country: str | None = None) -> UUID:
            return self.ledger.register_return_address(
                seller_id="seller-1", platform=platform, country=country, address=ADDRESS,
                effective_from=at, occurred_at=at, seller_country=seller_country).id

        before = T0 - 10 * DAY
        if setup in ("before_order", "site_country", "domestic"):
            add(site, before)
        elif setup == "at_order":
            add(site, T0)
        elif setup == "after_order":
            add(site, T0 + DAY)
        elif setup in ("cn_unverified", "cn_verified"):
            address = add("CN", before, "CN")
            if setup == "cn_verified":
                self.ledger.verify_real_name(address, {"name": "Li Lei", "id_number": "X1"},
                                             before)
        elif setup == "cn_kr_seller":
            add("CN", before, "KR")
        if setup in ("fr", "fr_and_abroad"):
            add("FR", before)
        if setup in ("abroad", "fr_and_abroad"):
            add("CN", before)

    def money(self, minor: int) -> Money:
        return Money(Decimal(minor).scaleb(-MINOR_UNITS[self.currency]), self.currency)

    def at(self, hours_later: int) -> datetime:
        self.now = self.now + timedelta(hours=hours_later)
        return self.now

    # -- the one place commands run ------------------------------------------------------
    def run(self, command: Any, money_fact: bool = False, refund: bool = False) -> None:
        """Run a command; a refused one must leave no trace, a terminal state refuses all
        but money facts and refund retries (the same refund again records nothing)."""
        before, stored_before = self._view, self._stored  # as the last invariant check saw
        assert before is not None
        self._view = None
        try:
            result = command()
        except DomainError as error:
            self.refused += 1
            assert self.ledger.get_parcel(self.parcel) == before
            assert len(self.stored()) == stored_before
            if Status(before.status) in TERMINAL and not money_fact:
                if refund and isinstance(error, RefundReferenceConflictError):
                    return  # a known reference sent with other amounts
                assert isinstance(error, TransitionError), error
                assert error.status == before.status
            return
        new_events = len(self.stored()) - stored_before
        if Status(before.status) in TERMINAL:
            assert money_fact or (refund and new_events == 0), \
                "a terminal parcel accepted a command"
            assert self.view().status == before.status
        assert result.version == before.version + new_events

    def stored(self) -> list[Any]:
        return list(self.ledger.recorder.select_events(self.parcel))

    def view(self) -> ParcelView:
        if self._view is None:
            self._view = self.ledger.get_parcel(self.parcel)
        return self._view

    # -- commands: each draws its own arguments ----------------------------------------
    def record_delivery_attempt(self, data: st.DataObject) -> None:
        reason = data.draw(st.sampled_from(["not at home", "closed shop"]))
        dt = data.draw(hours)
        self.run(lambda: self.ledger.record_delivery_attempt(self.parcel, reason, self.at(dt)))

    def record_delivery_failure(self, data: st.DataObject) -> None:
        reason = data.draw(st.sampled_from([r.value for r in FailureReason]))
        reported_by = data.draw(st.sampled_from(["carrier", "seller"]))
        dt = data.draw(hours)
        self.run(lambda: self.ledger.record_failed_delivery(
            self.parcel, reason, self.at(dt), reported_by=reported_by))

    def record_delivery(self, data: st.DataObject) -> None:
        dt = data.draw(hours)
        self.run(lambda: self.ledger.record_delivery(self.parcel, self.at(dt)))

    def request_return(self, data: st.DataObject) -> None:
        seller_fault, unconditional = data.draw(st.booleans()), data.draw(st.booleans())
        cost = data.draw(st.none() | st.integers(min_value=1, max_value=3_000))
        dt = data.draw(hours)
        self.run(lambda: self.ledger.request_return(
            self.parcel, "defect" if seller_fault else "changed mind", seller_fault,
            self.at(dt), unconditional=unconditional,
            return_shipping_cost=self.money(cost) if cost else None))

    def route_return(self, data: st.DataObject) -> None:
        remedy = data.draw(st.none() | st.sampled_from([r.value for r in Remedy]))
        dt = data.draw(hours)
        self.run(lambda: self.ledger.route_return(self.parcel, self.at(dt), remedy=remedy))

    def request_redelivery(self, data: st.DataObject) -> None:
        hold_until = self.view().hold_until
        if hold_until is not None and data.draw(st.booleans()):
            self.at_hold_boundary(data, "redeliver", hold_until)
            return
        dt = data.draw(hours)
        self.run(lambda: self.ledger.request_redelivery(self.parcel, self.at(dt)))

    def issue_return_label(self, data: st.DataObject) -> None:
        number = data.draw(st.sampled_from(["RET-1", "RET-2"]))
        url = data.draw(st.none() | st.sampled_from(["https://t.example/RET",
                                                     "ftp://t.example/RET"]))
        dt = data.draw(hours)
        self.run(lambda: self.ledger.issue_return_label(self.parcel, "DHL", number,
                                                        self.at(dt), tracking_url=url))

    def record_return_failure(self, data: st.DataObject) -> None:
        cause = data.draw(st.sampled_from([c.value for c in ReturnFailureCause]))
        dt = data.draw(hours)
        self.run(lambda: self.ledger.record_return_failure(self.parcel, cause, self.at(dt)))

    def receive(self, data: st.DataObject) -> None:
        dt = data.draw(hours)
        self.run(lambda: self.ledger.receive(self.parcel, self.at(dt)))

    def inspect(self, data: st.DataObject) -> None:
        condition = data.draw(st.sampled_from([c.value for c in Condition]))
        restock = data.draw(st.none() | st.booleans())
        dt = data.draw(hours)
        self.run(lambda: self.ledger.inspect(self.parcel, condition, self.at(dt),
                                             restock=restock))

    def request_refund(self, data: st.DataObject) -> None:
        full = self.view().amount_paid + self.view().shipping_paid
        ceiling = int(full.amount.scaleb(MINOR_UNITS[self.currency])) + 2
        parts = data.draw(st.lists(st.tuples(
            st.sampled_from(list(RefundComponentKind)),
            st.integers(min_value=1, max_value=ceiling)), min_size=1, max_size=3))
        components = [RefundComponent(kind, self.money(minor)) for kind, minor in parts]
        reference, actor, dt = data.draw(references), data.draw(actors), data.draw(hours)
        self.run(lambda: self.ledger.request_refund(self.parcel, reference, components,
                                                    self.at(dt), actor=actor), refund=True)

    def approve_refund(self, data: st.DataObject) -> None:
        reference, actor, dt = data.draw(references), data.draw(actors), data.draw(hours)
        self.run(lambda: self.ledger.approve_refund(self.parcel, reference, self.at(dt),
                                                    actor=actor), refund=True)

    def reject_refund(self, data: st.DataObject) -> None:
        self.release("reject_refund", data)

    def record_refund_failure(self, data: st.DataObject) -> None:
        self.release("record_refund_failure", data)

    def reverse_refund(self, data: st.DataObject) -> None:
        self.release("reverse_refund", data)

    def release(self, command: str, data: st.DataObject) -> None:
        reference, actor, dt = data.draw(references), data.draw(actors), data.draw(hours)
        self.run(lambda: getattr(self.ledger, command)(self.parcel, reference, "bounced",
                                                       self.at(dt), actor=actor),
                 money_fact=command in MONEY_FACTS, refund=True)

    def dispose(self, data: st.DataObject) -> None:
        kind = data.draw(st.sampled_from([k.value for k in DisposalKind]))
        hold_until = self.view().hold_until
        if hold_until is not None and data.draw(st.booleans()):
            self.at_hold_boundary(data, kind, hold_until)
            return
        dt = data.draw(hours)
        self.run(lambda: self.ledger.dispose(self.parcel, kind, self.at(dt)))

    def close(self, data: st.DataObject) -> None:
        dt = data.draw(hours)
        self.run(lambda: self.ledger.close_parcel(self.parcel, self.at(dt)))

    def open_investigation(self, data: st.DataObject) -> None:
        kind = data.draw(st.sampled_from([k.value for k in InvestigationKind]))
        dt = data.draw(hours)
        self.run(lambda: self.ledger.open_investigation(self.parcel, kind, self.at(dt)))

    def resolve_investigation(self, data: st.DataObject) -> None:
        open_ids = sorted(self.view().investigations)
        known = st.sampled_from(open_ids) if open_ids else st.nothing()
        investigation = data.draw(known | st.sampled_from(["false_return-1", "unknown-9"]))
        liability = data.draw(st.sampled_from([p.value for p in Party]))
        dt = data.draw(hours)
        self.run(lambda: self.ledger.resolve_investigation(
            self.parcel, investigation, "found", liability, self.at(dt)))

    def at_hold_boundary(self, data: st.DataObject, kind: str, hold_until: datetime) -> None:
        """TT-2: the hold's end is the exact edge for redelivery and disposal."""
        moment = hold_until + data.draw(st.sampled_from([-USEC, timedelta(0), USEC]))
        self.now = max(self.now, moment)
        if kind == "redeliver":
            self.run(lambda: self.ledger.request_redelivery(self.parcel, moment))
        else:
            self.run(lambda: self.ledger.dispose(self.parcel, kind, moment))

    # -- rules: any command at all, or one the current state allows ------------------------
    @rule(data=st.data(), command=st.sampled_from(COMMANDS))
    def any_command(self, data: st.DataObject, command: str) -> None:
        getattr(self, command)(data)

    @rule(data=st.data())
    def allowed_command(self, data: st.DataObject) -> None:
        """Bias towards deep states: pick among the commands the state allows."""
        status = Status(self.view().status)
        allowed = [c for c in COMMANDS if status in ALLOWED[c]]
        # Mostly the steps that move the parcel on, not the refunds and tickets any
        # live state allows.
        moving = [c for c in allowed if ALLOWED[c] != NON_TERMINAL and c not in MONEY_FACTS]
        if moving and data.draw(st.integers(min_value=0, max_value=3)):
            allowed = moving
        if allowed:
            getattr(self, data.draw(st.sampled_from(allowed)))(data)

    # -- invariants, checked after every step ---------------------------------------------
    @invariant()
    def invariants_hold(self) -> None:
        if self.parcel is None:
            return
        events = list(self.ledger.events.get(self.parcel))
        live = ParcelView.of(self.ledger.live)
        self.versions_are_contiguous(events, live)
        self.replay_equals_live(events, live)
        self.refunds_never_exceed_what_was_paid()
        self.at_most_one_free_return(events, live)
        self.views_derive_the_status(events, live)
        self._view, self._stored = live, len(events)

    def versions_are_contiguous(self, events: list[Any], live: ParcelView) -> None:
        """Each event raised the version by exactly one."""
        assert [e.originator_version for e in events] == list(range(1, len(events) + 1))
        assert live.version == len(events)

    def replay_equals_live(self, events: list[Any], live: ParcelView) -> None:
        """The state rebuilt from the stored events is the state the commands left."""
        assert ParcelView.of(project_aggregate(None, events)) == live
        assert self.ledger.get_parcel(self.parcel) == live

    def refunds_never_exceed_what_was_paid(self) -> None:
        """AM-3: per component and in total, counting refunds still waiting (per currency)."""
        parcel = self.ledger.live
        caps = {RefundComponentKind.ITEM: parcel.amount_paid,
                RefundComponentKind.SHIPPING: parcel.shipping_paid,
                RefundComponentKind.RETURN_SHIPPING: (parcel.return_shipping_cost
                                                      or Money.zero(self.currency))}
        committed = [r for r in parcel.refunds if r.status in COMMITTED]
        for kind, cap in caps.items():
            asked = sum((m.amount for r in committed for m in r.by_kind(kind)), Decimal(0))
            assert asked <= cap.amount, (kind, asked, cap)
        assert all(r.amount.currency == self.currency for r in parcel.refunds)
        assert parcel.refunded_total.amount <= sum(c.amount for c in caps.values())

    def views_derive_the_status(self, events: list[Any], live: ParcelView) -> None:
        """The status a view derives, folding each event's `status_after()`, is the
        aggregate's after every event: a transition the event does not declare fails here."""
        aggregate: Any = None
        derived: Status | None = None
        for domain_event in events:
            aggregate = domain_event.mutate(aggregate)
            derived = domain_event.status_after() or derived
            assert aggregate.status is derived, (type(domain_event).__name__, derived)
        assert live.status == derived

    def at_most_one_free_return(self, events: list[Any], live: ParcelView) -> None:
        """TT-3: the platform pays for one return per parcel."""
        free = [e for e in events
                if isinstance(e, ReturnParcel.ReturnRouted) and e.free_return]
        assert len(free) <= 1
        assert live.free_return_used is (len(free) == 1)

# Examples come from the profile (tests/conftest.py); 40 steps reach the deep states
# (second routing, approvals after a hold) while the CI run stays under a minute.
ParcelMachine.TestCase.settings = settings(stateful_step_count=40)
TestParcelMachine = ParcelMachine.TestCase
