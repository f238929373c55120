"""What every view's projection shares: batched or per-event application, parcel headers."""

from __future__ import annotations

from functools import cache
from typing import Any, ClassVar

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from domain.parcel import ReturnParcel
from domain.values import latest
from infrastructure.view_store import Batch, Tx, ViewRecorder, insert_statement, parse_ts, ts

APPLICATION_NAME = "ReturnsLedger"  # the notification log the views follow

HEADER_COLUMNS = ("parcel_id TEXT PRIMARY KEY, seller_id TEXT NOT NULL, "
                  "platform TEXT NOT NULL, site TEXT NOT NULL, order_id TEXT NOT NULL, "
                  "tracking_number TEXT, goods_value TEXT NOT NULL, currency TEXT NOT NULL, "
                  "last_failed_at TEXT")


class ViewProjection(Projection[Any]):  # the view is a TrackingRecorder once made concrete
    """Turns ReturnParcel events into one view's rows; other aggregates' events only advance it."""

    view: ViewRecorder

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
            if isinstance(domain_event, CORRECTIONS):
                correct_rows(self.view, domain_event, tx)

    def handle(self, event: Any, tx: Tx, tracking: Tracking) -> None:
        """Each view overrides this with its own singledispatchmethod."""


# RL-2: a voided parcel leaves every view; a corrected field is the value of every row
# that carries it (the refunds' order id is what finance reconciles by).
CORRECTIONS = (ReturnParcel.ParcelVoided, ReturnParcel.FieldCorrected)
NO_PARCEL_COLUMN = frozenset({"deadline_orders"})  # orders and questions, not parcels
_HEADERS = ("tracking_parcels", "free_return_parcels", "deadline_parcels",
            "liability_parcels", "refunds_parcels")
CORRECTED_COLUMNS: dict[str, frozenset[str]] = {  # column -> the view tables that keep it
    "site": frozenset({*_HEADERS, "free_returns", "refunds"}),
    "order_id": frozenset({*_HEADERS, "customs_worklist", "refunds"}),
    "store_id": frozenset({"tracking_parcels"}),
    # Corrected lines: the headers' goods value (the parcel list keeps none; the SKUs are
    # the LZ-2 work list's, and the liabilities' amount at stake their own handler's).
    "goods_value": frozenset(_HEADERS) - {"tracking_parcels"},
}


def corrected_columns(event: Any) -> dict[str, Any]:
    """The view columns a FieldCorrected sets: the field itself, or for corrected lines
    the goods' value the domain computes (the amount; the currency is the parcel's)."""
    if event.field == "lines":
        return {"goods_value": str(event.corrected_goods_value().amount)}
    return {event.field: event.value}


def correct_rows(view: ViewRecorder, event: Any, tx: Tx) -> None:
    """After the view's own handling: the writes held so far run first, so that nothing
    held for the parcel is written after its rows are gone (or corrected)."""
    tx.flush()
    parcel_id = str(event.originator_id)
    columns = {} if isinstance(event, ReturnParcel.ParcelVoided) else corrected_columns(event)
    for table in view.tables:
        if table in NO_PARCEL_COLUMN:
            continue
        if isinstance(event, ReturnParcel.ParcelVoided):
            tx.execute(f"DELETE FROM {{p}}{table} WHERE parcel_id = :id", id=parcel_id)
            continue
        for column, value in columns.items():
            if table in CORRECTED_COLUMNS.get(column, ()):
                tx.execute(f"UPDATE {{p}}{table} SET {column} = :value WHERE parcel_id = :id",
                           value=value, id=parcel_id)


HEADER_FIELDS = ("parcel_id", "seller_id", "platform", "site", "order_id", "tracking_number",
                 "goods_value", "currency", "last_failed_at")


@cache
def _insert_statement(table: str) -> str:
    return insert_statement(table, HEADER_FIELDS)


@cache
def _failed_statement(table: str) -> str:
    return (f"UPDATE {{p}}{table} SET last_failed_at = :at WHERE parcel_id = :id "
            "AND (last_failed_at IS NULL OR last_failed_at < :at)")


def insert_header(tx: Tx, table: str, event: ReturnParcel.ParcelRegistered) -> None:
    """The parcel facts a view needs on its later rows (seller, site, goods value).

    Held to the end of the batch (one executemany); `header` and `note_failed_attempt`
    look at the held row first.
    """
    value = event.goods_value()  # the domain's answer, not a copy of its arithmetic
    parcel_id = str(event.originator_id)
    tx.later(_insert_statement(table), parcel_id, parcel_id=parcel_id,
             seller_id=event.seller_id, platform=event.platform, site=event.site,
             order_id=event.order_id, tracking_number=event.tracking_number,
             goods_value=str(value.amount), currency=value.currency, last_failed_at=None)


def note_failed_attempt(tx: Tx, table: str, event: Any) -> None:
    """TT-7: the return window counts from the latest failed attempt, whatever order the
    scans came in: the same rule as the aggregate's (`domain.values.latest`); held to the
    batch end."""
    at, parcel_id = event.occurred_at, str(event.originator_id)
    held = tx.pending(_insert_statement(table), parcel_id)
    if held is not None:  # registered in this batch: the row goes in with it
        held["last_failed_at"] = ts(latest(parse_ts(held["last_failed_at"]), at))
        return
    update = _failed_statement(table)  # its WHERE keeps the stored time when later
    earlier = tx.pending(update, parcel_id)
    known = parse_ts(earlier["at"]) if earlier is not None else None
    tx.later(update, parcel_id, at=ts(latest(known, at)), id=parcel_id)


def header(tx: Tx, table: str, parcel_id: str) -> dict[str, Any]:
    """The parcel's header row, as it stands with the batch's held writes."""
    held = tx.pending(_insert_statement(table), parcel_id)
    if held is not None:
        return dict(held)
    row = tx.one(f"SELECT * FROM {{p}}{table} WHERE parcel_id = :id", id=parcel_id)
    if row is None:  # every parcel event follows its ParcelRegistered in the log
        raise LookupError(f"{table}: no header for parcel {parcel_id}")
    update = tx.pending(_failed_statement(table), parcel_id)
    if update is not None and (row["last_failed_at"] or "") < update["at"]:
        row["last_failed_at"] = update["at"]
    return row
