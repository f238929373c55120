"""RL-2 corrections: nothing recorded is deleted or changed.

A parcel registered by mistake (a wrong platform, a test parcel, a duplicate) is voided by
an event with a reason; a voided parcel is terminal and leaves every view. A field
recorded wrongly is corrected by an event that names the field, the value it replaces,
the event (version) that recorded that value, and the reason; the history shows it as a
correction of that event. Money has its own corrections: refunds are never corrected or
voided this way (they are rejected, fail or are reversed), so a parcel with any refund
outgoing is not voided, and its amounts are not corrected.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.errors import InvalidValueError, RuleViolationError
from domain.money import Money
from domain.parcel_state import ParcelDecision, ParcelState
from domain.plausibility import check_amounts, check_not_before, check_site
from domain.policies.base import PlatformPolicy
from domain.values import Status, aware, country, goods_value, text

RULE = "RL-2"
# The registration's fields a correction may change; the platform and tracking number
# name the parcel (its id), and the lines are the goods: a mistake there is a void, after
# which that platform and tracking number stay taken (the id is the voided parcel's).
CORRECTABLE = ("site", "store_id", "order_id", "order_created_at", "amount_paid",
               "shipping_paid")
MONEY_FIELDS = ("amount_paid", "shipping_paid")


def _plain(value: Any) -> str:
    if isinstance(value, Money):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else str(value)


class ParcelCorrections(ParcelState):
    """The void and correction commands of `ReturnParcel` and the events they record."""

    registered_at: datetime
    # The version of the event that last recorded each correctable field (1: registration).
    recorded_by: dict[str, int]

    class ParcelVoided(ParcelDecision):
        leads_to = Status.VOIDED
        reason: str
        facts: dict[str, str]

    class FieldCorrected(ParcelDecision):
        field: str
        value: Any
        previous: Any
        corrects_version: int
        reason: str
        facts: dict[str, str]

        def change(self, parcel: Any) -> None:
            setattr(parcel, self.field, self.value)
            if not hasattr(parcel, "recorded_by"):
                parcel.recorded_by = {}
            parcel.recorded_by[self.field] = self.originator_version

    def void(self, reason: str, occurred_at: datetime, actor: str = "system") -> None:
        """RL-2: the parcel was registered by mistake; it ends here, and leaves the views."""
        self._allow("void")
        outgoing = self.refunds.outgoing_total
        if outgoing.is_positive:
            raise RuleViolationError(RULE, "a parcel with refunds is not voided: money has "
                                     "its own corrections (reject, fail, reverse)",
                                     outgoing=outgoing)
        self.trigger_event(self.ParcelVoided, reason=text(reason, "reason"), rule=RULE,
                           facts={"status_before": self.status.value},
                           occurred_at=aware(occurred_at, "occurred_at"), actor=actor)

    def correct(self, field: str, value: Any, reason: str, policy: PlatformPolicy,
                occurred_at: datetime, actor: str = "system") -> int:
        """RL-2: record the right value of a field recorded wrongly; answers the version
        of the event it corrects."""
        self._allow("correct")
        if field not in CORRECTABLE:
            raise InvalidValueError("field", f"one of {', '.join(CORRECTABLE)} (the platform, "
                                    "tracking number and lines are not corrected: a parcel "
                                    "registered with wrong ones is voided, and its platform "
                                    "and tracking number stay taken)")
        new = self._checked(field, value, policy)
        previous = getattr(self, field)
        if new == previous:
            raise InvalidValueError("value", f"{field} is already {_plain(previous)}")
        corrects = getattr(self, "recorded_by", {}).get(field, 1)
        self.trigger_event(self.FieldCorrected, field=field, value=new, previous=previous,
                           corrects_version=corrects, reason=text(reason, "reason"),
                           rule=RULE, facts={"field": field, "from": _plain(previous),
                                             "to": _plain(new),
                                             "corrects_version": str(corrects)},
                           occurred_at=aware(occurred_at, "occurred_at"), actor=actor)
        return corrects

    def _checked(self, field: str, value: Any, policy: PlatformPolicy) -> Any:
        """The corrected value, held to the rules the registration was held to (RL-3)."""
        if field == "site":
            site = country(value, "value")
            check_site(self.platform, site, policy.sites)
            return site
        if field == "store_id":
            return text(value, "value") if value else None
        if field == "order_id":
            return text(value, "value", 64)
        if field == "order_created_at":
            moment = aware(value, "value")
            check_not_before("registered_at", self.registered_at, moment)
            return moment
        if not isinstance(value, Money):
            raise InvalidValueError("value", f"{field} is money: an amount and a currency")
        if value.currency != self.currency:
            raise InvalidValueError("value", f"must be in {self.currency}")
        if value.is_negative:
            raise InvalidValueError("value", "must not be negative")
        if self.refunds.outgoing_total.is_positive:
            raise RuleViolationError(RULE, "the amounts of a parcel with refunds are not "
                                     "corrected: money has its own corrections")
        if field == "amount_paid":
            check_amounts(value, goods_value(self.lines, self.currency))
        return value
