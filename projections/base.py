"""What every view's projection shares: batched or per-event application, parcel headers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from domain.money import Money
from domain.parcel import ReturnParcel
from projections.store import Batch, Tx, ViewRecorder, ts

APPLICATION_NAME = "ReturnsLedger"  # the notification log the views follow

HEADER_COLUMNS = ("parcel_id TEXT PRIMARY KEY, seller_id TEXT NOT NULL, "
                  "platform TEXT NOT NULL, site TEXT NOT NULL, order_id TEXT NOT NULL, "
                  "tracking_number TEXT, goods_value TEXT NOT NULL, currency TEXT NOT NULL, "
                  "last_failed_at TEXT")


class ViewProjection(Projection[ViewRecorder]):
    """Turns ReturnParcel events into one view's rows; other aggregates' events only advance it."""

    view_name: ClassVar[str]
    batch_size: ClassVar[int] = 1000

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """One event, one transaction: the library's ProjectionRunner calls this."""
        self.view.record([(domain_event, tracking)], self.apply)

    def process_batch(self, batch: Batch) -> None:
        """Many events, one transaction, one tracking record."""
        self.view.record(batch, self.apply)

    def apply(self, domain_event: Any, tx: Tx, tracking: Tracking) -> None:
        if isinstance(domain_event, ReturnParcel.Event):
            self.handle(domain_event, tx, tracking)

    def handle(self, event: Any, tx: Tx, tracking: Tracking) -> None:
        """Each view overrides this with its own singledispatchmethod."""


def goods_value(event: ReturnParcel.ParcelRegistered) -> Money:
    """What the goods in the parcel are worth at their order prices."""
    currency = event.amount_paid.currency
    amount = sum((Decimal(line["quantity"]) * line["unit_price"].amount for line in event.lines),
                 Decimal(0))
    return Money.of(amount, currency)


def insert_header(tx: Tx, table: str, event: ReturnParcel.ParcelRegistered) -> None:
    """The parcel facts a view needs on its later rows (seller, site, goods value)."""
    value = goods_value(event)
    tx.execute(f"INSERT INTO {{p}}{table} (parcel_id, seller_id, platform, site, order_id, "
               "tracking_number, goods_value, currency) VALUES (:id, :seller, :platform, "
               ":site, :order_id, :tracking_number, :goods_value, :currency)",
               id=str(event.originator_id), seller=event.seller_id, platform=event.platform,
               site=event.site, order_id=event.order_id, tracking_number=event.tracking_number,
               goods_value=str(value.amount), currency=value.currency)


def note_failed_attempt(tx: Tx, table: str, event: Any) -> None:
    """TT-7: the return window counts from the last failed attempt."""
    tx.execute(f"UPDATE {{p}}{table} SET last_failed_at = :at WHERE parcel_id = :id "
               "AND (last_failed_at IS NULL OR last_failed_at < :at)",
               at=ts(event.occurred_at), id=str(event.originator_id))


def header(tx: Tx, table: str, parcel_id: str) -> dict[str, Any]:
    row = tx.one(f"SELECT * FROM {{p}}{table} WHERE parcel_id = :id", id=parcel_id)
    if row is None:  # every parcel event follows its ParcelRegistered in the log
        raise LookupError(f"{table}: no header for parcel {parcel_id}")
    return row
