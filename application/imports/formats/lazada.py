"""Lazada reverse orders (returns): the reverse status (`reverse_status`), the reverse
fulfilment status (`ofc_status`) and the warehouse QC decision (`whqc_decision`) of each
reverse order line, and the reverse-order push (message_type 10).

Source: Lazada Open Platform, "Reverse order processing process" (REQUEST_INITIATE,
agreeReturn, confirmDelivery, agreeRefund), the push "Reverse order status update"
(message_type 10, its `reverse_status` keys), and the fields of GetReverseOrderDetail /
GetReverseOrdersForSeller as the open platform's SDKs type them (`reverse_status`,
`ofc_status`, `whqc_decision` "warehouse decision", e.g. `scrap`, `return_to_type`,
`return_order_line_gmt_create` / `_gmt_modified`, `tracking_number` of the return).

- JSON: the push body `{"message_type": 10, "data": {"reverse_order_id",
  "reverse_order_line_id", "trade_order_id", "reverse_status", "status_update_time"}}`,
  one document or one a line; any other message_type is unmapped.
- CSV: one reverse order line a row, the API's field names: `reverse_order_id`,
  `reverse_order_line_id`, `trade_order_id`, `request_type` (RETURN; CANCEL and
  ONLY_REFUND lines bring no parcel back and are ignored), `reverse_status`, and, when known,
  `ofc_status`, `whqc_decision`, `return_to_type`, `return_order_line_gmt_create`,
  `return_order_line_gmt_modified`, `seller_fault`. Assumption: our layout with the
  API's names.
- A line is a snapshot holding up to three statuses; each is a record of its own (source
  identity: the line id, which status field, its value), so exporting the same line again
  later, with one more status filled in, applies only what is new. The update time is the
  business time, not part of the identity: a line reaches each status once, and the push
  and the export of one change must name the same event.
- Business time: the push's `status_update_time`; in a line, the creation time for
  REQUEST_INITIATE and the modification time for the rest (the export has no time per
  status: an assumption). Unix seconds or milliseconds.
- Target: the trade order (`trade_order_id`) on Lazada.
- Assumptions: the request's reason is not in the push: `seller_fault` false unless the
  row says true; `return_to_type` has its own table (RTM, return to merchant, the reverse
  type of the push docs, or empty: the seller receives it; any other value is unmapped
  until read).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from application.imports.formats.mapping import Row, StatusTable, ignore, rows
from application.imports.formats.marketplace import (
    REQUEST,
    ROUTE,
    as_object,
    as_text,
    flag,
    inspection,
    platform_time,
    receipt,
    records,
)
from application.imports.formats.tabular import Read, identifier
from application.imports.model import (
    Mapped,
    SourceRecord,
    Target,
    UnmappedStatusError,
    UnreadableRecordError,
)

NAME = "lazada"
SOURCE = "https://open.lazada.com/apps/doc/doc?nodeId=29526&docId=121372"
REVERSE_ORDER_PUSH = 10
COLUMNS = ("reverse_order_id", "reverse_order_line_id", "trade_order_id", "request_type",
           "reverse_status")

_GAP = ("the ledger has no command that undoes a return request: the parcel stays "
        "return_requested until a person routes or closes it")
_MONEY = "money, not a parcel event: the settlement file's reversal lines reconcile it"
_CANCEL = ("a buyer's cancellation before shipping is the order's stage (LZ-3), not a "
           "parcel's return")
_REQUEST_NOTE = ("the buyer asked to return it; no reason in the record: seller_fault false "
                 "unless the row says true")

REVERSE_STATUS = StatusTable("Lazada reverse_status", SOURCE, rows([
    Row("REQUEST_INITIATE", "the buyer asked for a return", (REQUEST,), "return_requested",
        _REQUEST_NOTE),
    ignore("REQUEST_REJECT", "the seller rejected the request", _GAP),
    ignore("REFUND_SUCCESS", "the refund was made", _MONEY),
    ignore("CANCEL_SUCCESS", "a cancellation was approved", _CANCEL),
    ignore("CANCEL_INIT", "push: a cancellation was initiated", _CANCEL),
    ignore("CANCEL_REFUND_ISSUED", "push: the cancellation's refund was issued", _CANCEL),
    Row("RTM_INIT", "push: a return to the merchant was initiated", (REQUEST,),
        "return_requested", _REQUEST_NOTE),
    ignore("RTM_CANCELED", "push: the return request was cancelled", _GAP),
    Row("RTM_SHIPPING_BACK", "push: collected from the buyer, on its way back",
        (ROUTE,), "returning_to_seller",
        "collected means the seller agreed (agreeReturn): the ledger's route decides "
        "where it goes and who pays"),
    Row("RTM_RECEIVE_ITEM", "push: received at the seller's address", (receipt("seller",
        "seller"),), "received", "the seller has it back (confirmDelivery)"),
]))

OFC_STATUS = StatusTable("Lazada ofc_status", SOURCE, rows([
    ignore("INITIAL", "reverse fulfilment created", "nothing moved yet"),
    ignore("RETURN_CANCELED", "the reverse fulfilment was cancelled", _GAP),
    Row("RETURN_RTM_DELIVERED", "delivered back to the merchant",
        (receipt("seller", "seller"),), "received",
        "the seller has it back; needs the route first (RTM_SHIPPING_BACK or the QC's "
        "return_to_merchant)"),
    ignore("RETURN_RTC_DELIVERY_FAILED",
           "sent back to the customer after QC, and that delivery failed",
           "the ledger follows the seller's parcel, and the QC sent it to the buyer: no "
           "ledger command fits; a person decides"),
]))

WHQC_DECISION = StatusTable("Lazada whqc_decision", SOURCE, rows([
    Row("return_to_merchant", "the QC warehouse sends it on to the seller", (ROUTE,),
        "returning_to_seller", "the QC's decision to return it to the seller is the route"),
    ignore("return_to_customer", "the QC warehouse sends it back to the buyer",
           "the return was refused at QC and the item goes back to the buyer: no ledger "
           "command fits; a person decides"),
    Row("scrap", "the QC warehouse scraps it",
        (receipt("lazada_qc_warehouse", "lazada"), inspection("damaged", False)),
        "received", "assumption: scrapped at QC means received at Lazada's QC warehouse "
                    "and written off (damaged, not restocked); it never reaches the seller; "
                    "needs the route first (RTM_SHIPPING_BACK)"),
]))

# A reverse order's type (a line of the export says it; a push's keys are type-specific).
REQUEST_TYPE = StatusTable("Lazada request_type", SOURCE, rows([
    ignore("CANCEL", "the buyer cancelled an order not yet shipped", _CANCEL),
    ignore("ONLY_REFUND", "a refund without a return",
           "no parcel comes back: " + _MONEY),
]))
RETURN = "RETURN"  # the one type whose lines the three tables below map

TABLES = {"reverse_status": REVERSE_STATUS, "ofc_status": OFC_STATUS,
          "whqc_decision": WHQC_DECISION}

# Where a receipt of the reverse status or fulfilment tables takes place.
EMPTY = "(empty)"
RETURN_TO_TYPE = StatusTable("Lazada return_to_type", SOURCE, rows([
    Row("RTM", "return to merchant (the reverse type of the push docs)",
        (receipt("seller", "seller"),), "received", "the seller receives it"),
    Row(EMPTY, "not given", (receipt("seller", "seller"),), "received",
        "a return's receipt is the seller's unless the line says otherwise (a QC scrap "
        "has its own place: see whqc_decision)"),
]))


def _documents(document: Any) -> Iterator[dict[str, Any]]:
    body = as_object(document, "the push body")
    data = as_object(body.get("data"), "data")
    fields = {k: as_text(v) for k, v in data.items() if not isinstance(v, dict | list)}
    fields["message_type"] = as_text(body.get("message_type"))
    fields["status_field"] = "reverse_status"
    yield fields


class LazadaReverseOrders:
    """Lazada reverse order lines and pushes: a reader and a pure mapper."""

    name = NAME
    source = SOURCE
    tables = (REQUEST_TYPE, REVERSE_STATUS, OFC_STATUS, WHQC_DECISION, RETURN_TO_TYPE)

    def read(self, stream: IO[bytes]) -> Iterator[Read]:
        """A CSV row becomes one record per status field it fills (the QC decision before
        the fulfilment status: the route comes before the receipt); a push is one."""
        for record in records(stream, COLUMNS, _documents):
            if not isinstance(record, SourceRecord) or "status_field" in record.fields:
                yield record
                continue
            for name in ("reverse_status", "whqc_decision", "ofc_status"):
                if record.fields.get(name):
                    yield SourceRecord(record.line_no,
                                       {**record.fields, "status_field": name}, record.raw)

    def map(self, record: SourceRecord) -> Mapped:
        """The commands one status of a reverse order line stands for (pure)."""
        fields = record.fields
        kind = fields.get("message_type", "")
        if kind and kind != str(REVERSE_ORDER_PUSH):
            raise UnmappedStatusError(
                f"Lazada push message_type {kind} is not a reverse order update (10)")
        line_id = identifier(fields, "reverse_order_line_id")
        identifier(fields, "reverse_order_id")
        order_id = identifier(fields, "trade_order_id")
        field_name = fields.get("status_field", "reverse_status")
        if not kind:  # a line of the export: its reverse order's type decides first
            request_type = str(fields.get("request_type") or "").strip()
            if request_type != RETURN:
                row = REQUEST_TYPE.row(request_type)
                return Mapped(f"{NAME}:{line_id}:request_type:{request_type}",
                              f"{REQUEST_TYPE.vocabulary}:{row.status}")
        table = TABLES.get(field_name)
        if table is None:
            raise UnreadableRecordError(f"no status field {field_name!r}")
        status = str(fields.get(field_name) or "").strip()
        if not status:
            raise UnreadableRecordError(f"{field_name} is missing")
        row = table.row(status)
        moment = platform_time(self._time(fields, field_name, status), "time")
        target = Target(platform="lazada", order_id=order_id)
        rule = f"{table.vocabulary}:{status}"
        commands = []
        for step in row.steps:
            extra: dict[str, Any] | None = None
            if step.command == "return-requests":
                extra = {"reason": f"Lazada return {line_id}",
                         "seller_fault": flag(fields, "seller_fault")}
            elif step.command == "receipts" and field_name != "whqc_decision":
                place = RETURN_TO_TYPE.row(str(fields.get("return_to_type") or "").strip()
                                           or EMPTY)
                extra = dict(place.steps[0].body)
                rule += f"; {RETURN_TO_TYPE.vocabulary}:{place.status}"
            commands.append(step.line(target, moment, extra))
        return Mapped(f"{NAME}:{line_id}:{field_name}:{status}", rule, tuple(commands))

    @staticmethod
    def _time(fields: dict[str, Any], field_name: str, status: str) -> Any:
        if fields.get("status_update_time"):
            return fields["status_update_time"]
        if field_name == "reverse_status" and status == "REQUEST_INITIATE":
            return fields.get("return_order_line_gmt_create")
        return fields.get("return_order_line_gmt_modified")


FORMAT = LazadaReverseOrders()
