"""RL-2 corrections: nothing recorded is deleted or changed.

A parcel registered by mistake (a wrong platform, a test parcel, a duplicate) is voided by
an event with a reason; a voided parcel is terminal and leaves every view. A field
recorded wrongly is corrected by an event that names the field, the value it replaces,
the event (version) that recorded that value, and the reason; the history shows it as a
correction of that event. Money has its own corrections: refunds are never corrected or
voided this way (they are rejected, fail or are reversed), so a parcel with any refund
outgoing is not voided, and its amounts and lines are not corrected.

Corrected lines (SKUs, quantities, unit prices) are held to what held the registered ones:
RL-3 (amount_paid at most their value), CD-2 (an untracked Cdiscount parcel is worth at
most 15 EUR); on a return routed and not yet received, the correction lists which of the
new SKUs lack customs data (LZ-2), from the profiles the ledger gives.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from domain.errors import InvalidValueError, RefusedValueError, RuleViolationError
from domain.money import Money
from domain.parcel_state import ParcelDecision, ParcelState
from domain.plausibility import check_amounts, check_not_before, check_site
from domain.policies.base import PlatformPolicy
from domain.values import Line, Status, aware, country, goods_value, text

RULE = "RL-2"
# The registration's fields a correction may change; the platform and tracking number
# name the parcel (its id): a parcel registered under wrong ones is voided, after which
# that platform and tracking number stay taken (the id is the voided parcel's).
CORRECTABLE = ("site", "store_id", "order_id", "order_created_at", "amount_paid",
               "shipping_paid", "lines")
MONEY_FIELDS = ("amount_paid", "shipping_paid")
# What a correction's refusal names when a refund holds the parcel's money fields.
REFUND_HELD = ("amount_paid", "shipping_paid", "lines")


def _plain(value: Any) -> str:
    if isinstance(value, Money):
        return str(value)
    if isinstance(value, list):  # lines: "SKU xquantity at unit price; ..."
        lines = [line if isinstance(line, Line) else Line.from_dict(line) for line in value]
        return "; ".join(f"{line.sku} x{line.quantity} at {line.unit_price}" for line in lines)
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else str(value)


class ParcelCorrections(ParcelState):
    """The void and correction commands of `ReturnParcel` and the events they record."""

    registered_at: datetime
    tracked_shipping: bool
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

        def corrected_goods_value(self) -> Money | None:
            """The goods' value after a correction of the lines (None for other fields):
            the domain's answer for the views that keep it."""
            if self.field != "lines":
                return None
            lines = [Line.from_dict(line) for line in self.value]
            return goods_value(lines, lines[0].unit_price.currency)

        def change(self, parcel: Any) -> None:
            if self.field == "lines":
                parcel.lines = [Line.from_dict(line) for line in self.value]
            else:
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
                occurred_at: datetime, actor: str = "system",
                customs_skus: frozenset[str] = frozenset()) -> int:
        """RL-2: record the right value of a field recorded wrongly; answers the version
        of the event it corrects. `customs_skus`: the SKUs among corrected lines that
        have customs data (LZ-2), given by the ledger where the platform's rules use them."""
        self._allow("correct")
        if field not in CORRECTABLE:
            raise InvalidValueError("field", f"one of {', '.join(CORRECTABLE)} (the platform "
                                    "and tracking number are not corrected: a parcel "
                                    "registered with wrong ones is voided, and its platform "
                                    "and tracking number stay taken)")
        new = self._checked(field, value, policy)
        previous = getattr(self, field)
        if new == previous:
            raise InvalidValueError("value", f"{field} is already {_plain(previous)}")
        rules = [RULE]
        if field == "lines":
            new = [line.as_dict() for line in new]
            previous = [line.as_dict() for line in previous]
        facts = {"field": field, "from": _plain(previous), "to": _plain(new)}
        if field == "lines":
            facts |= self._lines_facts(new, policy, customs_skus)
            rules += ["RL-3", *policy.goods_rules]
            if "customs_info_missing_skus" in facts:
                rules.append("LZ-2")
        corrects = getattr(self, "recorded_by", {}).get(field, 1)
        facts["corrects_version"] = str(corrects)
        self.trigger_event(self.FieldCorrected, field=field, value=new, previous=previous,
                           corrects_version=corrects, reason=text(reason, "reason"),
                           rule=RULE, rules=rules, facts=facts,
                           occurred_at=aware(occurred_at, "occurred_at"), actor=actor)
        return corrects

    def _lines_facts(self, new: list[dict[str, Any]], policy: PlatformPolicy,
                     customs_skus: frozenset[str]) -> dict[str, str]:
        """What a correction of the lines changes for the rules: the goods' value, and on
        a return routed and not yet received (its LZ-2 work list in force), the new SKUs
        that lack customs data."""
        lines = [Line.from_dict(line) for line in new]
        facts = {"goods_value_before": str(self.goods_value),
                 "goods_value": str(goods_value(lines, self.currency))}
        if (policy.uses_customs_facts and self.destination is not None
                and self.status is not Status.RECEIVED):
            missing = sorted({line.sku for line in lines} - customs_skus)
            facts["customs_info_missing_skus"] = ",".join(missing)
        return facts

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
        if field == "lines":
            return self._checked_lines(value, policy)
        if not isinstance(value, Money):
            raise InvalidValueError("value", f"{field} is money: an amount and a currency")
        if value.currency != self.currency:
            raise InvalidValueError("value", f"must be in {self.currency}")
        if value.is_negative:
            raise InvalidValueError("value", "must not be negative")
        self._check_no_refunds(field)
        if field == "amount_paid":
            check_amounts(value, goods_value(self.lines, self.currency))
        return value

    def _check_no_refunds(self, field: str) -> None:
        outgoing = self.refunds.outgoing_total
        if outgoing.is_positive:
            raise RefusedValueError(field, RULE, f"a parcel with refunds keeps its {field}: "
                                    "money has its own corrections (reject, fail, reverse)",
                                    outgoing=outgoing)

    def _checked_lines(self, value: Any, policy: PlatformPolicy) -> list[Line]:
        """New lines, held to RL-3 and the platform's goods rules (CD-2) as at registration."""
        if not isinstance(value, list) or not value:
            raise InvalidValueError("lines", "a parcel has at least one line")
        if not all(isinstance(line, Line) for line in value):
            raise InvalidValueError("lines", "each line is a SKU, a quantity and a unit price")
        if any(line.unit_price.currency != self.currency for line in value):
            raise InvalidValueError("lines", f"must be in {self.currency}, like the parcel")
        self._check_no_refunds("lines")
        worth = goods_value(value, self.currency)
        check_amounts(self.amount_paid, worth, field="lines")
        facts = dataclasses.replace(self.facts(), goods_value=worth,
                                    skus=tuple(line.sku for line in value))
        try:
            policy.check_goods(facts, self.tracked_shipping)
        except RuleViolationError as refused:  # the corrected value is refused: a 422
            raise RefusedValueError(
                "lines", refused.rule, f"the corrected lines are worth {worth}: "
                + refused.detail.removeprefix(f"{refused.rule}: "), **refused.facts) from None
        return list(value)
