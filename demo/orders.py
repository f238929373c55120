"""Orders through their deadlines, for the demo: LZ-3 (ready to ship within 48 hours, or
cancelled with a fine), CD-1 (accepted within 48 hours, or cancelled) and CD-3 (a buyer
question answered within 48 hours, or escalated to a dispute).

Each walk records one order (or question) that meets its deadline and one that misses it;
the missed one is then decided the way the deadlines run decides it (`expire_order`,
`expire_question`), at a business time after the deadline.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from uuid import UUID

from application.ledger import ReturnsLedger
from demo.scenarios import T0
from domain.money import Money

HOUR = timedelta(hours=1)
LATE = T0 + 49 * HOUR  # a deadlines run one hour after the 48-hour deadlines


def lazada_order(ledger: ReturnsLedger, suffix: str = "") -> list[UUID]:
    """LZ-3: one order set ready to ship, shipped and delivered; one cancelled with a fine."""
    shipped = ledger.create_order(platform="lazada", site="PH", seller_id=f"seller-lz{suffix}",
                                  order_id=f"LZ-ORDER-OK{suffix}", created_at=T0).id
    ledger.mark_ready_to_ship(shipped, T0 + 20 * HOUR, actor="seller")
    ledger.record_order_shipped(shipped, T0 + 40 * HOUR, reported_by="lgs")
    ledger.record_order_delivered(shipped, T0 + 90 * HOUR, reported_by="carrier")
    late = ledger.create_order(platform="lazada", site="PH", seller_id=f"seller-lz{suffix}",
                               order_id=f"LZ-ORDER-LATE{suffix}", created_at=T0).id
    ledger.expire_order(late, LATE)
    return [shipped, late]


def cdiscount_order(ledger: ReturnsLedger, suffix: str = "") -> list[UUID]:
    """CD-1: one order accepted in time, one refused, one cancelled at the deadline."""
    seller = f"seller-cd{suffix}"
    fee = Money.of("2.40", "EUR")
    accepted = ledger.create_order(platform="cdiscount", site="FR", seller_id=seller,
                                   order_id=f"CD-ORDER-OK{suffix}", created_at=T0,
                                   commission=fee).id
    ledger.accept_order(accepted, T0 + 10 * HOUR, actor="seller")
    refused = ledger.create_order(platform="cdiscount", site="FR", seller_id=seller,
                                  order_id=f"CD-ORDER-NO{suffix}", created_at=T0,
                                  commission=fee).id
    ledger.refuse_order(refused, "out of stock", T0 + 12 * HOUR, actor="seller")
    late = ledger.create_order(platform="cdiscount", site="FR", seller_id=seller,
                               order_id=f"CD-ORDER-LATE{suffix}", created_at=T0,
                               commission=fee).id
    ledger.expire_order(late, LATE)
    return [accepted, refused, late]


def cdiscount_questions(ledger: ReturnsLedger, suffix: str = "") -> list[UUID]:
    """CD-3: one question answered in French within 24 hours, one escalated unanswered."""
    seller = f"seller-cd{suffix}"
    answered = ledger.ask_question(platform="cdiscount", seller_id=seller,
                                   question_id=f"Q-OK{suffix}", kind="order",
                                   order_id=f"CD-ORDER-OK{suffix}", asked_at=T0,
                                   language="fr").id
    ledger.answer_question(answered, "fr", T0 + 5 * HOUR, actor="seller")
    unanswered = ledger.ask_question(platform="cdiscount", seller_id=seller,
                                     question_id=f"Q-LATE{suffix}", kind="product",
                                     asked_at=T0, language="fr").id
    ledger.expire_question(unanswered, LATE)
    return [answered, unanswered]


ORDER_WALKS: dict[str, Callable[[ReturnsLedger, str], list[UUID]]] = {
    "lazada_order (LZ-3)": lazada_order,
    "cdiscount_order (CD-1)": cdiscount_order,
    "cdiscount_questions (CD-3)": cdiscount_questions,
}
