"""Cdiscount: tracking (CD-2) and return remedies (CD-4)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from domain.errors import RuleViolationError
from domain.money import Money
from domain.policies.base import AddressFacts, PlatformPolicy, RouteDecision, later
from domain.values import Destination, Party, Remedy, Status

if TYPE_CHECKING:
    from domain.facts import ParcelFacts


def check_tracking_url(url: str | None, max_length: int) -> None:
    """CD-2: optional, http:// or https://, at most 255 characters."""
    if url is None:
        return
    if not (url.startswith("http://") or url.startswith("https://")):
        raise RuleViolationError("CD-2", "a tracking URL starts with http:// or https://")
    if len(url) > max_length:
        raise RuleViolationError("CD-2", f"a tracking URL has at most {max_length} characters",
                                 length=len(url))


class CdiscountPolicy(PlatformPolicy):
    """Cdiscount France."""

    platform = "cdiscount"
    sites = frozenset({"FR"})
    allows_untracked = True  # ordinary mail at most 15 EUR (CD-2, check_registration)
    goods_rules = ("CD-2",)

    def check_registration(self, facts: ParcelFacts, ready_to_ship_at: datetime | None,
                           tracked_shipping: bool, tracking_url: str | None) -> None:
        """CD-2: tracking is mandatory above 15 EUR or when the buyer chose it."""
        self.check_goods(facts, tracked_shipping)
        check_tracking_url(tracking_url, self.settings.tracking_url_max_length)

    def check_goods(self, facts: ParcelFacts, tracked_shipping: bool) -> None:
        """CD-2: a parcel worth over 15 EUR (or sent tracked) has a tracking number; so an
        untracked parcel's lines cannot be corrected to a value above it either."""
        value = facts.goods_value
        over = value.currency == "EUR" and value.amount > self.settings.tracking_required_above_eur
        if value.currency != "EUR":
            over = True  # the threshold is in euros: other currencies always need tracking
        if (over or tracked_shipping) and not facts.has_tracking:
            raise RuleViolationError(
                "CD-2", "a tracking number is mandatory for this parcel",
                product_value=str(value), tracked_shipping=str(tracked_shipping).lower(),
                threshold=f"{self.settings.tracking_required_above_eur} EUR")

    def route(self, facts: ParcelFacts, addresses: list[AddressFacts],
              occurred_at: datetime, remedy: Remedy | None = None) -> RouteDecision:
        """CD-4: not the buyer's fault (or a withdrawal): FR address, prepaid label, or refund."""
        if facts.status is Status.DELIVERY_FAILED:
            return self.carrier_return(facts, addresses, occurred_at)
        if facts.status is not Status.RETURN_REQUESTED:
            raise RuleViolationError("CD-4", "the buyer must request the return first",
                                     status=facts.status)
        active = [a for a in addresses if a.platform == self.platform and a.active_at(occurred_at)]
        in_france = [a for a in active if a.country == "FR"]
        abroad = [a for a in active if a.country != "FR"]
        remedy_owed = not facts.buyer_fault or facts.unconditional_return
        base = {"buyer_fault": str(bool(facts.buyer_fault)).lower(),
                "unconditional_return": str(facts.unconditional_return).lower(),
                "return_reason": facts.return_reason or "",
                "addresses_in_france": str(len(in_france)),
                "addresses_abroad": str(len(abroad))}
        back_by = later(occurred_at, days=self.settings.return_window_days)
        if not remedy_owed:
            known = in_france or abroad
            address = known[0] if known else None
            return RouteDecision(Destination.SELLER_DOMESTIC, "CD-4", False, Party.BUYER,
                                 {**base, "remedy_owed": "false"},
                                 address_id=address.address_id if address else None,
                                 expected_back_by=back_by)
        if remedy is None:  # the ledger picks the first remedy the seller can offer
            remedy = (Remedy.RETURN_ADDRESS_FR if in_france else
                      Remedy.PREPAID_LABEL if abroad else Remedy.REFUND_WITHOUT_RETURN)
        facts_out = {**base, "remedy_owed": "true", "remedy": remedy.value}
        if remedy is Remedy.RETURN_ADDRESS_FR:
            if not in_france:
                raise RuleViolationError("CD-4", "the seller has no return address in France",
                                         **base)
            return RouteDecision(Destination.SELLER_DOMESTIC, "CD-4", False, Party.SELLER,
                                 facts_out, address_id=in_france[0].address_id,
                                 expected_back_by=back_by, remedy=remedy)
        if remedy is Remedy.PREPAID_LABEL:
            if not abroad:
                raise RuleViolationError("CD-4", "a prepaid label is for a return address "
                                         "outside France", **base)
            return RouteDecision(Destination.SELLER_OVERSEAS, "CD-4", False, Party.SELLER,
                                 facts_out, address_id=abroad[0].address_id,
                                 expected_back_by=back_by, remedy=remedy)
        return RouteDecision(Destination.BUYER_KEEPS, "CD-4", False, Party.SELLER,
                             {**facts_out, "full_refund": str(facts.full_refund)},
                             remedy=remedy)

    def check_label(self, facts: ParcelFacts, tracking_url: str | None) -> str:
        """CD-2: tracking cannot be changed once submitted; the URL is checked."""
        if facts.label_tracking_number is not None:
            raise RuleViolationError("CD-2", "tracking information cannot be changed once "
                                     "submitted", tracking_number=facts.label_tracking_number)
        check_tracking_url(tracking_url, self.settings.tracking_url_max_length)
        return "CD-4" if facts.remedy == Remedy.PREPAID_LABEL else "AM-1"

    def check_receipt(self, facts: ParcelFacts) -> None:
        """CD-4: a return abroad travels on the seller's prepaid label."""
        if facts.remedy == Remedy.PREPAID_LABEL and facts.label_tracking_number is None:
            raise RuleViolationError("CD-4", "a return abroad needs the seller's prepaid "
                                     "label before it is received")

    def refund_rules(self, facts: ParcelFacts) -> tuple[str, ...]:
        """CD-4 for the full refund without return, and AM-3's cap."""
        if facts.remedy == Remedy.REFUND_WITHOUT_RETURN:
            return ("CD-4", "AM-3")
        return ("AM-3",)

    def check_refund(self, facts: ParcelFacts, kinds: set[str], total: Money) -> None:
        """CD-4: refund without return is the full amount, shipping included."""
        if facts.remedy != Remedy.REFUND_WITHOUT_RETURN:
            return
        before = facts.refunds_committed or Money.zero(total.currency)
        if before + total != facts.full_refund:
            raise RuleViolationError(
                "CD-4", "a refund without return brings the refunds to the full amount, "
                "shipping included", requested=str(total), refunded_before=str(before),
                full_refund=str(facts.full_refund))


