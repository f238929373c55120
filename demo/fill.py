"""A store to try the web pages with: parcels on every platform over the last weeks.

Each parcel's story depends on how long ago its order was placed: old ones are received,
refunded, closed or destroyed at the end of their hold; recent ones are still held at a
warehouse, in transit back to the seller, or waiting for a refund approval (AM-4). Every
event happens at or before `now`, so the in-process hold-expiry timer finds nothing the
fill did not already decide. Seeded: the same arguments tell the same stories.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from application.ledger import ReturnsLedger
from domain.money import Money
from domain.values import Line, RefundComponent, RefundComponentKind

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
HOLD = 14 * DAY  # TT-2's default hold
ADDRESSES = {
    "MY": {"lines": ["No. 8, Jalan Example"], "city": "Kuala Lumpur", "postcode": "50000"},
    "CN": {"lines": ["88 Example Road"], "city": "Shenzhen", "postcode": "518000"},
}
GOODS = {
    "MYR": [("SKU-MUG", "19.90"), ("SKU-FAN", "89.00"), ("SKU-RICE-COOKER", "239.00")],
    "THB": [("SKU-LAMP", "450.00"), ("SKU-KETTLE", "790.00")],
    "PHP": [("SKU-CASE", "150.00"), ("SKU-EARBUDS", "1290.00")],
    "EUR": [("SKU-DRONE", "899.00"), ("SKU-KETTLE", "39.00"), ("SKU-BOOTS", "129.00"),
            ("SKU-TABLET", "649.00")],
}


@dataclass
class FillReport:
    parcels: dict[str, int] = field(default_factory=dict)  # platform -> parcels
    events: int = 0
    first_day: datetime | None = None


class _Fill:
    def __init__(self, ledger: ReturnsLedger, now: datetime, run: str, seed: int) -> None:
        self.ledger = ledger
        self.now = now
        self.run = run
        self.random = random.Random(seed)
        self.count = 0
        self.lazada_sellers: set[str] = set()

    def goods(self, currency: str) -> tuple[list[Line], Money]:
        sku, price = self.random.choice(GOODS[currency])
        quantity = self.random.choice((1, 1, 1, 2))
        unit = Money.of(price, currency)
        return [Line(sku, quantity, unit)], Money.of(str(unit.amount * quantity), currency)

    def ids(self, prefix: str) -> tuple[str, str]:
        self.count += 1
        return f"{prefix}-ORDER-{self.count:04d}-{self.run}", f"{prefix}{self.count:05d}{self.run}"

    def at(self, start: datetime, offset: timedelta) -> datetime | None:
        """The moment `offset` after `start`, or None when it has not come yet."""
        moment = start + offset + self.random.randint(0, 5) * HOUR
        return moment if moment <= self.now else None

    # -- one story per platform -------------------------------------------------------
    def tiktok_my(self, start: datetime, n: int) -> UUID:
        """TT-1/TT-3: a failed delivery goes back free to the seller's MY address."""
        seller = f"seller-tt-my-{n % 3}-{self.run}"
        if n < 3:
            self.ledger.register_return_address(
                seller_id=seller, platform="tiktok_shop", country="MY", address=ADDRESSES["MY"],
                effective_from=start - 60 * DAY, occurred_at=start - 60 * DAY)
        order, tracking = self.ids("TTMY")
        lines, paid = self.goods("MYR")
        parcel = self.ledger.register_parcel(
            platform="tiktok_shop", site="MY", seller_id=seller, order_id=order,
            order_created_at=start, tracking_number=tracking, lines=lines, amount_paid=paid,
            occurred_at=start + HOUR).id
        steps: list[tuple[timedelta, Callable[[datetime], object]]] = [
            (2 * DAY, lambda t: self.ledger.record_delivery_attempt(parcel, "not at home", t)),
            (3 * DAY, lambda t: self.ledger.record_failed_delivery(parcel, "refused", t)),
            (4 * DAY, lambda t: self.ledger.route_return(parcel, t)),
            (11 * DAY, lambda t: self.ledger.receive(parcel, t, location="KL return warehouse")),
            (12 * DAY, lambda t: self.ledger.inspect(parcel, "resellable", t)),
            (13 * DAY, lambda t: self.ledger.close_parcel(parcel, t)),
        ]
        self.play(start, steps)
        return parcel

    def tiktok_th(self, start: datetime, n: int) -> UUID:
        """TT-2: no return address in TH: held 14 days, destroyed at the hold's end."""
        order, tracking = self.ids("TTTH")
        lines, paid = self.goods("THB")
        parcel = self.ledger.register_parcel(
            platform="tiktok_shop", site="TH", seller_id=f"seller-tt-th-{n % 2}-{self.run}",
            order_id=order, order_created_at=start, tracking_number=tracking, lines=lines,
            amount_paid=paid, occurred_at=start + HOUR).id
        failed = self.at(start, 3 * DAY)
        if failed is None:
            return parcel
        self.ledger.record_failed_delivery(parcel, "refused", failed)
        routed = self.at(start, 4 * DAY)
        if routed is None:
            return parcel
        self.ledger.route_return(parcel, routed)
        hold_until = self.ledger.get_parcel(parcel).hold_until
        if hold_until is not None and hold_until <= self.now:
            self.ledger.dispose(parcel, "destroyed", hold_until, actor="deadlines")
        return parcel

    def lazada(self, start: datetime, n: int) -> UUID:
        """LZ-1/LZ-2: back to a verified CN address (the identity sealed, LZ-1)."""
        seller = f"seller-lz-{n % 2}-{self.run}"
        if seller not in self.lazada_sellers:
            self.lazada_sellers.add(seller)
            address = self.ledger.register_return_address(
                seller_id=seller, platform="lazada", country="CN", seller_country="CN",
                address=ADDRESSES["CN"], effective_from=start - 60 * DAY,
                occurred_at=start - 60 * DAY)
            self.ledger.verify_real_name(address.id, {
                "name": f"Recipient {n % 2}", "id_number": f"ID-{n % 2:04d}",
                "document_front": "doc-front-ref", "document_back": "doc-back-ref"},
                start - 59 * DAY)
        order, tracking = self.ids("LZPH")
        lines, paid = self.goods("PHP")
        parcel = self.ledger.register_parcel(
            platform="lazada", site="PH", seller_id=seller, order_id=order,
            order_created_at=start, tracking_number=tracking, lines=lines, amount_paid=paid,
            ready_to_ship_at=start + DAY, occurred_at=start + HOUR).id
        self.play(start, [
            (4 * DAY, lambda t: self.ledger.record_failed_delivery(parcel, "bad_address", t)),
            (5 * DAY, lambda t: self.ledger.route_return(parcel, t)),
            (18 * DAY, lambda t: self.ledger.receive(parcel, t, location="Shenzhen")),
        ])
        return parcel

    def amazon(self, start: datetime, n: int) -> UUID:
        """AM-1..AM-4: return, label, received, inspected, refunded (large: approved)."""
        order, tracking = self.ids("AMDE")
        lines, paid = self.goods("EUR")
        parcel = self.ledger.register_parcel(
            platform="amazon", site="DE", seller_id=f"seller-am-{n % 2}-{self.run}",
            order_id=order, order_created_at=start, tracking_number=tracking, lines=lines,
            amount_paid=paid, shipping_paid=Money.of("5.99", "EUR"), occurred_at=start).id
        reference = f"AMZ-REF-{self.count:04d}-{self.run}"
        refund = [RefundComponent(RefundComponentKind.ITEM, paid)]
        self.play(start, [
            (2 * DAY, lambda t: self.ledger.record_delivery(parcel, t)),
            (4 * DAY, lambda t: self.ledger.request_return(
                parcel, "arrived damaged", seller_fault=True,
                return_shipping_cost=Money.of("7.50", "EUR"), occurred_at=t)),
            (4 * DAY, lambda t: self.ledger.route_return(parcel, t)),
            (4 * DAY, lambda t: self.ledger.issue_return_label(parcel, "DHL",
                                                               f"DHL-{tracking}", t)),
            (8 * DAY, lambda t: self.ledger.receive(parcel, t)),
            (8 * DAY, lambda t: self.ledger.inspect(parcel, "damaged", t)),
            (9 * DAY, lambda t: self.ledger.request_refund(parcel, reference, refund, t,
                                                           actor="clerk")),
        ])
        state = self.ledger.get_parcel(parcel)
        approve = self.at(start, 10 * DAY)
        if approve is not None and any(r.status == "requested" and r.needs_approval
                                       for r in state.refunds):
            self.ledger.approve_refund(parcel, reference, approve, actor="finance-lead")
        return parcel

    def cdiscount(self, start: datetime, n: int) -> UUID:
        """CD-2/CD-4: tracked parcel; a defect refunded without a return."""
        order, tracking = self.ids("CDFR")
        lines, paid = self.goods("EUR")
        parcel = self.ledger.register_parcel(
            platform="cdiscount", site="FR", seller_id=f"seller-cd-{n % 2}-{self.run}",
            order_id=order, order_created_at=start, tracking_number=tracking,
            tracking_url=f"https://tracking.example/{tracking}", lines=lines, amount_paid=paid,
            shipping_paid=Money.of("4.90", "EUR"), occurred_at=start).id
        self.play(start, [
            (3 * DAY, lambda t: self.ledger.record_delivery(parcel, t)),
            (5 * DAY, lambda t: self.ledger.request_return(parcel, "defective",
                                                           seller_fault=True, occurred_at=t)),
            (5 * DAY, lambda t: self.ledger.route_return(parcel, t)),
            (6 * DAY, lambda t: self.ledger.request_refund(parcel, f"CD-REF-{tracking}", [
                RefundComponent(RefundComponentKind.ITEM, paid),
                RefundComponent(RefundComponentKind.SHIPPING, Money.of("4.90", "EUR"))], t)),
        ])
        return parcel

    def play(self, start: datetime, steps: list[tuple[timedelta, Callable[[datetime], object]]]
             ) -> None:
        """Each step at its offset from `start`, in order, until one lies in the future."""
        last = start + HOUR
        for offset, step in steps:
            moment = self.at(start, offset)
            if moment is None:
                return
            last = max(last, moment)  # one step's jitter never puts it before the last
            step(last)


def fill(ledger: ReturnsLedger, now: datetime, days: int = 30, per_day: int = 2,
         run: str = "", seed: int = 7) -> FillReport:
    """Orders on every platform on each of the last `days` days, `per_day` per story."""
    filler = _Fill(ledger, now, run, seed)
    stories = {"tiktok_shop MY": filler.tiktok_my, "tiktok_shop TH": filler.tiktok_th,
               "lazada": filler.lazada, "amazon": filler.amazon, "cdiscount": filler.cdiscount}
    report = FillReport(first_day=now - days * DAY)
    log: Any = ledger.recorder  # the notification log: events recorded by the fill
    before = log.max_notification_id() or 0
    counters = dict.fromkeys(stories, 0)
    for day in range(days, 0, -1):
        start = (now - day * DAY).replace(minute=0, second=0, microsecond=0)
        for name, story in stories.items():
            for _ in range(per_day):
                story(start + filler.random.randint(0, 8) * HOUR, counters[name])
                counters[name] += 1
    report.parcels = counters
    report.events = (log.max_notification_id() or 0) - before
    return report
