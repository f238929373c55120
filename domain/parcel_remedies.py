"""The seller's contact with the buyer during a hold (TT-8) and a replacement instead of a
refund (AM-6)."""

from __future__ import annotations

from datetime import datetime

from domain.errors import RuleViolationError
from domain.parcel_state import ParcelDecision, ParcelState
from domain.values import Condition, Status, aware, text

REPLACEABLE = (Condition.DAMAGED, Condition.NOT_AS_ORDERED)


class ParcelRemedies(ParcelState):
    """The remedy commands of `ReturnParcel` and the events they record."""

    class BuyerContacted(ParcelDecision):
        facts: dict[str, str]

    class ReplacementAgreed(ParcelDecision):
        leads_to = Status.CLOSED
        replacement_order_id: str
        facts: dict[str, str]

    def contact_buyer(self, occurred_at: datetime, actor: str = "system") -> None:
        """TT-8: within the hold the seller may contact the buyer (who alone may then ask
        for a redelivery). No message text is kept."""
        self._allow("contact_buyer")
        at = aware(occurred_at, "occurred_at")
        if self.hold_until is None or at >= self.hold_until:
            raise RuleViolationError("TT-8", "the seller contacts the buyer within the hold",
                                     hold_until=self.hold_until.isoformat()
                                     if self.hold_until else "")
        self.trigger_event(self.BuyerContacted, rule="TT-8",
                           facts={"hold_until": self.hold_until.isoformat(),
                                  "redelivery_asked_by": "buyer"},
                           occurred_at=at, actor=actor)

    def agree_replacement(self, replacement_order_id: str, occurred_at: datetime,
                          actor: str = "system") -> None:
        """AM-6: for a damaged or mismatched item seller and buyer agree a replacement
        (instead of, or with, a partial refund): the parcel ends with that remedy, linked to
        the replacement order, and needs no refund to close."""
        self._allow("agree_replacement")
        if self.platform != "amazon":
            raise RuleViolationError("AM-6", "a replacement remedy is Amazon's (AM-6)",
                                     platform=self.platform)
        if self.condition not in REPLACEABLE:
            raise RuleViolationError("AM-6", "a replacement is agreed for a damaged or "
                                     "mismatched item, once inspected",
                                     condition=self.condition.value if self.condition else "")
        if self.refunds.pending():
            raise RuleViolationError("AM-4", "a refund still waits for approval",
                                     pending=",".join(r.reference for r in self.refunds.pending()))
        self.trigger_event(
            self.ReplacementAgreed, replacement_order_id=text(replacement_order_id,
                                                              "replacement_order_id", 64),
            rule="AM-6", rules=["AM-3", "AM-6"],
            facts={"condition": self.condition.value if self.condition else "",
                   "refunded_before": str(self.refunded_total)},
            occurred_at=aware(occurred_at, "occurred_at"), actor=actor)
