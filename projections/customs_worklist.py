"""LZ-2: the returns whose SKUs lack customs information, in the deadlines view.

A Lazada return routed while some of its SKUs had no customs profile opens one row per
(parcel, SKU) in `customs_worklist` (the seller ERP's "補充清關信息" page). Setting that
SKU's profile clears the SKU's rows for every parcel of the seller; the parcel's receipt
or end clears its own rows (nothing more is cleared on the way back). A correction of the
lines of a parcel on the list (routed, not received) lists its new SKUs that lack customs
data, as the domain found them: SKUs no longer in the lines leave, new ones are listed
from the correction's time (RL-2).
"""

from __future__ import annotations

from typing import Any

from domain.customs import SkuCustomsProfile
from domain.parcel import ReturnParcel as P
from infrastructure.view_store import Tx, parse_ts, ts
from projections.base import header

TABLE = "customs_worklist"
DDL = ("CREATE TABLE IF NOT EXISTS {p}customs_worklist (parcel_id TEXT NOT NULL, "
       "sku TEXT NOT NULL, seller_id TEXT NOT NULL, order_id TEXT NOT NULL, "
       "tracking_number TEXT, routed_at TEXT NOT NULL, PRIMARY KEY (parcel_id, sku))",
       "CREATE INDEX IF NOT EXISTS customs_worklist_sku ON {p}customs_worklist "
       "(seller_id, sku)")
PROFILE_EVENTS = (SkuCustomsProfile.CustomsProfileSet,)
PARCEL_EVENTS = (P.ReturnRouted, P.Received, P.Destroyed, P.Abandoned, P.ParcelClosed,
                 P.FieldCorrected)


def handle(event: Any, tx: Tx, headers: str) -> None:
    """Open a parcel's missing SKUs when it is routed; clear them as profiles are set."""
    if isinstance(event, SkuCustomsProfile.CustomsProfileSet):
        tx.execute("DELETE FROM {p}customs_worklist WHERE seller_id = :seller AND sku = :sku",
                   seller=event.seller_id, sku=event.sku)
        return
    parcel_id = str(event.originator_id)
    if isinstance(event, P.FieldCorrected):
        _corrected(event, tx, headers, parcel_id)
        return
    if not isinstance(event, P.ReturnRouted):
        tx.execute("DELETE FROM {p}customs_worklist WHERE parcel_id = :id", id=parcel_id)
        return
    missing = [sku for sku in event.facts.get("customs_info_missing_skus", "").split(",") if sku]
    if not missing:
        return
    _list(tx, headers, parcel_id, missing, event.occurred_at)


def _corrected(event: Any, tx: Tx, headers: str, parcel_id: str) -> None:
    """Corrected lines on a listed return: its rows are the SKUs the correction found
    missing (the key is there only while the return's list is in force)."""
    if event.field != "lines" or "customs_info_missing_skus" not in event.facts:
        return
    missing = [sku for sku in event.facts["customs_info_missing_skus"].split(",") if sku]
    listed = {f"k{i}": sku for i, sku in enumerate(missing)}
    keep = f" AND sku NOT IN ({', '.join(':' + k for k in listed)})" if listed else ""
    tx.execute(f"DELETE FROM {{p}}customs_worklist WHERE parcel_id = :id{keep}",
               id=parcel_id, **listed)
    _list(tx, headers, parcel_id, missing, event.occurred_at)


def _list(tx: Tx, headers: str, parcel_id: str, missing: list[str], at: Any) -> None:
    if not missing:
        return
    row = header(tx, headers, parcel_id)
    for sku in missing:
        tx.execute("INSERT INTO {p}customs_worklist VALUES (:id, :sku, :seller, :order_id, "
                   ":tracking, :at) ON CONFLICT (parcel_id, sku) DO NOTHING", id=parcel_id,
                   sku=sku, seller=row["seller_id"], order_id=row["order_id"],
                   tracking=row["tracking_number"], at=ts(at))


def rows(view: Any, sellers: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """The returns needing customs data, one row per parcel and SKU, oldest first."""
    where, params = "", {}
    if sellers is not None:
        names = {f"s{i}": seller for i, seller in enumerate(sellers)}
        where = (f" WHERE seller_id IN ({', '.join(':' + n for n in names)})" if names
                 else " WHERE 1 = 0")
        params.update(names)
    with view.reading() as tx:
        found = tx.all(f"SELECT * FROM {{p}}customs_worklist{where} "
                       "ORDER BY routed_at, parcel_id, sku", **params)
    for row in found:
        at = parse_ts(row["routed_at"])
        row["routed_at"] = at.isoformat() if at else None
        row["rule"] = "LZ-2"
    return found
