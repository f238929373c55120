"""AfterShip tracking checkpoints: its nine delivery statuses (`tag`) and their sub-statuses
(`subtag`), as a CSV of checkpoints or as the JSON its tracking webhook pushes.

Source: AfterShip Tracking API, "Delivery Statuses" and "Delivery Sub-statuses" enums
(aftership.com/docs/tracking/enum/delivery-statuses, .../delivery-sub-statuses), the
Checkpoint model and "Webhook Specifications"; the newer Exception sub-statuses from its
help centre article "Learn About Delivery Sub-Status".

- CSV: one checkpoint a row, the Checkpoint model's names: `slug` (the carrier),
  `tracking_number`, `checkpoint_time`, `tag`, `subtag` (may be empty). Assumption: this is
  our layout with AfterShip's field names; AfterShip's dashboard export names its columns
  for display and is not a documented format.
- JSON: the webhook body (`{"event": "tracking_update", "msg": {...tracking...}}`), one
  document, or one per line: every entry of `msg.checkpoints` is a record; a checkpoint
  without its own `slug` takes the tracking's.
- `checkpoint_time` must carry its zone: AfterShip documents it as the carrier's local
  time, which may come without one; such a checkpoint is unreadable, not guessed.
- A subtag must belong to its tag (`Exception_003` under `Exception`). A tag alone (no
  subtag) is mapped only where the tag decides by itself; `Exception` alone does not.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from application.imports.formats.carrier import (
    DELIVERED,
    DESTROYED,
    RETURNED_TO_SENDER,
    CheckpointFormat,
    attempt,
    failure,
    mapping_of,
)
from application.imports.formats.mapping import Row, StatusTable, ignore, rows
from application.imports.model import UnreadableRecordError

NAME = "aftership"
SOURCE = "https://www.aftership.com/docs/tracking/enum/delivery-sub-statuses"

_MOVING = "movement before the last mile: the ledger records outcomes, not the journey"
_DELAY = "a delay is no outcome: the carrier's next scan (delivered, attempt, failure) is"


def _delivered(status: str, meaning: str) -> Row:
    return Row(status, meaning, (DELIVERED,), "delivered (on the return label: received)",
               "on the return label's tracking number the delivery is the seller's "
               "receipt")


def _attempt(status: str, meaning: str) -> Row:
    return Row(status, meaning, (attempt(f"AfterShip {status}: {meaning.lower()}"),),
               "unchanged, one more failed attempt (TT-7)",
               "the carrier tries again; the latest attempt by business time counts (TT-7)")


def _failed(status: str, meaning: str, reason: str, note: str) -> Row:
    return Row(status, meaning, (failure(reason),), "delivery_failed", note)


TABLE = StatusTable("AfterShip", SOURCE, rows(
    [ignore("Pending", "new, not yet tracked", "no scan yet")],
    [ignore(f"Pending_00{n}", "pending tracking information", "no scan yet")
     for n in range(1, 7)],
    [ignore("InfoReceived", "the carrier has the shipper's request", _MOVING),
     ignore("InfoReceived_001", "info received", _MOVING),
     ignore("InTransit", "on the way", _MOVING)],
    [ignore(f"InTransit_00{n}", "in transit (scan detail)", _MOVING) for n in range(1, 10)],
    [ignore("OutForDelivery", "out for delivery", "not yet an outcome"),
     ignore("OutForDelivery_001", "out for delivery", "not yet an outcome"),
     ignore("OutForDelivery_003", "the customer is contacted before delivery",
            "not yet an outcome"),
     ignore("OutForDelivery_004", "the delivery is being rescheduled", "not yet an outcome"),
     ignore("AvailableForPickup", "at a pick-up point", "not yet an outcome: the pick-up "
            "(Delivered_002) or a missed pick-up (Exception_008) is"),
     ignore("AvailableForPickup_001", "at a pick-up point", "not yet an outcome"),
     _attempt("AttemptFail", "Failed attempt"),
     _attempt("AttemptFail_001", "Failed attempt, a notice left"),
     _attempt("AttemptFail_002", "Addressee not available"),
     _attempt("AttemptFail_003", "Business closed"),
     _delivered("Delivered", "delivered"),
     _delivered("Delivered_001", "delivered"),
     _delivered("Delivered_002", "picked up by the customer"),
     _delivered("Delivered_003", "signed by the customer"),
     _delivered("Delivered_004", "delivered, cash on delivery collected"),
     _delivered("Delivered_005", "delivered to a neighbour"),
     _failed("Exception_001", "delivery failed: a shipping exception", "other",
             "AfterShip says the delivery failed, without a reason: reason other"),
     _failed("Exception_002", "customer moved", "unreachable",
             "the buyer is not at the address any more: unreachable"),
     _failed("Exception_003", "customer refused delivery", "refused", "the buyer refused"),
     ignore("Exception_004", "delayed (customs clearance)", _DELAY),
     ignore("Exception_005", "delayed (external factors)", _DELAY),
     ignore("Exception_006", "held for payment", _DELAY),
     _failed("Exception_007", "incorrect address", "bad_address", "the address is wrong"),
     _failed("Exception_008", "pick-up missed", "unreachable",
             "the buyer did not collect it: unreachable"),
     _failed("Exception_009", "rejected by the carrier", "other",
             "the carrier will not deliver it: reason other"),
     _failed("Exception_010", "returning to sender", "other",
             "the carrier gave up and sends it back; the ledger's route decides where it "
             "goes; after an earlier failure scan the engine reports the ledger's "
             "problem (already failed): it waits, late once the parcel is routed"),
     Row("Exception_011", "returned to sender: received by the sender",
         (RETURNED_TO_SENDER,), "received",
         "the sender has it back: the seller's receipt (needs the route first)"),
     ignore("Exception_012", "shipment damaged",
            "damage in transit is no delivery outcome; the inspection records the "
            "condition"),
     ignore("Exception_013", "shipment lost",
            "a lost parcel is a liability question for an investigation, opened by a "
            "person, not a failure the ledger could route"),
     ignore("Exception_016", "delayed (processing issue)", _DELAY),
     ignore("Exception_017", "delayed (extreme weather)", _DELAY),
     ignore("Exception_018", "incorrect or missing documents", _DELAY),
     ignore("Exception_019", "delayed (late flight)", _DELAY),
     ignore("Exception_020", "shipment cancelled by the sender or carrier",
            "a cancelled shipment is corrected by the seller (RL-2 void), not by a scan"),
     Row("Exception_021", "shipment disposed (destroyed or discarded)", (DESTROYED,),
         "destroyed", "the warehouse's disposal; the rules decide whether it may "
                      "(after the TT-2 hold, or a TT-5 failed return)"),
     ignore("Expired", "no tracking information for 30 days", "no outcome"),
     ignore("Expired_001", "no tracking information for 30 days", "no outcome")],
))


def _belongs(tag: str, subtag: str) -> bool:
    return subtag.split("_", 1)[0] == tag


def _checkpoints(document: Any) -> Iterator[dict[str, Any]]:
    body = mapping_of(document, "the webhook body")
    msg = mapping_of(body.get("msg"), "msg")
    points = msg.get("checkpoints")
    if not isinstance(points, list):
        raise UnreadableRecordError("msg.checkpoints must be a list")
    for point in points:
        point = mapping_of(point, "a checkpoint")
        yield {"carrier": point.get("slug") or msg.get("slug"),
               "tracking_number": msg.get("tracking_number"),
               "checkpoint_time": point.get("checkpoint_time"),
               "status": point.get("tag"), "substatus": point.get("subtag") or ""}


FORMAT = CheckpointFormat(
    NAME, SOURCE, TABLE,
    {"carrier": "slug", "tracking_number": "tracking_number",
     "checkpoint_time": "checkpoint_time", "status": "tag", "substatus": "subtag"},
    _checkpoints, _belongs)
