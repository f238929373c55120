"""Order-stage deadlines in the deadlines view, and their automatic outcomes.

Rows of `deadline_orders`: a Lazada order pending its "ready to ship" (LZ-3, 48 hours), a
Cdiscount order awaiting acceptance (CD-1, 48 hours), a Cdiscount buyer question awaiting
its reply (CD-3, 48 hours, 24 preferred). A row opens with the order or the question and
closes when it moves on. `settle_order_deadlines` is part of the deadlines run (beside the
TT-2 hold expiry): for each row past its deadline it asks the aggregate to expire, and the
aggregate decides: an order or question that moved on records nothing, so the run is
idempotent however often, and however concurrently, it runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.errors import DomainError, VersionConflictError
from domain.messages import BuyerQuestion
from domain.order import Order
from infrastructure.view_store import Tx, parse_ts, ts

ACTOR = "deadlines"
TABLE = "deadline_orders"
DDL = ("CREATE TABLE IF NOT EXISTS {p}deadline_orders (aggregate_id TEXT PRIMARY KEY, "
       "kind TEXT NOT NULL, platform TEXT NOT NULL, seller_id TEXT NOT NULL, "
       "site TEXT, order_id TEXT, question_id TEXT, stage TEXT NOT NULL, rule TEXT NOT NULL, "
       "opened_at TEXT NOT NULL, due_at TEXT NOT NULL, preferred_by TEXT)",
       "CREATE INDEX IF NOT EXISTS deadline_orders_due ON {p}deadline_orders (due_at)")
_INSERT = ("INSERT INTO {p}deadline_orders VALUES (:id, :kind, :platform, :seller, :site, "
           ":order_id, :question_id, :stage, :rule, :at, :due, :preferred) "
           "ON CONFLICT (aggregate_id) DO NOTHING")
_DELETE = "DELETE FROM {p}deadline_orders WHERE aggregate_id = :id"
ORDER_EVENTS = (Order.Event, BuyerQuestion.Event)
# What the seller must do before the deadline, by rule.
STAGES = {"LZ-3": "ready_to_ship", "CD-1": "accept_or_refuse", "CD-3": "reply"}


def handle(event: Any, tx: Tx) -> None:
    """Open a deadline with the order or question; close it when it moves on."""
    aggregate_id = str(event.originator_id)
    if isinstance(event, Order.OrderCreated):
        tx.execute(_INSERT, id=aggregate_id, kind="order", platform=event.platform,
                   seller=event.seller_id, site=event.site, order_id=event.order_id,
                   question_id=None, stage=STAGES[event.rule], rule=event.rule,
                   at=ts(event.occurred_at), due=ts(event.due_at), preferred=None)
    elif isinstance(event, BuyerQuestion.QuestionAsked):
        tx.execute(_INSERT, id=aggregate_id, kind="question", platform=event.platform,
                   seller=event.seller_id, site=None, order_id=event.order_id,
                   question_id=event.question_id, stage=STAGES["CD-3"], rule="CD-3",
                   at=ts(event.occurred_at), due=ts(event.due_at),
                   preferred=ts(event.preferred_by))
    elif not isinstance(event, (Order.BuyerCancellationRequested,
                                       Order.BuyerCancellationAnswered)):
        # Every other event of an order or a question ends its first stage.
        tx.execute(_DELETE, id=aggregate_id)


def rows(view: Any, now: datetime, sellers: tuple[str, ...] | None = None,
         due_only: bool = False) -> list[dict[str, Any]]:
    """Open order-stage deadlines, soonest first; `delayed` when past due at `now` (the
    LZ-3 "delayed" an order shows before the run cancels it)."""
    where, params = "WHERE 1 = 1", {"now": ts(now)}
    if due_only:
        where += " AND due_at < :now"
    if sellers is not None:
        names = {f"s{i}": seller for i, seller in enumerate(sellers)}
        where += (f" AND seller_id IN ({', '.join(':' + n for n in names)})" if names
                  else " AND 1 = 0")
        params.update(names)
    with view.reading() as tx:
        found = tx.all(f"SELECT * FROM {{p}}deadline_orders {where} "
                       "ORDER BY due_at, aggregate_id", **params)
    for row in found:
        due = parse_ts(row["due_at"])
        row["delayed"] = due is not None and now > due
        for column in ("opened_at", "due_at", "preferred_by"):
            at = parse_ts(row[column])
            row[column] = at.isoformat() if at else None
    return found


@dataclass
class OrderDeadlineReport:
    """What one run decided: orders cancelled, questions escalated, rows skipped."""

    cancelled: list[str] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def settle_order_deadlines(ledger: Any, view: Any, now: datetime,
                           attempts: int = 3) -> OrderDeadlineReport:
    """LZ-3 / CD-1 automatic cancellation and CD-3 escalation of everything past due."""
    report = OrderDeadlineReport()
    for row in rows(view, now, due_only=True):
        aggregate_id, is_order = row["aggregate_id"], row["kind"] == "order"
        expire = ledger.expire_order if is_order else ledger.expire_question
        for attempt in range(1, attempts + 1):
            try:
                result = expire(UUID(aggregate_id), now, actor=ACTOR)
            except VersionConflictError:
                if attempt == attempts:
                    report.skipped[aggregate_id] = "version conflict (retry next run)"
                continue
            except DomainError as error:
                report.skipped[aggregate_id] = f"{type(error).__name__}: {error}"
            else:
                if result.position is None:
                    report.skipped[aggregate_id] = "already moved on"
                else:
                    (report.cancelled if is_order else report.escalated).append(aggregate_id)
            break
    return report
