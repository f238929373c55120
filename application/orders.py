"""Orders (LZ-3, CD-1) and buyer questions (CD-3): mixed into the ledger; load, act, save.

Every command reads the aggregate as stored and saves through the ledger's one save path;
a concurrent change makes the save conflict (409), never a lost update. The automatic
outcomes (`expire_order`, `expire_question`) are what the deadlines run calls: they decide
on the aggregate and record nothing when it has moved on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository
from eventsourcing.persistence import Recording

from application.dto import CommandResult
from domain.errors import NotFoundError, VersionConflictError
from domain.messages import BuyerQuestion
from domain.money import Money
from domain.order import Order, OrderDeadlines
from domain.policies import Policies

T = TypeVar("T", Order, BuyerQuestion)


class OrderNotFoundError(NotFoundError):
    """No order (or buyer question) has that id."""

    def __init__(self, key: object, what: str = "order") -> None:
        super().__init__(f"{what} {key} not found")
        self.key = key


@dataclass(frozen=True)
class OrderView:
    """An order's state: its stage, the deadline it waits on and what was decided."""

    id: UUID
    platform: str
    site: str
    seller_id: str
    order_id: str
    status: str
    created_at: datetime
    due_at: datetime | None
    deadline_rule: str
    cancellation_requested: bool
    settled: bool | None
    fined: bool
    commission: Money | None
    commission_refunded: bool | None
    version: int


@dataclass(frozen=True)
class QuestionView:
    """A buyer question's state; no text is kept (CD-3)."""

    id: UUID
    platform: str
    seller_id: str
    question_id: str
    kind: str
    order_id: str | None
    language: str
    status: str
    asked_at: datetime
    due_at: datetime | None
    preferred_by: datetime
    answered_at: datetime | None
    escalation: str | None
    version: int


class OrderStages:
    """Mixed into the ledger: the order stages before a parcel exists, and CD-3 questions."""

    repository: Repository[UUID]
    policies: Policies
    # The ledger's own (application/ledger.py):
    save: Callable[..., list[Recording[UUID]]]

    @property
    def order_deadlines(self) -> OrderDeadlines:
        return OrderDeadlines(ready_to_ship_hours=self.policies.settings.ready_to_ship_hours)

    # -- loading and acting ---------------------------------------------------------------
    def _load(self, aggregate_id: UUID, kind: type[T]) -> T:
        what = "order" if kind is Order else "buyer question"
        try:
            aggregate: Any = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise OrderNotFoundError(aggregate_id, what) from None
        if not isinstance(aggregate, kind):
            raise OrderNotFoundError(aggregate_id, what)
        return aggregate

    def _saved_result(self, aggregate: Order | BuyerQuestion) -> CommandResult:
        recordings = self.save(aggregate) if aggregate.pending_events else []
        position = recordings[-1].notification.id if recordings else None
        return CommandResult(aggregate.id, aggregate.version, aggregate.status.value,
                             position)

    def _on_order(self, order_id: UUID, act: Callable[[Order], Any],
                  expected_version: int | None) -> CommandResult:
        order = self._load(order_id, Order)
        if expected_version is not None and order.version != expected_version:
            raise VersionConflictError(order_id, expected_version, order.version)
        act(order)
        return self._saved_result(order)

    def _on_question(self, question_id: UUID, act: Callable[[BuyerQuestion], Any],
                     expected_version: int | None) -> CommandResult:
        question = self._load(question_id, BuyerQuestion)
        if expected_version is not None and question.version != expected_version:
            raise VersionConflictError(question_id, expected_version, question.version)
        act(question)
        return self._saved_result(question)

    def _sites(self, platform: str) -> frozenset[str]:
        try:
            return self.policies.for_platform(platform).sites
        except ValueError:  # not a platform: Order.create names the field
            return frozenset()

    # -- orders ---------------------------------------------------------------------------
    def create_order(self, *, platform: str, site: str, seller_id: str, order_id: str,
                     created_at: datetime, commission: Money | None = None,
                     actor: str = "system") -> CommandResult:
        """An order exists: Lazada verified the payment (pending, LZ-3) or Cdiscount passed
        it on (awaiting acceptance, CD-1). The same platform and order number is a 409."""
        order = Order.create(platform=platform, site=site, seller_id=seller_id,
                             order_id=order_id, created_at=created_at,
                             deadlines=self.order_deadlines, commission=commission,
                             sites=self._sites(platform), actor=actor)
        return self._saved_result(order)

    def mark_ready_to_ship(self, order_id: UUID, occurred_at: datetime, actor: str = "system",
                           expected_version: int | None = None) -> CommandResult:
        """LZ-3: the seller sets the order ready to ship within 48 hours."""
        return self._on_order(order_id, lambda o: o.mark_ready_to_ship(occurred_at, actor),
                              expected_version)

    def record_order_shipped(self, order_id: UUID, occurred_at: datetime,
                             reported_by: str = "system", actor: str = "system",
                             expected_version: int | None = None) -> CommandResult:
        """LZ-3: set by the system at the destination's logistics centre (CD-1: shipped)."""
        return self._on_order(order_id, lambda o: o.record_shipped(occurred_at, reported_by,
                                                                   actor), expected_version)

    def record_order_delivered(self, order_id: UUID, occurred_at: datetime,
                               reported_by: str = "carrier", actor: str = "system",
                               expected_version: int | None = None) -> CommandResult:
        """LZ-3: from the carrier's information; settled in the next settlement cycle."""
        return self._on_order(order_id, lambda o: o.record_delivered(occurred_at, reported_by,
                                                                     actor), expected_version)

    def record_order_delivery_failed(self, order_id: UUID, occurred_at: datetime,
                                     reported_by: str = "carrier", actor: str = "system",
                                     expected_version: int | None = None) -> CommandResult:
        """LZ-3: delivery failed; marked so by the seller, the order is not settled."""
        return self._on_order(order_id, lambda o: o.record_delivery_failed(
            occurred_at, reported_by, actor), expected_version)

    def accept_order(self, order_id: UUID, occurred_at: datetime, actor: str = "system",
                     expected_version: int | None = None) -> CommandResult:
        """CD-1: accepted within 48 hours; the buyer is charged."""
        return self._on_order(order_id, lambda o: o.accept(occurred_at, actor),
                              expected_version)

    def refuse_order(self, order_id: UUID, reason: str, occurred_at: datetime,
                     actor: str = "system",
                     expected_version: int | None = None) -> CommandResult:
        """CD-1: refused; the acceptance rate drops and the commission is kept."""
        return self._on_order(order_id, lambda o: o.refuse(reason, occurred_at, actor),
                              expected_version)

    def buyer_cancels_order(self, order_id: UUID, occurred_at: datetime,
                            actor: str = "system",
                            expected_version: int | None = None) -> CommandResult:
        """CD-1: the buyer cancels (at once before acceptance, else the seller answers)."""
        return self._on_order(order_id, lambda o: o.buyer_cancels(occurred_at, actor),
                              expected_version)

    def answer_cancellation(self, order_id: UUID, accept: bool, occurred_at: datetime,
                            actor: str = "system",
                            expected_version: int | None = None) -> CommandResult:
        """CD-1: the seller accepts (commission refunded) or refuses the cancellation."""
        return self._on_order(order_id, lambda o: o.answer_cancellation(accept, occurred_at,
                                                                        actor),
                              expected_version)

    def expire_order(self, order_id: UUID, now: datetime,
                     actor: str = "deadlines") -> CommandResult:
        """The deadlines run: cancel the order if its LZ-3/CD-1 deadline passed."""
        return self._on_order(order_id, lambda o: o.expire(now, actor), None)

    def get_order(self, order_id: UUID) -> OrderView:
        o = self._load(order_id, Order)
        return OrderView(o.id, o.platform, o.site, o.seller_id, o.order_id, o.status.value,
                         o.created_at, o.due_at, o.stage_rule, o.cancellation_requested,
                         o.settled, o.fined, o.commission, o.commission_refunded, o.version)

    # -- buyer questions (CD-3) ------------------------------------------------------------
    def ask_question(self, *, platform: str, seller_id: str, question_id: str, kind: str,
                     asked_at: datetime, language: str, order_id: str | None = None,
                     actor: str = "system") -> CommandResult:
        """CD-3: a buyer asked; the answer is due within 48 hours (24 preferred)."""
        question = BuyerQuestion.ask(platform=platform, seller_id=seller_id,
                                     question_id=question_id, kind=kind, asked_at=asked_at,
                                     buyer_language=language, deadlines=self.order_deadlines,
                                     order_id=order_id, actor=actor)
        return self._saved_result(question)

    def answer_question(self, question_id: UUID, language: str, occurred_at: datetime,
                        actor: str = "system",
                        expected_version: int | None = None) -> CommandResult:
        """CD-3: the seller's reply, in French; a late one escalates to a dispute."""
        return self._on_question(question_id, lambda q: q.answer(language, occurred_at, actor),
                                 expected_version)

    def close_question(self, question_id: UUID, occurred_at: datetime, actor: str = "system",
                       expected_version: int | None = None) -> CommandResult:
        """CD-3: the seller closes an answered product question."""
        return self._on_question(question_id, lambda q: q.close(occurred_at, actor),
                                 expected_version)

    def buyer_not_satisfied(self, question_id: UUID, occurred_at: datetime,
                            actor: str = "system",
                            expected_version: int | None = None) -> CommandResult:
        """CD-3: the buyer is not satisfied with the reply: a dispute."""
        return self._on_question(question_id, lambda q: q.buyer_not_satisfied(occurred_at,
                                                                              actor),
                                 expected_version)

    def expire_question(self, question_id: UUID, now: datetime,
                        actor: str = "deadlines") -> CommandResult:
        """The deadlines run: an unanswered question past 48 hours becomes a dispute."""
        return self._on_question(question_id, lambda q: q.expire(now, actor), None)

    def get_question(self, question_id: UUID) -> QuestionView:
        q = self._load(question_id, BuyerQuestion)
        return QuestionView(q.id, q.platform, q.seller_id, q.question_id, q.kind.value,
                            q.order_id, q.language, q.status.value, q.asked_at, q.due_at,
                            q.preferred_by, q.answered_at, q.escalation, q.version)
