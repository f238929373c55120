"""What every platform policy decides, and the frozen decisions they return."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from domain.errors import NoApplicableRuleError, RuleViolationError, TransitionError
from domain.money import Money
from domain.values import (
    Destination,
    DisposalKind,
    Party,
    Remedy,
    ReturnFailureCause,
    Status,
)

if TYPE_CHECKING:
    from domain.facts import ParcelFacts

# AM-4: refunds above these need a second person's approval. Defaults are
# roughly 500 EUR in each currency; every one is a setting.
DEFAULT_LARGE_REFUND_THRESHOLDS: dict[str, Decimal] = {
    "EUR": Decimal("500"), "USD": Decimal("500"), "GBP": Decimal("450"),
    "CNY": Decimal("3500"), "JPY": Decimal("80000"), "KRW": Decimal("700000"),
    "MYR": Decimal("2500"), "THB": Decimal("18000"), "PHP": Decimal("30000"),
    "SGD": Decimal("700"), "IDR": Decimal("8500000"), "VND": Decimal("13000000"),
    "HKD": Decimal("4200"), "TWD": Decimal("17000"), "AUD": Decimal("800"),
    "CAD": Decimal("750"), "CHF": Decimal("480"), "PLN": Decimal("2200"),
    "SEK": Decimal("5800"), "MXN": Decimal("10000"), "BRL": Decimal("2800"),
    "AED": Decimal("2000"), "SAR": Decimal("2000"), "INR": Decimal("45000"),
}


@dataclass(frozen=True)
class PolicySettings:
    """The numbers DOMAIN.md calls 'about' or 'generally', with their defaults."""

    hold_days: int = 14  # TT-2
    max_delivery_attempts: int = 3  # TT-7
    return_window_days: int = 15  # TT-7 (7 to 15 days; the longest is the default)
    ready_to_ship_hours: int = 48  # LZ-3
    tracking_required_above_eur: Decimal = Decimal("15")  # CD-2
    tracking_url_max_length: int = 255  # CD-2
    # AM-5, defaults from Amazon's public seller policy (the seed only says deadlines exist):
    return_request_window_days: int = 30  # a return is requested within 30 days of delivery
    return_reply_business_days: int = 1  # a return request is answered within 1 business day
    refund_business_days: int = 2  # a received return is refunded within 2 business days
    large_refund_thresholds: dict[str, Decimal] = field(
        default_factory=lambda: dict(DEFAULT_LARGE_REFUND_THRESHOLDS)
    )  # AM-4

    @classmethod
    def from_env(cls, env: dict[str, str]) -> PolicySettings:
        """Read overrides such as POLICY_HOLD_DAYS=10 or LARGE_REFUND_THRESHOLD_EUR=300."""
        kwargs: dict[str, Any] = {}
        for name, kind in (("hold_days", int), ("max_delivery_attempts", int),
                           ("return_window_days", int), ("ready_to_ship_hours", int),
                           ("return_request_window_days", int),
                           ("return_reply_business_days", int), ("refund_business_days", int),
                           ("tracking_required_above_eur", Decimal)):
            raw = env.get(f"POLICY_{name.upper()}")
            if raw:
                kwargs[name] = kind(raw)
        thresholds = dict(DEFAULT_LARGE_REFUND_THRESHOLDS)
        for key, raw in env.items():
            if key.startswith("LARGE_REFUND_THRESHOLD_") and raw:
                thresholds[key.removeprefix("LARGE_REFUND_THRESHOLD_")] = Decimal(raw)
        return cls(large_refund_thresholds=thresholds, **kwargs)


@dataclass(frozen=True)
class AddressFacts:
    """A seller's return address as the rules see it, in business time."""

    address_id: str
    platform: str
    country: str
    registered_at: datetime
    effective_from: datetime
    deactivated_at: datetime | None
    real_name_status: str
    seller_country: str | None

    def active_at(self, moment: datetime) -> bool:
        """In force at that business moment (effective, not yet deactivated)."""
        return self.effective_from <= moment and (
            self.deactivated_at is None or self.deactivated_at > moment
        )


@dataclass(frozen=True)
class RouteDecision:
    """Where a parcel goes back to, who pays, and why: `rule` (the one that settled it)
    and `rules` (every rule that decided, in order; `(rule,)` when not given)."""

    destination: Destination
    rule: str
    free_return: bool
    payer: Party
    facts: dict[str, str]
    address_id: str | None = None
    hold_until: datetime | None = None
    expected_back_by: datetime | None = None
    remedy: Remedy | None = None
    rules: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.rules:
            object.__setattr__(self, "rules", (self.rule,))


@dataclass(frozen=True)
class Ruling:
    """A decision that is not a route: who bears or pays what, and why (`rules` as in
    RouteDecision)."""

    rule: str
    party: Party
    facts: dict[str, str]
    rules: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.rules:
            object.__setattr__(self, "rules", (self.rule,))


def later(moment: datetime, days: int = 0, hours: int = 0) -> datetime:
    """Business-time arithmetic kept in one place."""
    return moment + timedelta(days=days, hours=hours)


class PlatformPolicy:
    """Rules shared by every platform; each platform module overrides its own."""

    platform = ""
    # Whether route() reads facts.customs_skus: the ledger looks them up only then.
    uses_customs_facts = False
    # Whether a parcel may be registered without a tracking number (CD-2 decides when).
    allows_untracked = False
    # The sites (ISO 3166-1 countries) the platform serves (RL-3); each platform sets its own.
    sites: frozenset[str] = frozenset()
    # The rules check_goods holds the goods to (listed on a correction of the lines).
    goods_rules: tuple[str, ...] = ()

    def __init__(self, settings: PolicySettings | None = None) -> None:
        self.settings = settings or PolicySettings()

    # -- registration -------------------------------------------------------
    def check_registration(self, facts: ParcelFacts, ready_to_ship_at: datetime | None,
                           tracked_shipping: bool, tracking_url: str | None) -> None:
        """Refuse a parcel the platform would not accept."""

    def check_goods(self, facts: ParcelFacts, tracked_shipping: bool) -> None:
        """The platform's rules that depend on the goods (their value): checked at
        registration, and again on the corrected lines (RL-2)."""

    # -- delivery -----------------------------------------------------------
    def check_delivery_attempt(self, attempt_number: int) -> None:
        """TT-7: the carrier makes about N attempts; more are a data error."""
        limit = self.settings.max_delivery_attempts
        if attempt_number > limit:
            raise RuleViolationError(
                "TT-7", f"the carrier makes at most {limit} delivery attempts",
                attempt_number=attempt_number, max_attempts=limit)

    def delivery_failure_ruling(self, facts: ParcelFacts, reported_by: str) -> Ruling | None:
        """A platform may attach consequences to a failed delivery (LZ-3)."""
        return None

    # -- routing ------------------------------------------------------------
    def route(self, facts: ParcelFacts, addresses: list[AddressFacts],
              occurred_at: datetime, remedy: Remedy | None = None) -> RouteDecision:
        """Decide where the parcel goes back to; platforms override."""
        raise NoApplicableRuleError(facts.platform, "routing")

    def carrier_return(self, facts: ParcelFacts, addresses: list[AddressFacts],
                       occurred_at: datetime) -> RouteDecision:
        """RL-1: an undeliverable parcel of a platform without a failed-delivery rule
        goes back to the seller's return address in force, at the seller's cost."""
        active = [a for a in addresses if a.platform == self.platform and a.active_at(occurred_at)]
        address = max(active, key=lambda a: a.effective_from) if active else None
        return RouteDecision(
            destination=Destination.SELLER_DOMESTIC, rule="RL-1", free_return=False,
            payer=Party.SELLER, address_id=address.address_id if address else None,
            facts={"delivery_failure_reason": facts.failure_reason or "",
                   "address_id": address.address_id if address else ""},
            expected_back_by=later(occurred_at, days=self.settings.return_window_days))

    def return_request_ruling(self, facts: ParcelFacts, delivered_at: datetime | None,
                              occurred_at: datetime, outside_window_accepted: bool,
                              ) -> Ruling | None:
        """A platform's deadline for return requests (AM-5); none by default."""
        return None

    def check_redelivery(self, facts: ParcelFacts, occurred_at: datetime) -> Ruling:
        """TT-2 / TT-4: redelivery only from the warehouse, inside the hold."""
        if facts.status is Status.RETURNING:
            raise RuleViolationError(
                "TT-4", "the parcel is on its way back to the seller; no redelivery",
                destination=facts.destination)
        if facts.status is not Status.HELD or facts.hold_until is None:
            raise RuleViolationError("TT-2", "only a parcel held at the warehouse is redelivered",
                                     status=facts.status)
        if occurred_at >= facts.hold_until:
            raise RuleViolationError("TT-2", "the warehouse hold has expired",
                                     hold_until=facts.hold_until.isoformat(),
                                     requested_at=occurred_at.isoformat())
        return Ruling("TT-2", Party.PLATFORM, {
            "hold_until": facts.hold_until.isoformat(),
            "requested_at": occurred_at.isoformat(),
            "redelivery_shipping_paid_by": Party.PLATFORM.value,
        })

    def check_label(self, facts: ParcelFacts, tracking_url: str | None) -> str:
        """AM-1 / CD-4: a return label goes with a return to the seller."""
        return "AM-1"

    def check_receipt(self, facts: ParcelFacts) -> None:
        """Refuse a receipt the platform's flow does not allow yet."""

    # -- failures, disposals, losses ----------------------------------------
    def return_failure_ruling(self, facts: ParcelFacts, cause: ReturnFailureCause) -> Ruling:
        """TT-5: the seller bears the loss when the failure is the seller's fault."""
        seller_fault = cause in (ReturnFailureCause.SELLER_UNREACHABLE,
                                 ReturnFailureCause.WRONG_ADDRESS)
        return Ruling("TT-5", Party.SELLER if seller_fault else Party.PLATFORM, {
            "cause": cause.value,
            "seller_fault": str(seller_fault).lower(),
            "ticket_allowed": str(not seller_fault).lower(),
        })

    def disposal_ruling(self, facts: ParcelFacts, kind: DisposalKind,
                        occurred_at: datetime) -> Ruling:
        """TT-2: a held parcel is disposed of only when the hold has expired."""
        if facts.status is Status.HELD:
            if facts.hold_until is None:
                raise RuleViolationError("TT-2", "a hold without its end is not disposed of",
                                         status=facts.status)
            if occurred_at < facts.hold_until:
                raise RuleViolationError(
                    "TT-2", "the parcel is still within its warehouse hold",
                    hold_until=facts.hold_until.isoformat(), disposed_at=occurred_at.isoformat())
            # After a failed return (TT-5) the loss stays with whoever bore it then.
            liability = facts.liability or Party.SELLER
            return Ruling("TT-2", liability, {
                "hold_until": facts.hold_until.isoformat(),
                "disposed_at": occurred_at.isoformat(), "kind": kind.value,
                "liability_from": "return_failure" if facts.liability else "hold_expiry"})
        if facts.status is Status.RETURN_FAILED:
            liability = facts.liability or Party.SELLER
            return Ruling("TT-5", liability, {"cause": facts.return_failure_cause or "",
                                              "kind": kind.value})
        raise TransitionError(facts.status, "dispose")  # held or failed return only

    # -- refunds ------------------------------------------------------------
    def needs_approval(self, amount: Money, outgoing_before: Money | None = None) -> Ruling:
        """AM-4: a refund that takes what has left or is leaving for the parcel above the
        threshold waits for a second person's approval. `outgoing_before` counts refunds
        waiting, approved, issued, failed and reversed (all but rejected ones), so neither
        splitting a large refund nor releasing and re-issuing one avoids the review."""
        threshold = self.settings.large_refund_thresholds.get(amount.currency)
        before = outgoing_before if outgoing_before is not None else Money.zero(amount.currency)
        cumulative = before + amount
        # A currency without a threshold fails closed: every refund waits for review.
        above = threshold is None or cumulative.amount > threshold
        return Ruling("AM-4", Party.NOBODY, {
            "amount": str(amount.amount), "currency": amount.currency,
            "refunds_before": str(before.amount), "cumulative": str(cumulative.amount),
            "threshold": str(threshold) if threshold is not None else "none",
            "needs_approval": str(above).lower()})

    def refund_rules(self, facts: ParcelFacts) -> tuple[str, ...]:
        """The rules a refund on this platform is decided by, before AM-4's review: the cap
        at what was paid (AM-3), which the separation of duties applies to every parcel."""
        return ("AM-3",)

    def check_refund(self, facts: ParcelFacts, kinds: set[str], total: Money) -> None:
        """Platform-specific refund preconditions (AM-1, CD-4)."""
