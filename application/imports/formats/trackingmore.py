"""TrackingMore tracking checkpoints (API v4): its statuses (`delivery_status`) and
sub-statuses (`substatus`), as a CSV of checkpoints or as the JSON its webhook pushes.

Source: TrackingMore "logistics status" (trackingmore.com/docs/logistics_status.php), its
help centre's "9 Main Statuses & Sub-Statuses of Shipments" and its v4 webhook pages.

- CSV: one checkpoint a row, the v4 tracking fields: `courier_code`, `tracking_number`,
  `checkpoint_date`, `checkpoint_delivery_status`, `checkpoint_delivery_substatus` (may be
  empty). Assumption: our layout with TrackingMore's field names.
- JSON: the v4 webhook body (`{"code": 200, "data": {...tracking...}}`): every entry of
  `data.origin_info.trackinfo` and `data.destination_info.trackinfo` is a record (the same
  scan in both lists is one source identity, so it applies once).
- The sub-statuses mapped are the ones TrackingMore documents (`exception004` to
  `exception011`); another code (an `exception012` tomorrow) is unmapped until it is read
  and added here.
- Assumption: `exception010` ("returned to sender") is the sender having it back and
  `exception011` ("returning to sender") the way back, as the Chinese page says
  (包裹已退回 / 包裹正在退回途中).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from application.imports.formats.carrier import (
    DELIVERED,
    RETURNED_TO_SENDER,
    CheckpointFormat,
    attempt,
    failure,
    mapping_of,
)
from application.imports.formats.mapping import Row, StatusTable, ignore, rows
from application.imports.model import UnreadableRecordError

NAME = "trackingmore"
SOURCE = "https://www.trackingmore.com/docs/logistics_status.php"

_MOVING = "movement before the last mile: the ledger records outcomes, not the journey"
_RECEIPT = "on the return label's tracking number the delivery is the seller's receipt"


def _attempt(status: str, meaning: str) -> Row:
    return Row(status, meaning, (attempt(f"TrackingMore {status}: {meaning}"),),
               "unchanged, one more failed attempt (TT-7)",
               "TrackingMore's failed attempt: the carrier will try again (TT-7 counts it)")


TABLE = StatusTable("TrackingMore", SOURCE, rows(
    [ignore("pending", "new, not yet tracked", "no scan yet"),
     ignore("notfound", "no tracking information yet", "no scan yet"),
     ignore("notfound001", "info received, about to be picked up", "no scan yet"),
     ignore("notfound002", "no tracking information", "no scan yet"),
     ignore("inforeceived", "the carrier has the package info", _MOVING),
     ignore("inforeceived001", "waiting for the carrier to pick it up", _MOVING),
     ignore("transit", "in transit", _MOVING)],
    [ignore(f"transit00{n}", "in transit (scan detail)", _MOVING) for n in range(1, 8)],
    [ignore("pickup", "out for delivery or at a pick-up point", "not yet an outcome"),
     ignore("pickup001", "out for delivery", "not yet an outcome"),
     ignore("pickup002", "ready for collection", "not yet an outcome"),
     ignore("pickup003", "the customer is contacted before delivery", "not yet an outcome"),
     _attempt("undelivered", "failed attempt"),
     _attempt("undelivered001", "address-related issue"),
     _attempt("undelivered002", "receiver not home"),
     _attempt("undelivered003", "receiver cannot be reached"),
     _attempt("undelivered004", "undelivered, other reason"),
     Row("delivered", "delivered", (DELIVERED,), "delivered (on the return label: received)",
         _RECEIPT)],
    [Row(f"delivered00{n}", meaning, (DELIVERED,),
         "delivered (on the return label: received)", _RECEIPT)
     for n, meaning in ((1, "delivered"), (2, "picked up by the addressee"),
                        (3, "signed by the customer"),
                        (4, "left at the door or with a neighbour"))],
    [Row("exception004", "unclaimed", (failure("unreachable"),), "delivery_failed",
         "nobody collected it: unreachable"),
     ignore("exception005", "delivery exception (an abnormal item)",
            "not yet an outcome: TrackingMore's next sub-status (refused, returned) is"),
     ignore("exception006", "retained by customs (prohibited goods)",
            "a customs hold is no delivery outcome; what happens to it next is"),
     ignore("exception007", "damaged, lost or discarded",
            "one code for three outcomes: the ledger does not guess which; a person opens "
            "the investigation"),
     ignore("exception008", "cancelled before delivery",
            "a cancelled shipment is corrected by the seller (RL-2 void), not by a scan"),
     Row("exception009", "refused by the recipient", (failure("refused"),),
         "delivery_failed", "the buyer refused"),
     Row("exception010", "returned to sender", (RETURNED_TO_SENDER,), "received",
         "the sender has it back: the seller's receipt (needs the route first)"),
     Row("exception011", "returning to sender", (failure("other"),), "delivery_failed",
         "the carrier gave up and sends it back, reason unknown: other; after an earlier "
         "failure scan the engine reports the ledger's problem (already failed): it "
         "waits, late once the parcel is routed"),
     ignore("expired", "in transit too long without an outcome", "no outcome")],
))


def _belongs(status: str, substatus: str) -> bool:
    compact = substatus.replace(" ", "")
    return compact.startswith(status) and compact[len(status):].isdigit()


def _checkpoints(document: Any) -> Iterator[dict[str, Any]]:
    body = mapping_of(document, "the webhook body")
    data = mapping_of(body.get("data"), "data")
    found = False
    for leg in ("origin_info", "destination_info"):
        info = data.get(leg)
        if info is None:
            continue
        points = mapping_of(info, leg).get("trackinfo") or []
        if not isinstance(points, list):
            raise UnreadableRecordError(f"data.{leg}.trackinfo must be a list")
        for point in points:
            point = mapping_of(point, "a trackinfo entry")
            found = True
            yield {"carrier": data.get("courier_code"),
                   "tracking_number": data.get("tracking_number"),
                   "checkpoint_time": point.get("checkpoint_date"),
                   "status": point.get("checkpoint_delivery_status"),
                   "substatus": point.get("checkpoint_delivery_substatus") or ""}
    if not found and "tracking_number" not in data:
        raise UnreadableRecordError("data has no tracking_number and no trackinfo")


FORMAT = CheckpointFormat(
    NAME, SOURCE, TABLE,
    {"carrier": "courier_code", "tracking_number": "tracking_number",
     "checkpoint_time": "checkpoint_date", "status": "checkpoint_delivery_status",
     "substatus": "checkpoint_delivery_substatus"},
    _checkpoints, _belongs)
