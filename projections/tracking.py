"""Tracking view: one row per parcel with its status and the timeline of its checkpoints."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking

from domain.parcel import ReturnParcel
from domain.values import Status
from infrastructure.view_store import Tx, ViewRecorder, in_list, insert_statement, parse_ts, ts
from projections.base import CORRECTIONS, ViewProjection, correct_rows

P = ReturnParcel


PARCEL_COLUMNS = ("parcel_id", "seller_id", "platform", "site", "store_id", "order_id",
                  "tracking_number", "status", "last_event_type", "last_event_at",
                  "last_recorded_at", "destination", "free_return", "hold_until",
                  "registered_at", "version", "position")
INSERT_PARCEL = insert_statement("tracking_parcels", PARCEL_COLUMNS)
CHECKPOINT = ("INSERT INTO {p}tracking_checkpoints VALUES "
              "(:id, :version, :type, :at, :recorded)")
LAST_EVENT = ("UPDATE {p}tracking_parcels SET status = COALESCE(:status, status), "
              "last_event_type = :type, last_event_at = :at, last_recorded_at = :recorded, "
              "version = :version, position = :position WHERE parcel_id = :id")


class TrackingView(ViewRecorder):
    """Parcels and their checkpoints, queried by seller, platform, site, status, dates, numbers."""

    view_name = "tracking"
    tables = ("tracking_parcels", "tracking_checkpoints")
    ddl = (
        "CREATE TABLE IF NOT EXISTS {p}tracking_parcels (parcel_id TEXT PRIMARY KEY, "
        "seller_id TEXT NOT NULL, platform TEXT NOT NULL, site TEXT NOT NULL, "
        "store_id TEXT, order_id TEXT NOT NULL, tracking_number TEXT, status TEXT NOT NULL, "
        "last_event_type TEXT NOT NULL, last_event_at TEXT NOT NULL, "
        "last_recorded_at TEXT NOT NULL, destination TEXT, "
        "free_return TEXT NOT NULL DEFAULT 'unused', hold_until TEXT, "
        "registered_at TEXT NOT NULL, version INTEGER NOT NULL, position BIGINT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS tracking_parcels_seller "
        "ON {p}tracking_parcels (seller_id, registered_at, parcel_id)",
        "CREATE INDEX IF NOT EXISTS tracking_parcels_registered "
        "ON {p}tracking_parcels (registered_at, parcel_id)",
        "CREATE INDEX IF NOT EXISTS tracking_parcels_number "
        "ON {p}tracking_parcels (tracking_number)",
        "CREATE TABLE IF NOT EXISTS {p}tracking_checkpoints (parcel_id TEXT NOT NULL, "
        "version INTEGER NOT NULL, event_type TEXT NOT NULL, occurred_at TEXT, "
        "recorded_at TEXT NOT NULL, PRIMARY KEY (parcel_id, version))",
    )

    # -- writes (inside the projection's transaction) ----------------------------
    # All held to the end of the batch: a parcel registered in the batch goes in with one
    # row that its later events of the batch are merged into; the row of a parcel
    # registered before is updated once with its last event (and its last new status);
    # checkpoints go in with one executemany.
    def insert_parcel(self, tx: Tx, e: P.ParcelRegistered, tracking: Tracking) -> None:
        parcel_id, at = str(e.originator_id), ts(e.occurred_at)
        tx.later(INSERT_PARCEL, parcel_id, parcel_id=parcel_id, seller_id=e.seller_id,
                 platform=e.platform, site=e.site, store_id=e.store_id, order_id=e.order_id,
                 tracking_number=e.tracking_number, status=Status.REGISTERED.value,
                 last_event_type=type(e).__name__, last_event_at=at,
                 last_recorded_at=ts(e.timestamp), destination=None, free_return="unused",
                 hold_until=None, registered_at=at, version=e.originator_version,
                 position=tracking.notification_id)

    def checkpoint(self, tx: Tx, e: P.Event, tracking: Tracking, status: str | None) -> None:
        """The event's checkpoint, and the parcel's last event and status."""
        values = self.add_checkpoint(tx, e)
        held = tx.pending(INSERT_PARCEL, values["id"])
        if held is not None:
            held.update(last_event_type=values["type"], last_event_at=values["at"],
                        last_recorded_at=values["recorded"], version=values["version"],
                        position=tracking.notification_id)
            if status is not None:
                held["status"] = status
            return
        if status is None:
            earlier = tx.pending(LAST_EVENT, values["id"])
            status = earlier["status"] if earlier else None
        tx.later(LAST_EVENT, values["id"], status=status,
                 position=tracking.notification_id, **values)

    @staticmethod
    def add_checkpoint(tx: Tx, e: P.Event) -> dict[str, Any]:
        """The event's checkpoint, held for the batch's executemany; its column values."""
        values = dict(id=str(e.originator_id), version=e.originator_version,
                      type=type(e).__name__, at=ts(e.occurred_at), recorded=ts(e.timestamp))
        tx.later(CHECKPOINT, (values["id"], values["version"]), **values)
        return values

    def update(self, tx: Tx, parcel_id: Any, **columns: Any) -> None:
        if tx.merge(INSERT_PARCEL, str(parcel_id), **columns):
            return
        sets = ", ".join(f"{name} = :{name}" for name in columns)
        tx.execute(f"UPDATE {{p}}tracking_parcels SET {sets} WHERE parcel_id = :parcel_id",
                   parcel_id=str(parcel_id), **columns)

    def settle_free_return(self, tx: Tx, parcel_id: Any, outcome: str) -> None:
        """TT-3/TT-5: the free return in transit ended, received or failed."""
        held = tx.pending(INSERT_PARCEL, str(parcel_id))
        if held is not None:
            if held["free_return"] == "in_transit":
                held["free_return"] = outcome
            return
        tx.execute("UPDATE {p}tracking_parcels SET free_return = :outcome "
                   "WHERE parcel_id = :id AND free_return = 'in_transit'",
                   outcome=outcome, id=str(parcel_id))

    # -- queries ---------------------------------------------------------------------
    def find(self, query: ParcelQuery) -> tuple[list[dict[str, Any]], str | None]:
        """One page of parcels matching the query, and the cursor of the next page."""
        where, params = query.where()
        with self.reading() as tx:
            rows = tx.all(f"SELECT * FROM {{p}}tracking_parcels {where} "
                          "ORDER BY registered_at, parcel_id LIMIT :limit",
                          limit=query.limit + 1, **params)
            page = rows[: query.limit]
            if query.timeline:
                self._attach_timelines(tx, page)
        more = len(rows) > query.limit
        return [parcel_dict(r) for r in page], encode_cursor(page[-1]) if more else None

    def get(self, parcel_id: str) -> dict[str, Any] | None:
        with self.reading() as tx:
            row = tx.one("SELECT * FROM {p}tracking_parcels WHERE parcel_id = :id",
                         id=parcel_id)
            if row is not None:
                self._attach_timelines(tx, [row])
        return parcel_dict(row) if row else None

    @staticmethod
    def _attach_timelines(tx: Tx, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        ids, params = in_list("id", [r["parcel_id"] for r in rows])
        points = tx.all("SELECT * FROM {p}tracking_checkpoints WHERE parcel_id IN "
                        f"({ids}) ORDER BY parcel_id, version", **params)
        by_parcel: dict[str, list[dict[str, Any]]] = {r["parcel_id"]: [] for r in rows}
        for point in points:
            by_parcel[point["parcel_id"]].append({
                "version": point["version"], "type": point["event_type"],
                "occurred_at": iso(point["occurred_at"]),
                "recorded_at": iso(point["recorded_at"])})
        for row in rows:
            row["timeline"] = by_parcel[row["parcel_id"]]


@dataclass(frozen=True)
class ParcelQuery:
    """Filters of the tracking view; dates bound the registration time (from inclusive)."""

    seller_id: str | None = None
    platform: str | None = None
    site: str | None = None
    status: str | None = None
    order_id: str | None = None
    registered_from: datetime | None = None
    registered_to: datetime | None = None
    tracking_numbers: tuple[str, ...] = ()
    cursor: str | None = None
    limit: int = 100
    timeline: bool = False
    sellers: tuple[str, ...] | None = field(default=None)  # an API key's seller scope

    def where(self) -> tuple[str, dict[str, Any]]:
        clauses: list[str] = []
        params: dict[str, Any] = {}
        for column in ("seller_id", "platform", "site", "status", "order_id"):
            if getattr(self, column) is not None:
                clauses.append(f"{column} = :{column}")
                params[column] = getattr(self, column)
        if self.registered_from is not None:
            clauses.append("registered_at >= :reg_from")
            params["reg_from"] = ts(self.registered_from)
        if self.registered_to is not None:
            clauses.append("registered_at < :reg_to")
            params["reg_to"] = ts(self.registered_to)
        for name, values in (("tn", self.tracking_numbers), ("sc", self.sellers)):
            if values is not None and (values or name == "sc"):
                column = "tracking_number" if name == "tn" else "seller_id"
                marks, more = in_list(name, list(values) or [""])
                clauses.append(f"{column} IN ({marks})")
                params.update(more)
        if self.cursor:
            after_at, after_id = decode_cursor(self.cursor)
            clauses.append("(registered_at > :after_at OR "
                           "(registered_at = :after_at AND parcel_id > :after_id))")
            params.update(after_at=after_at, after_id=after_id)
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def encode_cursor(row: dict[str, Any]) -> str:
    raw = json.dumps([row["registered_at"], row["parcel_id"]]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    """The position after which the next page starts; ValueError when it is not ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        registered_at, parcel_id = json.loads(raw)
    except (ValueError, TypeError) as error:
        raise ValueError(f"invalid cursor {cursor!r}") from error
    if not isinstance(registered_at, str) or not isinstance(parcel_id, str):
        raise ValueError(f"invalid cursor {cursor!r}")
    return registered_at, parcel_id


def iso(value: str | None) -> str | None:
    parsed = parse_ts(value)
    return parsed.isoformat() if parsed else None


def parcel_dict(row: dict[str, Any]) -> dict[str, Any]:
    """A view row as JSON-ready values."""
    out = dict(row)
    for column in ("last_event_at", "last_recorded_at", "hold_until", "registered_at"):
        out[column] = iso(row[column])
    return out


class TrackingProjection(ViewProjection):
    """Keeps the tracking view: status, last event, destination, free return, hold."""

    name = "tracking_view"
    view_name = "tracking"
    view: TrackingView

    def apply(self, domain_event: Any, tx: Tx, tracking: Tracking) -> None:
        if isinstance(domain_event, P.ParcelRegistered):
            self.view.insert_parcel(tx, domain_event, tracking)
            self.view.add_checkpoint(tx, domain_event)
        elif isinstance(domain_event, P.Event):
            status = domain_event.status_after()  # the domain says where it leads
            self.view.checkpoint(tx, domain_event, tracking, status.value if status else None)
            self.handle(domain_event, tx, tracking)
            if isinstance(domain_event, CORRECTIONS):  # RL-2
                correct_rows(self.view, domain_event, tx)

    @singledispatchmethod
    def handle(self, event: Any, tx: Tx, tracking: Tracking) -> None:
        """Other events only add a checkpoint."""

    @handle.register(P.ReturnRouted)
    def _routed(self, e: P.ReturnRouted, tx: Tx, tracking: Tracking) -> None:
        self.view.update(tx, e.originator_id, destination=e.destination)
        if e.free_return:  # TT-3: the one return the platform pays for
            self.view.update(tx, e.originator_id, free_return="in_transit")

    @handle.register(P.HeldAtWarehouse)
    def _held(self, e: P.HeldAtWarehouse, tx: Tx, tracking: Tracking) -> None:
        self.view.update(tx, e.originator_id, hold_until=ts(e.hold_until))

    @handle.register(P.Redelivered)
    def _redelivered(self, e: P.Redelivered, tx: Tx, tracking: Tracking) -> None:
        self.view.update(tx, e.originator_id, hold_until=None)

    @handle.register(P.Received)
    def _received(self, e: P.Received, tx: Tx, tracking: Tracking) -> None:
        self.view.settle_free_return(tx, e.originator_id, "received")

    @handle.register(P.ReturnFailed)
    def _failed(self, e: P.ReturnFailed, tx: Tx, tracking: Tracking) -> None:
        self.view.settle_free_return(tx, e.originator_id, "failed")
