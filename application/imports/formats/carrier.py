"""Carrier tracking checkpoints, in a tracking aggregator's vocabulary (AfterShip,
TrackingMore): what is common to them. A checkpoint is one scan: the carrier, the tracking
number, the scan's business time and its status (and sub-status).

What a scan means for the ledger (the same for every aggregator):
- a failed attempt (the carrier will try again) is a `delivery-attempts` (TT-7 counts them,
  the latest by business time is the last one, whatever order the scans arrive in);
- a final failure with its reason (refused, unreachable, bad address) is a
  `delivery-failures`, reported by the carrier;
- a delivery is a `deliveries`; on the return label's tracking number the same scan is the
  seller's receipt (`receipts`): the engine runs `on_return_leg` there;
- the sender got the parcel back ("returned to sender") is a `receipts`;
- movement, customs, pick-up points and delays are ignored: the ledger keeps outcomes.

The target is the tracking number on any platform (a carrier does not know the
marketplace). Source identity (the idempotency key): aggregator, carrier, tracking number,
the scan's time (as an instant, whatever zone it was written in) and its status and
sub-status, so the same scan in two exports, or pushed twice, applies once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from application.imports.formats.mapping import StatusTable, Step
from application.imports.formats.tabular import (
    BOM,
    Lines,
    Read,
    business_time,
    csv_records,
    identifier,
    json_documents,
    peeked,
    utc_key,
)
from application.imports.model import (
    Mapped,
    SourceRecord,
    Target,
    UnreadableRecordError,
)

# The steps a scan can stand for; their fixed bodies are the API's request fields.
DELIVERED = Step("deliveries", {}, on_return_leg="receipts")
RETURNED_TO_SENDER = Step("receipts", {"location": "seller", "received_by": "carrier"},
                          on_return_leg="receipts")
DESTROYED = Step("disposals", {"kind": "destroyed"})


def attempt(reason: str) -> Step:
    """A failed attempt: the carrier will try again (TT-7 counts it)."""
    return Step("delivery-attempts", {"reason": reason})


def failure(reason: str) -> Step:
    """The carrier gave up, for this reason (one of the API's failure reasons)."""
    return Step("delivery-failures", {"reason": reason, "reported_by": "carrier"})


# The canonical record every checkpoint format reads into.
FIELDS = ("carrier", "tracking_number", "checkpoint_time", "status", "substatus")


@dataclass
class CheckpointFormat:
    """A checkpoint vocabulary: its table, its CSV columns (canonical name -> the
    source's column) and how its pushed JSON lists the checkpoints."""

    name: str
    source: str
    table: StatusTable
    columns: dict[str, str]
    checkpoints: Callable[[Any], Iterator[dict[str, Any]]]
    belongs: Callable[[str, str], bool]

    def read(self, stream: IO[bytes]) -> Iterator[Read]:
        """A CSV of checkpoints (one a row), or the aggregator's pushed JSON (one delivery
        per line or one document): one record per checkpoint."""
        head, lines = peeked(stream)
        if head.removeprefix(BOM).lstrip().startswith((b"{", b"[")):
            yield from self._read_json(lines)
            return
        for record in csv_records(lines, self.columns.values()):
            if isinstance(record, SourceRecord):
                fields = {ours: record.fields.get(theirs, "")
                          for ours, theirs in self.columns.items()}
                yield SourceRecord(record.line_no, fields, record.raw)
            else:
                yield record

    def _read_json(self, stream: Lines) -> Iterator[Read]:
        for line_no, raw, parsed in json_documents(stream):
            if isinstance(parsed, UnreadableRecordError):
                yield line_no, raw, parsed
                continue
            try:
                found = list(self.checkpoints(parsed))
            except UnreadableRecordError as error:
                yield line_no, raw, error
                continue
            for index, fields in enumerate(found):
                # Every checkpoint of a delivery keeps the delivery's raw bytes: what the
                # ledger was told is the whole document; `checkpoint` says which one.
                yield SourceRecord(line_no, {**fields, "checkpoint": index}, raw)

    def map(self, record: SourceRecord) -> Mapped:
        """The commands one checkpoint stands for (pure: no clock, no ledger)."""
        fields = record.fields
        carrier = identifier(fields, "carrier")
        tracking = identifier(fields, "tracking_number")
        moment = business_time(fields.get("checkpoint_time"), "checkpoint_time")
        status = _text(fields, "status")
        substatus = _text(fields, "substatus", required=False)
        if substatus and not self.belongs(status, substatus):
            raise UnreadableRecordError(
                f"sub-status {substatus!r} does not belong to status {status!r}")
        row = self.table.row(substatus or status)
        key = f"{self.name}:{carrier}:{tracking}:{utc_key(moment)}:{status}:{substatus}"
        target = Target(tracking_number=tracking)
        return Mapped(key, f"{self.table.vocabulary}:{row.status}",
                      tuple(step.line(target, moment) for step in row.steps))


def _text(fields: dict[str, Any], name: str, required: bool = True) -> str:
    value = fields.get(name)
    if value is None or value == "":
        if required:
            raise UnreadableRecordError(f"{name} is missing")
        return ""
    if not isinstance(value, str):
        raise UnreadableRecordError(f"{name} must be a string")
    return value.strip()


def mapping_of(value: Any, what: str) -> dict[str, Any]:
    """A JSON object of a pushed document, or why the document is unreadable."""
    if not isinstance(value, dict):
        raise UnreadableRecordError(f"{what} must be a JSON object")
    return value
