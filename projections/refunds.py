"""Refunds ledger view: every refund line, its components in minor units, who and when.

Amounts are kept as integer minor units (12.30 MYR is 1230), so sums in SQL are exact on
SQLite and PostgreSQL alike; they leave the view as exact decimal strings.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking

from domain.money import MINOR_UNITS
from domain.parcel import ReturnParcel as P
from domain.reconciliation import LedgerRefund, major
from infrastructure.view_store import Tx, ViewRecorder, in_list, ts
from projections.base import HEADER_COLUMNS, ViewProjection, header, insert_header

KINDS = ("item", "shipping", "return_shipping")
FETCH = 1000  # rows read at once when streaming an export


class RefundsView(ViewRecorder):
    """One row per refund (parcel + external reference), with its lifecycle."""

    view_name = "refunds"
    tables = ("refunds_parcels", "refunds")
    ddl = (
        f"CREATE TABLE IF NOT EXISTS {{p}}refunds_parcels ({HEADER_COLUMNS})",
        "CREATE TABLE IF NOT EXISTS {p}refunds (parcel_id TEXT NOT NULL, "
        "reference TEXT NOT NULL, order_id TEXT NOT NULL, seller_id TEXT NOT NULL, "
        "platform TEXT NOT NULL, site TEXT NOT NULL, currency TEXT NOT NULL, "
        "item BIGINT NOT NULL, shipping BIGINT NOT NULL, return_shipping BIGINT NOT NULL, "
        "amount BIGINT NOT NULL, status TEXT NOT NULL, needs_approval INTEGER NOT NULL, "
        "rule TEXT, requested_by TEXT NOT NULL, requested_at TEXT NOT NULL, "
        "approved_by TEXT, approved_at TEXT, issued_by TEXT, issued_at TEXT, "
        "released_by TEXT, released_at TEXT, reason TEXT, "
        "PRIMARY KEY (parcel_id, reference))",
        "CREATE INDEX IF NOT EXISTS refunds_reference ON {p}refunds (reference)",
        "CREATE INDEX IF NOT EXISTS refunds_seller ON {p}refunds (seller_id, requested_at)",
    )

    def rows(self, filters: dict[str, Any] | None = None,
             sellers: tuple[str, ...] | None = None) -> Iterator[dict[str, Any]]:
        """Refund rows in a stable order (requested time, parcel, reference), streamed."""
        where, params = _where(filters or {}, sellers)
        with self.reading() as tx:
            tx.execute(f"SELECT * FROM {{p}}refunds WHERE 1 = 1{where} "
                       "ORDER BY requested_at, parcel_id, reference", **params)
            yield from _stream(tx)

    def totals(self, filters: dict[str, Any] | None = None,
               sellers: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        """Issued refunds per seller, platform, currency and day (UTC) of issue."""
        where, params = _where({**(filters or {}), "status": "issued"}, sellers)
        with self.reading() as tx:
            rows = tx.all(
                "SELECT seller_id, platform, currency, SUBSTR(issued_at, 1, 10) AS day, "
                "COUNT(*) AS refunds, SUM(item) AS item, SUM(shipping) AS shipping, "
                "SUM(return_shipping) AS return_shipping, SUM(amount) AS amount "
                f"FROM {{p}}refunds WHERE 1 = 1{where} "
                "GROUP BY seller_id, platform, currency, SUBSTR(issued_at, 1, 10) "
                "ORDER BY seller_id, platform, currency, day", **params)
        return [_money(row, ("item", "shipping", "return_shipping", "amount"))
                for row in rows]

    def ledger_refunds(self, sellers: tuple[str, ...] | None = None,
                       ) -> Iterator[LedgerRefund]:
        """Every refund (of these sellers) as reconciliation reads it, streamed."""
        where, params = _where({}, sellers)
        with self.reading() as tx:
            tx.execute("SELECT reference, parcel_id, order_id, seller_id, platform, "
                       f"currency, amount, status FROM {{p}}refunds WHERE 1 = 1{where} "
                       "ORDER BY reference", **params)
            for row in _stream(tx, raw=True):
                yield LedgerRefund(row["reference"], row["parcel_id"], row["order_id"],
                                   row["seller_id"], row["platform"], row["currency"],
                                   int(row["amount"]), row["status"])


FILTERS = {"seller_id": "seller_id = :seller_id", "platform": "platform = :platform",
           "currency": "currency = :currency", "status": "status = :status",
           "site": "site = :site", "reference": "reference = :reference",
           "from": "requested_at >= :from", "to": "requested_at < :to"}


def _where(filters: dict[str, Any], sellers: tuple[str, ...] | None,
           ) -> tuple[str, dict[str, Any]]:
    clauses, params = "", {}
    for key, value in filters.items():
        if value is None:
            continue
        clauses += f" AND {FILTERS[key]}"
        params[key] = ts(value) if key in ("from", "to") else value
    if sellers is not None:
        marks, more = in_list("scope", list(sellers) or [""])
        clauses += f" AND seller_id IN ({marks})"
        params.update(more)
    return clauses, params


def _stream(tx: Tx, raw: bool = False) -> Iterator[dict[str, Any]]:
    cursor = getattr(tx.cursor, "sqlite_cursor", tx.cursor)  # the library wraps SQLite's
    while True:
        batch = cursor.fetchmany(FETCH)
        if not batch:
            return
        for values in batch:
            row = dict(values)
            yield row if raw else _money(row, (*KINDS, "amount"))


def _money(row: dict[str, Any], columns: tuple[str, ...]) -> dict[str, Any]:
    for column in columns:
        row[column] = major(int(row[column] or 0), row["currency"])
    return row


def _minor(money: Any) -> int:
    return int(money.amount.scaleb(MINOR_UNITS[money.currency]))


class RefundsProjection(ViewProjection):
    """Records each refund when requested and follows it to issued, rejected, failed, reversed."""

    name = "refunds_view"
    view_name = "refunds"
    view: RefundsView

    @singledispatchmethod
    def handle(self, event: Any, tx: Tx, tracking: Tracking) -> None:
        """Other events do not touch refunds."""

    @handle.register(P.ParcelRegistered)
    def _registered(self, e: P.ParcelRegistered, tx: Tx, tracking: Tracking) -> None:
        insert_header(tx, "refunds_parcels", e)

    @handle.register(P.RefundRequested)
    def _requested(self, e: P.RefundRequested, tx: Tx, tracking: Tracking) -> None:
        parcel = header(tx, "refunds_parcels", str(e.originator_id))
        parts = dict.fromkeys(KINDS, 0)
        for component in e.components:
            parts[component["kind"]] += _minor(component["amount"])
        tx.execute(
            "INSERT INTO {p}refunds (parcel_id, reference, order_id, seller_id, platform, "
            "site, currency, item, shipping, return_shipping, amount, status, "
            "needs_approval, rule, requested_by, requested_at) VALUES (:id, :reference, "
            ":order_id, :seller, :platform, :site, :currency, :item, :shipping, "
            ":return_shipping, :amount, :status, :needs, :rule, :actor, :at)",
            id=parcel["parcel_id"], reference=e.reference, order_id=parcel["order_id"],
            seller=parcel["seller_id"], platform=parcel["platform"], site=parcel["site"],
            currency=e.amount.currency, amount=_minor(e.amount),
            status=e.refund_status, needs=int(e.needs_approval), rule=e.rule, actor=e.actor,
            at=ts(e.occurred_at), **parts)

    @handle.register(P.RefundApproved)
    def _approved(self, e: P.RefundApproved, tx: Tx, tracking: Tracking) -> None:
        _update(tx, e, "approved_by = :actor, approved_at = :at")

    @handle.register(P.RefundIssued)
    def _issued(self, e: P.RefundIssued, tx: Tx, tracking: Tracking) -> None:
        _update(tx, e, "issued_by = :actor, issued_at = :at")

    @handle.register(P.RefundRejected)
    @handle.register(P.RefundFailed)
    @handle.register(P.RefundReversed)
    def _released(self, e: Any, tx: Tx, tracking: Tracking) -> None:
        _update(tx, e, "released_by = :actor, released_at = :at, reason = :reason",
                reason=e.reason)


def _update(tx: Tx, e: Any, assignments: str, **more: Any) -> None:
    """The refund's new status is the one its event declares (`refund_status`)."""
    tx.execute(f"UPDATE {{p}}refunds SET status = :status, {assignments} "
               "WHERE parcel_id = :id AND reference = :reference", status=e.refund_status,
               actor=e.actor, at=ts(e.occurred_at), id=str(e.originator_id),
               reference=e.reference, **more)
