"""Free-return view (TT-3, TT-5): the one return the platform pays for, and how it ended."""

from __future__ import annotations

import builtins
from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking

from domain.parcel import ReturnParcel as P
from infrastructure.view_store import Tx, ViewRecorder, in_list, insert_statement, parse_ts, ts
from projections.base import HEADER_COLUMNS, ViewProjection, header, insert_header


def scope(sellers: tuple[str, ...] | None, column: str = "seller_id",
          ) -> tuple[str, dict[str, Any]]:
    """` AND seller_id IN (...)` for an API key's seller scope; nothing when unscoped."""
    if sellers is None:
        return "", {}
    marks, params = in_list("scope", list(sellers) or [""])
    return f" AND {column} IN ({marks})", params


FREE_RETURN_COLUMNS = ("parcel_id", "seller_id", "platform", "site", "tracking_number",
                       "used_at", "destination", "address_id", "rule", "outcome", "outcome_at",
                       "cause", "liability")
# The free return's row, held to the end of the batch; its outcome and liability are merged
# into it while it is held.
ROUTED = insert_statement("free_returns", FREE_RETURN_COLUMNS)


class FreeReturnView(ViewRecorder):
    """Per parcel: used or not, when, to which address, outcome, who bears the loss."""

    view_name = "free_return"
    tables = ("free_return_parcels", "free_returns")
    ddl = (
        f"CREATE TABLE IF NOT EXISTS {{p}}free_return_parcels ({HEADER_COLUMNS})",
        "CREATE TABLE IF NOT EXISTS {p}free_returns (parcel_id TEXT PRIMARY KEY, "
        "seller_id TEXT NOT NULL, platform TEXT NOT NULL, site TEXT NOT NULL, "
        "tracking_number TEXT, used_at TEXT NOT NULL, destination TEXT NOT NULL, "
        "address_id TEXT, rule TEXT NOT NULL, outcome TEXT NOT NULL, outcome_at TEXT, "
        "cause TEXT, liability TEXT)",
        "CREATE INDEX IF NOT EXISTS free_returns_seller ON {p}free_returns (seller_id, site)",
    )

    def list(self, seller_id: str | None = None, site: str | None = None,
             outcome: str | None = None, sellers: tuple[str, ...] | None = None,
             parcel_id: str | None = None) -> list[dict[str, Any]]:
        """Used free returns, oldest first."""
        clauses, params = "", {}
        for column, value in (("seller_id", seller_id), ("site", site), ("outcome", outcome),
                              ("parcel_id", parcel_id)):
            if value is not None:
                clauses += f" AND {column} = :{column}"
                params[column] = value
        limit, more = scope(sellers)
        with self.reading() as tx:
            rows = tx.all(f"SELECT * FROM {{p}}free_returns WHERE 1 = 1{clauses}{limit} "
                          "ORDER BY used_at, parcel_id", **params, **more)
        for row in rows:
            row["used"] = True
            for column in ("used_at", "outcome_at"):
                at = parse_ts(row[column])
                row[column] = at.isoformat() if at else None
        return rows

    def get(self, parcel_id: str) -> dict[str, Any] | None:
        """One parcel's free return; `used` is False when it was never used."""
        with self.reading() as tx:
            known = tx.one("SELECT parcel_id FROM {p}free_return_parcels WHERE parcel_id = :id",
                           id=parcel_id)
        if known is None:
            return None
        rows = self.list(parcel_id=parcel_id)
        return rows[0] if rows else {"parcel_id": parcel_id, "used": False}

    def totals(self, sellers: tuple[str, ...] | None = None,
               ) -> builtins.list[dict[str, Any]]:
        """Per seller and site: free returns used, in transit, received, failed, seller-borne."""
        limit, params = scope(sellers)
        with self.reading() as tx:
            return tx.all(
                "SELECT seller_id, site, COUNT(*) AS used, "
                "SUM(CASE WHEN outcome = 'in_transit' THEN 1 ELSE 0 END) AS in_transit, "
                "SUM(CASE WHEN outcome = 'received' THEN 1 ELSE 0 END) AS received, "
                "SUM(CASE WHEN outcome = 'failed' THEN 1 ELSE 0 END) AS failed, "
                "SUM(CASE WHEN liability = 'seller' THEN 1 ELSE 0 END) AS seller_liable "
                f"FROM {{p}}free_returns WHERE 1 = 1{limit} "
                "GROUP BY seller_id, site ORDER BY seller_id, site", **params)


class FreeReturnProjection(ViewProjection):
    """Records each free return when routed, and its outcome."""

    name = "free_return_view"
    view_name = "free_return"
    view: FreeReturnView

    @singledispatchmethod
    def handle(self, event: Any, tx: Tx, tracking: Tracking) -> None:
        """Other events do not touch free returns."""

    @handle.register(P.ParcelRegistered)
    def _registered(self, e: P.ParcelRegistered, tx: Tx, tracking: Tracking) -> None:
        insert_header(tx, "free_return_parcels", e)

    @handle.register(P.ReturnRouted)
    def _routed(self, e: P.ReturnRouted, tx: Tx, tracking: Tracking) -> None:
        if not e.free_return:
            return
        parcel = header(tx, "free_return_parcels", str(e.originator_id))
        tx.later(ROUTED, parcel["parcel_id"], parcel_id=parcel["parcel_id"],
                 seller_id=parcel["seller_id"], platform=parcel["platform"],
                 site=parcel["site"], tracking_number=parcel["tracking_number"],
                 used_at=ts(e.occurred_at), destination=e.destination,
                 address_id=e.address_id, rule=e.rule, outcome="in_transit",
                 outcome_at=None, cause=None, liability=None)

    @handle.register(P.Received)
    def _received(self, e: P.Received, tx: Tx, tracking: Tracking) -> None:
        self._outcome(tx, e, "received", None, None)

    @handle.register(P.ReturnFailed)
    def _failed(self, e: P.ReturnFailed, tx: Tx, tracking: Tracking) -> None:
        self._outcome(tx, e, "failed", e.cause, e.liability)  # TT-5

    @handle.register(P.InvestigationResolved)
    @handle.register(P.Destroyed)
    @handle.register(P.Abandoned)
    def _liable(self, e: Any, tx: Tx, tracking: Tracking) -> None:
        if tx.merge(ROUTED, str(e.originator_id), liability=e.liability):
            return
        tx.execute("UPDATE {p}free_returns SET liability = :liability WHERE parcel_id = :id",
                   liability=e.liability, id=str(e.originator_id))

    @staticmethod
    def _outcome(tx: Tx, e: Any, outcome: str, cause: str | None,
                 liability: str | None) -> None:
        held = tx.pending(ROUTED, str(e.originator_id))
        if held is not None:  # routed in this batch: its row goes in with the outcome
            if held["outcome"] == "in_transit":
                held.update(outcome=outcome, outcome_at=ts(e.occurred_at), cause=cause,
                            liability=liability)
            return
        tx.execute("UPDATE {p}free_returns SET outcome = :outcome, outcome_at = :at, "
                   "cause = :cause, liability = :liability "
                   "WHERE parcel_id = :id AND outcome = 'in_transit'", outcome=outcome,
                   at=ts(e.occurred_at), cause=cause, liability=liability,
                   id=str(e.originator_id))
