"""LZ-3, CD-1, CD-3: a stage decided by its deadline refuses plainly when it has none (an
assert did, and vanished under `python -O`: the comparison with None then crashed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import RuleViolationError
from domain.messages import BuyerQuestion
from domain.order import Order, OrderDeadlines

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def order(platform: str, site: str) -> Order:
    return Order.create(platform=platform, site=site, seller_id="s1", order_id="O-1",
                        created_at=T0, deadlines=OrderDeadlines())


@pytest.mark.parametrize(("platform", "site", "rule", "command"), [
    ("lazada", "MY", "LZ-3", "mark_ready_to_ship"), ("cdiscount", "FR", "CD-1", "accept")])
def test_lz3_cd1_first_stage_without_its_deadline_is_refused(platform, site, rule,
                                                             command) -> None:
    stage = order(platform, site)
    getattr(order(platform, site), command)(T0 + HOUR)  # with its deadline: decided
    stage.due_at = None  # a state no event leads to
    with pytest.raises(RuleViolationError) as refused:
        getattr(stage, command)(T0 + HOUR)
    assert refused.value.rule == rule and not stage.pending_events[1:]


def test_cd3_question_without_its_reply_deadline_is_refused() -> None:
    question = BuyerQuestion.ask(platform="cdiscount", seller_id="s1", question_id="Q-1",
                                 kind="product", asked_at=T0, buyer_language="fr",
                                 deadlines=OrderDeadlines())
    question.due_at = None
    with pytest.raises(RuleViolationError) as refused:
        question.answer("fr", T0 + HOUR)
    assert refused.value.rule == "CD-3" and len(question.pending_events) == 1
