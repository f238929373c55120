"""Buyer questions on Cdiscount (CD-3): answered in French within 48 hours (24 preferred),
or escalated to a dispute.

The ledger keeps no message text: a question records its kind, its language, the order it
is about and its times; a reply records its language and whether it was in time. The
rules need nothing more, and a buyer's words are personal data the ledger has no use for.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidValueError, RuleViolationError, TransitionError
from domain.order import OrderDeadlines
from domain.plausibility import ImplausibleValueError
from domain.values import aware, choice, text

QUESTION_NAMESPACE = uuid5(NAMESPACE_URL, "https://returns-ledger.invalid/question")
REPLY_LANGUAGE = "fr"  # CD-3: buyers are answered in French
_LANGUAGE = re.compile(r"^[a-z]{2}$")


class QuestionKind(StrEnum):
    PRODUCT = "product"  # closed by the seller once answered
    ORDER = "order"
    RETURN_REQUEST = "return_request"  # after delivery; then CD-4 applies


class QuestionStatus(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    CLOSED = "closed"
    ESCALATED = "escalated"  # a dispute now


class EscalationReason(StrEnum):
    NO_REPLY = "no_reply"
    LATE_REPLY = "late_reply"
    BUYER_NOT_SATISFIED = "buyer_not_satisfied"


def question_id_for(platform: str, seller_id: str, question_id: str) -> UUID:
    return uuid5(QUESTION_NAMESPACE, f"{platform}:{seller_id}:{question_id}")


def language(value: Any, field: str = "language") -> str:
    """An ISO 639-1 code such as "fr"."""
    if not isinstance(value, str) or not _LANGUAGE.match(value):
        raise InvalidValueError(field, "must be an ISO 639-1 language code such as 'fr'")
    return value


class BuyerQuestion(Aggregate):
    """One buyer question and its answer, with the CD-3 reply deadline."""

    class Event(Aggregate.Event):
        occurred_at: datetime
        actor: str

    class QuestionAsked(Event, Aggregate.Created):
        platform: str
        seller_id: str
        question_id: str
        kind: str
        order_id: str | None
        language: str
        due_at: datetime
        preferred_by: datetime
        rule: str
        rules: list[str]

        # Version 1, stored before creations listed their rules, named only `rule`.
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["rules"] = [state["rule"]]

    class QuestionAnswered(Event):
        language: str
        on_time: bool
        within_preferred: bool
        rule: str
        rules: list[str]
        facts: dict[str, str]

    class QuestionClosed(Event):
        rule: str
        rules: list[str]
        facts: dict[str, str]

    class QuestionEscalated(Event):
        reason: str
        rule: str
        rules: list[str]
        facts: dict[str, str]

    @event(QuestionAsked)
    def __init__(self, *, platform: str, seller_id: str, question_id: str, kind: str,
                 order_id: str | None, language: str, due_at: datetime,
                 preferred_by: datetime, rule: str, rules: list[str],
                 occurred_at: datetime, actor: str) -> None:
        self.platform = platform
        self.seller_id = seller_id
        self.question_id = question_id
        self.kind = QuestionKind(kind)
        self.order_id = order_id
        self.language = language
        self.asked_at = occurred_at
        self.due_at: datetime | None = due_at
        self.preferred_by = preferred_by
        self.status = QuestionStatus.OPEN
        self.answered_at: datetime | None = None
        self.escalation: str | None = None

    @staticmethod
    def create_id(platform: str, seller_id: str, question_id: str) -> UUID:
        return question_id_for(platform, seller_id, question_id)

    @classmethod
    def ask(cls, *, platform: str, seller_id: str, question_id: str, kind: str,
            asked_at: datetime, buyer_language: str, deadlines: OrderDeadlines,
            order_id: str | None = None, actor: str = "system") -> BuyerQuestion:
        """CD-3: a buyer asked; the seller has 48 hours (24 preferred) to answer."""
        if platform != "cdiscount":
            raise InvalidValueError("platform", "buyer questions are kept for cdiscount (CD-3)")
        chosen: QuestionKind = choice(QuestionKind, kind, "kind")
        if chosen is not QuestionKind.PRODUCT and not order_id:
            raise InvalidValueError("order_id", f"a {chosen.value} question is about an order")
        asked_at = aware(asked_at, "asked_at")
        return cls(platform=platform, seller_id=text(seller_id, "seller_id"),
                   question_id=text(question_id, "question_id", 64), kind=chosen.value,
                   order_id=text(order_id, "order_id", 64) if order_id else None,
                   language=language(buyer_language, "language"),
                   due_at=asked_at + timedelta(hours=deadlines.reply_hours),
                   preferred_by=asked_at + timedelta(hours=deadlines.reply_preferred_hours),
                   rule="CD-3", rules=["CD-3"], occurred_at=asked_at, actor=actor)

    def _at(self, occurred_at: datetime) -> datetime:
        occurred_at = aware(occurred_at, "occurred_at")
        if occurred_at < self.asked_at:
            raise ImplausibleValueError("occurred_at", "a business time before the question "
                                        "was asked", asked_at=self.asked_at.isoformat())
        return occurred_at

    def answer(self, reply_language: str, occurred_at: datetime, actor: str = "system") -> None:
        """CD-3: the seller replies in French; a late reply escalates to a dispute."""
        if self.status is not QuestionStatus.OPEN:
            raise TransitionError(self.status, "answer")
        reply_language = language(reply_language, "language")
        if reply_language != REPLY_LANGUAGE:
            raise RuleViolationError("CD-3", "Cdiscount buyers are answered in French",
                                     field="language", language=reply_language)
        at = self._at(occurred_at)
        if self.due_at is None:  # an open question has its deadline from when it was asked
            raise RuleViolationError("CD-3", "the question has no reply deadline to decide by",
                                     status=self.status)
        on_time = at <= self.due_at
        facts = {"due_at": self.due_at.isoformat(), "preferred_by": self.preferred_by.isoformat(),
                 "on_time": str(on_time).lower(),
                 "within_preferred": str(at <= self.preferred_by).lower()}
        self._answered(language=reply_language, on_time=on_time,
                       within_preferred=at <= self.preferred_by, rule="CD-3", rules=["CD-3"],
                       facts=facts, occurred_at=at, actor=actor)
        if not on_time:
            self._escalated(reason=EscalationReason.LATE_REPLY.value, rule="CD-3",
                            rules=["CD-3"], facts=facts, occurred_at=at, actor=actor)

    @event(QuestionAnswered)
    def _answered(self, language: str, on_time: bool, within_preferred: bool, rule: str,
                  rules: list[str], facts: dict[str, str], occurred_at: datetime,
                  actor: str) -> None:
        self.status = QuestionStatus.ANSWERED
        self.answered_at = occurred_at
        self.due_at = None

    def close(self, occurred_at: datetime, actor: str = "system") -> None:
        """CD-3: the seller closes an answered product question."""
        if self.status is not QuestionStatus.ANSWERED:
            raise TransitionError(self.status, "close")
        if self.kind is not QuestionKind.PRODUCT:
            raise RuleViolationError("CD-3", "only product questions are closed by the seller",
                                     kind=self.kind.value)
        self._closed(rule="CD-3", rules=["CD-3"], facts={"kind": self.kind.value},
                     occurred_at=self._at(occurred_at), actor=actor)

    @event(QuestionClosed)
    def _closed(self, rule: str, rules: list[str], facts: dict[str, str],
                occurred_at: datetime, actor: str) -> None:
        self.status = QuestionStatus.CLOSED

    def buyer_not_satisfied(self, occurred_at: datetime, actor: str = "system") -> None:
        """CD-3: a buyer not satisfied with the reply escalates the question to a dispute."""
        if self.status is not QuestionStatus.ANSWERED:
            raise TransitionError(self.status, "buyer_not_satisfied")
        self._escalated(reason=EscalationReason.BUYER_NOT_SATISFIED.value, rule="CD-3",
                        rules=["CD-3"], facts={"kind": self.kind.value},
                        occurred_at=self._at(occurred_at), actor=actor)

    def expire(self, now: datetime, actor: str = "deadlines") -> bool:
        """The deadlines run: an open question past 48 hours becomes a dispute (CD-3);
        False, recording nothing, when it was answered or is not due."""
        now = aware(now, "now")
        if self.status is not QuestionStatus.OPEN or self.due_at is None or now <= self.due_at:
            return False
        self._escalated(reason=EscalationReason.NO_REPLY.value, rule="CD-3", rules=["CD-3"],
                        facts={"due_at": self.due_at.isoformat(), "kind": self.kind.value},
                        occurred_at=now, actor=actor)
        return True

    @event(QuestionEscalated)
    def _escalated(self, reason: str, rule: str, rules: list[str], facts: dict[str, str],
                   occurred_at: datetime, actor: str) -> None:
        self.status = QuestionStatus.ESCALATED
        self.escalation = reason
        self.due_at = None
