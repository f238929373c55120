"""Liabilities view: who bears the loss of each parcel (seller, platform, provider), how much."""

from __future__ import annotations

import builtins
from collections import defaultdict
from decimal import Decimal
from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking

from domain.parcel import ReturnParcel as P
from infrastructure.view_store import Tx, ViewRecorder, parse_ts, ts
from projections.base import HEADER_COLUMNS, ViewProjection, header, insert_header
from projections.free_return import scope


class LiabilitiesView(ViewRecorder):
    """One row per parcel with a liability; the amount is the loss once the parcel is gone.

    Before a Destroyed/Abandoned event gives the loss, the amount at stake is the goods value
    (`basis` says which).
    """

    view_name = "liabilities"
    tables = ("liability_parcels", "liabilities")
    ddl = (
        f"CREATE TABLE IF NOT EXISTS {{p}}liability_parcels ({HEADER_COLUMNS})",
        "CREATE TABLE IF NOT EXISTS {p}liabilities (parcel_id TEXT PRIMARY KEY, "
        "party TEXT NOT NULL, amount TEXT NOT NULL, currency TEXT NOT NULL, "
        "basis TEXT NOT NULL, rule TEXT, event_type TEXT NOT NULL, occurred_at TEXT NOT NULL)",
    )

    def list(self, seller_id: str | None = None, party: str | None = None,
             sellers: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        """Per parcel: who bears the loss and the amount, exact decimal strings."""
        clauses, params = "", {}
        for column, value in (("p.seller_id", seller_id), ("l.party", party)):
            if value is not None:
                key = column.split(".")[1]
                clauses += f" AND {column} = :{key}"
                params[key] = value
        limit, more = scope(sellers, "p.seller_id")
        with self.reading() as tx:
            rows = tx.all("SELECT l.*, p.seller_id, p.platform, p.site, p.order_id, "
                          "p.tracking_number FROM {p}liabilities l JOIN {p}liability_parcels p "
                          f"ON p.parcel_id = l.parcel_id WHERE 1 = 1{clauses}{limit} "
                          "ORDER BY p.seller_id, l.occurred_at, l.parcel_id", **params, **more)
        for row in rows:
            row["amount"] = {"amount": row["amount"], "currency": row.pop("currency")}
            at = parse_ts(row["occurred_at"])
            row["occurred_at"] = at.isoformat() if at else None
        return rows

    def totals(self, sellers: tuple[str, ...] | None = None,
               ) -> builtins.list[dict[str, Any]]:
        """Per seller, party and currency: parcels and the summed amount (exact Decimal)."""
        sums: dict[tuple[str, str, str], list[Any]] = defaultdict(lambda: [0, Decimal(0)])
        for row in self.list(sellers=sellers):
            key = (row["seller_id"], row["party"], row["amount"]["currency"])
            sums[key][0] += 1
            sums[key][1] += Decimal(row["amount"]["amount"])
        return [{"seller_id": seller, "party": party, "parcels": count,
                 "amount": {"amount": str(amount), "currency": currency}}
                for (seller, party, currency), (count, amount) in sorted(sums.items())]


class LiabilitiesProjection(ViewProjection):
    """ReturnFailed (TT-5), investigations (TT-5/TT-6) and disposals (TT-2) set liability."""

    name = "liabilities_view"
    view_name = "liabilities"
    view: LiabilitiesView

    @singledispatchmethod
    def handle(self, event: Any, tx: Tx, tracking: Tracking) -> None:
        """Other events move no loss."""

    @handle.register(P.ParcelRegistered)
    def _registered(self, e: P.ParcelRegistered, tx: Tx, tracking: Tracking) -> None:
        insert_header(tx, "liability_parcels", e)

    @handle.register(P.ReturnFailed)
    def _failed(self, e: P.ReturnFailed, tx: Tx, tracking: Tracking) -> None:
        self._assign(tx, e, e.rule, keep_amount=False)

    @handle.register(P.InvestigationResolved)
    def _resolved(self, e: P.InvestigationResolved, tx: Tx, tracking: Tracking) -> None:
        self._assign(tx, e, e.rule or None, keep_amount=True)  # TT-5 or TT-6

    @handle.register(P.FieldCorrected)
    def _corrected(self, e: P.FieldCorrected, tx: Tx, tracking: Tracking) -> None:
        """RL-2: corrected lines change the amount at stake (the goods value) of a parcel
        not yet lost; a known loss stays (a lost parcel is terminal: never corrected)."""
        value = e.corrected_goods_value()
        if value is not None:
            tx.execute("UPDATE {p}liabilities SET amount = :amount WHERE parcel_id = :id "
                       "AND basis = 'goods_value'", amount=str(value.amount),
                       id=str(e.originator_id))

    @handle.register(P.Destroyed)
    @handle.register(P.Abandoned)
    def _lost(self, e: Any, tx: Tx, tracking: Tracking) -> None:
        tx.execute("INSERT INTO {p}liabilities VALUES (:id, :party, :amount, :currency, "
                   "'loss', :rule, :type, :at) ON CONFLICT (parcel_id) DO UPDATE SET "
                   "party = excluded.party, amount = excluded.amount, "
                   "currency = excluded.currency, basis = 'loss', rule = excluded.rule, "
                   "event_type = excluded.event_type, occurred_at = excluded.occurred_at",
                   id=str(e.originator_id), party=e.liability, amount=str(e.loss.amount),
                   currency=e.loss.currency, rule=e.rule, type=type(e).__name__,
                   at=ts(e.occurred_at))

    @staticmethod
    def _assign(tx: Tx, e: Any, rule: str | None, keep_amount: bool) -> None:
        """A new party bears the loss; the amount stays the known loss, else the goods value."""
        parcel = header(tx, "liability_parcels", str(e.originator_id))
        amount_update = "" if keep_amount else (
            "amount = excluded.amount, currency = excluded.currency, basis = excluded.basis, ")
        tx.execute("INSERT INTO {p}liabilities AS cur VALUES (:id, :party, :amount, :currency, "
                   "'goods_value', :rule, :type, :at) ON CONFLICT (parcel_id) DO UPDATE SET "
                   f"party = excluded.party, {amount_update}"
                   "rule = COALESCE(excluded.rule, cur.rule), "
                   "event_type = excluded.event_type, occurred_at = excluded.occurred_at",
                   id=str(e.originator_id), party=e.liability, amount=parcel["goods_value"],
                   currency=parcel["currency"], rule=rule, type=type(e).__name__,
                   at=ts(e.occurred_at))
