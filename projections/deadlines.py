"""Holds and deadlines: warehouse holds (TT-2), overdue returns (TT-7/TT-6), AM-4, tickets."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking

from domain.parcel import ReturnParcel as P
from domain.values import Destination
from infrastructure.view_store import Tx, ViewRecorder, parse_ts, ts
from projections import customs_worklist, order_deadlines
from projections.base import (
    HEADER_COLUMNS,
    ViewProjection,
    header,
    insert_header,
    note_failed_attempt,
)
from projections.free_return import scope

# Every route to the seller carries its TT-7 `expected_back_by`, decided by the policy with
# the configured POLICY_RETURN_WINDOW_DAYS. Only routes stored before the field existed
# lack it: for those, the documented default (15 days) stands in.
LEGACY_RETURN_WINDOW = timedelta(days=15)
TO_SELLER = {Destination.SELLER_OVERSEAS.value, Destination.SELLER_DOMESTIC.value}
HEADER = "p.seller_id, p.platform, p.site, p.order_id, p.tracking_number"
TIME_COLUMNS = ("hold_until", "held_at", "routed_at", "due_at", "last_failed_at",
                "requested_at", "opened_at")


UPSERTS = {
    "deadline_holds": "INSERT INTO {p}deadline_holds VALUES (:id, :until, :at, :rule) "
                      "ON CONFLICT (parcel_id) DO UPDATE SET hold_until = excluded.hold_until, "
                      "held_at = excluded.held_at, rule = excluded.rule",
    "deadline_returns": "INSERT INTO {p}deadline_returns VALUES (:id, :dest, :at, :failed, "
                        ":due) ON CONFLICT (parcel_id) DO UPDATE SET "
                        "destination = excluded.destination, routed_at = excluded.routed_at, "
                        "last_failed_at = excluded.last_failed_at, due_at = excluded.due_at",
}
DELETES = {table: f"DELETE FROM {{p}}{table} WHERE parcel_id = :id" for table in UPSERTS}


def _settle(tx: Tx, table: str, parcel_id: str, **row: Any) -> None:
    """A parcel's hold or return as it stands after this event: the row, or none without
    one. Held to the end of the batch, where only each parcel's last state is written."""
    upsert, delete = UPSERTS[table], DELETES[table]
    write, replaced = (upsert, delete) if row else (delete, upsert)
    tx.discard(replaced, parcel_id)
    tx.later(write, parcel_id, id=parcel_id, **row)


def _times(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        for column in TIME_COLUMNS:
            if column in row:
                at = parse_ts(row[column])
                row[column] = at.isoformat() if at else None
    return rows


class DeadlinesView(ViewRecorder):
    """What waits on a date or on a person: holds, returns in transit, approvals, tickets."""

    view_name = "deadlines"
    tables = ("deadline_parcels", "deadline_holds", "deadline_returns", "deadline_refunds",
              "deadline_investigations", order_deadlines.TABLE, customs_worklist.TABLE)
    ddl = (
        f"CREATE TABLE IF NOT EXISTS {{p}}deadline_parcels ({HEADER_COLUMNS})",
        "CREATE TABLE IF NOT EXISTS {p}deadline_holds (parcel_id TEXT PRIMARY KEY, "
        "hold_until TEXT NOT NULL, held_at TEXT NOT NULL, rule TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS deadline_holds_until ON {p}deadline_holds (hold_until)",
        "CREATE TABLE IF NOT EXISTS {p}deadline_returns (parcel_id TEXT PRIMARY KEY, "
        "destination TEXT NOT NULL, routed_at TEXT NOT NULL, last_failed_at TEXT, "
        "due_at TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS {p}deadline_refunds (parcel_id TEXT NOT NULL, "
        "reference TEXT NOT NULL, amount TEXT NOT NULL, currency TEXT NOT NULL, "
        "requested_at TEXT NOT NULL, requested_by TEXT, PRIMARY KEY (parcel_id, reference))",
        "CREATE TABLE IF NOT EXISTS {p}deadline_investigations (parcel_id TEXT NOT NULL, "
        "investigation_id TEXT NOT NULL, kind TEXT NOT NULL, rule TEXT NOT NULL, "
        "opened_at TEXT NOT NULL, PRIMARY KEY (parcel_id, investigation_id))",
        *order_deadlines.DDL,  # LZ-3, CD-1, CD-3: orders and buyer questions
        *customs_worklist.DDL,  # LZ-2: returns needing customs data
    )

    def _select(self, table: str, extra: str, order: str, sellers: tuple[str, ...] | None,
                **params: Any) -> list[dict[str, Any]]:
        limit, more = scope(sellers, "p.seller_id")
        with self.reading() as tx:
            rows = tx.all(f"SELECT t.*, {HEADER} FROM {{p}}{table} t JOIN "
                          f"{{p}}deadline_parcels p ON p.parcel_id = t.parcel_id "
                          f"WHERE 1 = 1{extra}{limit} ORDER BY {order}", **params, **more)
        return _times(rows)

    def holds(self, expired_at: datetime | None = None,
              sellers: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        """TT-2: parcels held at a provider warehouse; only expired ones with `expired_at`."""
        if expired_at is None:
            return self._select("deadline_holds", "", "t.hold_until, t.parcel_id", sellers)
        return self._select("deadline_holds", " AND t.hold_until <= :now",
                            "t.hold_until, t.parcel_id", sellers, now=ts(expired_at))

    def overdue_returns(self, now: datetime,
                        sellers: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        """TT-7: returns still in transit past their window: candidate false returns (TT-6)."""
        rows = self._select("deadline_returns", " AND t.due_at < :now",
                            "t.due_at, t.parcel_id", sellers, now=ts(now))
        for row in rows:
            row["rule"] = "TT-7"
        return rows

    def returns_in_transit(self, sellers: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        return self._select("deadline_returns", "", "t.due_at, t.parcel_id", sellers)

    def pending_refunds(self, sellers: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        """AM-4: refunds above the threshold waiting for a second person's approval."""
        rows = self._select("deadline_refunds", "", "t.requested_at, t.parcel_id", sellers)
        for row in rows:
            row["amount"] = {"amount": row["amount"], "currency": row.pop("currency")}
        return rows

    def open_investigations(self, sellers: tuple[str, ...] | None = None,
                            ) -> list[dict[str, Any]]:
        """TT-5 tickets and TT-6 false-return claims not yet resolved."""
        return self._select("deadline_investigations", "", "t.opened_at, t.parcel_id", sellers)

    def order_deadlines(self, now: datetime, sellers: tuple[str, ...] | None = None,
                        due_only: bool = False) -> list[dict[str, Any]]:
        """LZ-3 ready to ship, CD-1 acceptance, CD-3 replies: open, `delayed` past due."""
        return order_deadlines.rows(self, now, sellers, due_only)

    def customs_worklist(self, sellers: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        """LZ-2: returns whose SKUs lack customs information, until each profile is set."""
        return customs_worklist.rows(self, sellers)


class DeadlinesProjection(ViewProjection):
    """Opens and closes each deadline as the parcel moves."""

    name = "deadlines_view"
    view_name = "deadlines"
    view: DeadlinesView

    def apply(self, domain_event: Any, tx: Tx, tracking: Tracking) -> None:
        if isinstance(domain_event, order_deadlines.ORDER_EVENTS):
            order_deadlines.handle(domain_event, tx)
        elif isinstance(domain_event, customs_worklist.PROFILE_EVENTS):
            customs_worklist.handle(domain_event, tx, "deadline_parcels")
        else:
            super().apply(domain_event, tx, tracking)
            if isinstance(domain_event, customs_worklist.PARCEL_EVENTS):
                customs_worklist.handle(domain_event, tx, "deadline_parcels")

    @singledispatchmethod
    def handle(self, event: Any, tx: Tx, tracking: Tracking) -> None:
        """Other events open or close no deadline."""

    @handle.register(P.ParcelRegistered)
    def _registered(self, e: P.ParcelRegistered, tx: Tx, tracking: Tracking) -> None:
        insert_header(tx, "deadline_parcels", e)

    @handle.register(P.DeliveryAttemptFailed)
    @handle.register(P.DeliveryFailed)
    def _attempt(self, e: Any, tx: Tx, tracking: Tracking) -> None:
        note_failed_attempt(tx, "deadline_parcels", e)

    @handle.register(P.HeldAtWarehouse)
    def _held(self, e: P.HeldAtWarehouse, tx: Tx, tracking: Tracking) -> None:
        _settle(tx, "deadline_holds", str(e.originator_id), until=ts(e.hold_until),
                at=ts(e.occurred_at), rule=e.rule)

    @handle.register(P.ReturnRouted)
    def _routed(self, e: P.ReturnRouted, tx: Tx, tracking: Tracking) -> None:
        if e.destination not in TO_SELLER:
            return
        parcel_id = str(e.originator_id)
        last_failed = parse_ts(header(tx, "deadline_parcels", parcel_id)["last_failed_at"])
        due = e.expected_back_by or (last_failed or e.occurred_at) + LEGACY_RETURN_WINDOW
        _settle(tx, "deadline_returns", parcel_id, dest=e.destination, at=ts(e.occurred_at),
                failed=ts(last_failed), due=ts(due))

    @handle.register(P.RedeliveryRequested)
    @handle.register(P.Redelivered)
    @handle.register(P.Received)
    @handle.register(P.ReturnFailed)
    def _moved_on(self, e: Any, tx: Tx, tracking: Tracking) -> None:
        for table in ("deadline_holds", "deadline_returns"):
            _settle(tx, table, str(e.originator_id))

    @handle.register(P.Destroyed)
    @handle.register(P.Abandoned)
    @handle.register(P.ParcelClosed)
    def _ended(self, e: Any, tx: Tx, tracking: Tracking) -> None:
        for table in ("deadline_holds", "deadline_returns"):
            _settle(tx, table, str(e.originator_id))
        tx.execute("DELETE FROM {p}deadline_refunds WHERE parcel_id = :id",
                   id=str(e.originator_id))

    @handle.register(P.RefundRequested)
    def _refund_requested(self, e: P.RefundRequested, tx: Tx, tracking: Tracking) -> None:
        if e.needs_approval:  # AM-4
            tx.execute("INSERT INTO {p}deadline_refunds VALUES (:id, :ref, :amount, :currency,"
                       " :at, :actor)", id=str(e.originator_id), ref=e.reference,
                       amount=str(e.amount.amount), currency=e.amount.currency,
                       at=ts(e.occurred_at), actor=e.actor)

    @handle.register(P.RefundApproved)
    @handle.register(P.RefundIssued)
    @handle.register(P.RefundRejected)
    def _refund_done(self, e: Any, tx: Tx, tracking: Tracking) -> None:
        tx.execute("DELETE FROM {p}deadline_refunds WHERE parcel_id = :id AND reference = :ref",
                   id=str(e.originator_id), ref=e.reference)

    @handle.register(P.InvestigationOpened)
    def _opened(self, e: P.InvestigationOpened, tx: Tx, tracking: Tracking) -> None:
        tx.execute("INSERT INTO {p}deadline_investigations VALUES (:id, :inv, :kind, :rule, "
                   ":at)", id=str(e.originator_id), inv=e.investigation_id, kind=e.kind,
                   rule=e.rule, at=ts(e.occurred_at))

    @handle.register(P.InvestigationResolved)
    def _resolved(self, e: P.InvestigationResolved, tx: Tx, tracking: Tracking) -> None:
        tx.execute("DELETE FROM {p}deadline_investigations WHERE parcel_id = :id AND "
                   "investigation_id = :inv", id=str(e.originator_id), inv=e.investigation_id)
