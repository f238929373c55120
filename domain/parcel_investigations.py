"""A parcel's investigations: TT-5 failed-return tickets and TT-6 false-return claims."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.errors import (
    InvestigationClosedError,
    InvestigationNotFoundError,
    RuleViolationError,
)
from domain.parcel_state import ParcelDecision, ParcelState
from domain.values import (
    INVESTIGATION_RULE,
    Destination,
    InvestigationKind,
    Party,
    Status,
    aware,
    choice,
    text,
)


class ParcelInvestigations(ParcelState):
    """The investigation commands of `ReturnParcel` and the events they record."""

    class InvestigationOpened(ParcelDecision):
        investigation_id: str
        kind: str
        rule: str
        facts: dict[str, str]

        def change(self, parcel: Any) -> None:
            parcel.investigations[self.investigation_id] = {
                "kind": self.kind, "rule": self.rule, "status": "open"}

    class InvestigationResolved(ParcelDecision):
        """Who bears the loss, decided by the rule the finding settles (`rules` too)."""

        investigation_id: str
        outcome: str
        liability: str
        kind: str  # what was investigated (TT-5 ticket, TT-6 false return)
        rule: str  # the rule the finding settles

        # Version 1, stored before the event named its kind and rule, carried them only
        # in the investigation id ("false_return-1"): read that once, here. Version 2
        # named the rule but did not list the rules that decided, as decisions do.
        class_version = 3

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            kind = str(state["investigation_id"]).rsplit("-", 1)[0]
            state["kind"] = kind
            state["rule"] = INVESTIGATION_RULE.get(kind, "")

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["rules"] = [state["rule"]] if state.get("rule") else []

        def change(self, parcel: Any) -> None:
            parcel.investigations[self.investigation_id]["status"] = "resolved"
            parcel.liability = Party(self.liability)

    def open_investigation(self, kind: str, occurred_at: datetime,
                           actor: str = "system") -> str:
        """The seller opens a ticket; the platform has the provider investigate."""
        self._allow("open_investigation")
        what = choice(InvestigationKind, kind, "kind")
        if what is InvestigationKind.FALSE_RETURN:
            if self.status is not Status.RETURNING or self.destination not in (
                    Destination.SELLER_OVERSEAS, Destination.SELLER_DOMESTIC):
                raise RuleViolationError("TT-6", "a false return is claimed only for a parcel "
                                         "tracked back to the seller", status=self.status)
            facts = {"destination": self.destination.value}
        else:
            if self.status is not Status.RETURN_FAILED:
                raise RuleViolationError("TT-5", "a failed-return ticket needs a failed return",
                                         status=self.status)
            if self.liability is Party.SELLER:
                raise RuleViolationError("TT-5", "the failure was the seller's fault: no ticket",
                                         cause=self.return_failure_cause or "")
            facts = {"cause": self.return_failure_cause or ""}
        investigation_id = f"{what.value}-{len(self.investigations) + 1}"
        self.trigger_event(self.InvestigationOpened, investigation_id=investigation_id,
                           kind=what.value, rule=INVESTIGATION_RULE[what], facts=facts,
                           occurred_at=aware(occurred_at, "occurred_at"), actor=actor)
        return investigation_id

    def resolve_investigation(self, investigation_id: str, outcome: str, liability: str,
                              occurred_at: datetime, actor: str = "system") -> None:
        """The platform's finding: who bears the loss."""
        self._allow("resolve_investigation")
        inv = self.investigations.get(investigation_id)
        if inv is None:
            raise InvestigationNotFoundError(investigation_id)
        if inv["status"] != "open":
            raise InvestigationClosedError(investigation_id)
        party = choice(Party, liability, "liability")
        self.trigger_event(self.InvestigationResolved, investigation_id=investigation_id,
                           outcome=text(outcome, "outcome"), liability=party.value,
                           kind=inv["kind"], rule=inv["rule"],
                           occurred_at=aware(occurred_at, "occurred_at"), actor=actor)
