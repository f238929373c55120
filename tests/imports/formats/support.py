"""Records for the format tests: one record per row of a mapping table, built the way each
source writes it, and the API's request schema of each command."""

from __future__ import annotations

import io
import re
from typing import Any

from application.imports.formats import (
    aftership,
    amazon_returns,
    lazada,
    tiktok_shop,
    trackingmore,
)
from application.imports.formats.mapping import Row, StatusTable
from application.imports.model import Format, Mapped, SourceRecord
from interfaces.api import schemas

# The request schema of every command a mapping may ask for (the API's own).
SCHEMAS = {
    "delivery-attempts": schemas.RecordDeliveryAttemptRequest,
    "delivery-failures": schemas.RecordDeliveryFailureRequest,
    "deliveries": schemas.RecordDeliveryRequest,
    "return-requests": schemas.RequestReturnRequest,
    "routes": schemas.RouteReturnRequest,
    "return-labels": schemas.IssueReturnLabelRequest,
    "receipts": schemas.RecordReceiptRequest,
    "inspections": schemas.RecordInspectionRequest,
    "disposals": schemas.DisposeParcelRequest,
}

T0 = "2026-03-04T10:00:00+08:00"
T1 = "2026-03-09T15:30:00+08:00"


def records_for(table: StatusTable, row: Row) -> tuple[Format, list[SourceRecord]]:
    """The format of a table and the record(s) its row stands for."""
    status = row.status
    if table is aftership.TABLE:
        tag, _, _ = status.partition("_")
        return aftership.FORMAT, [SourceRecord(2, {
            "carrier": "jt-express", "tracking_number": "JTMY0001", "checkpoint_time": T0,
            "status": tag, "substatus": status if "_" in status else ""}, b"raw")]
    if table is trackingmore.TABLE:
        match = re.fullmatch(r"([a-z]+)(\d*)", status)
        assert match is not None
        return trackingmore.FORMAT, [SourceRecord(2, {
            "carrier": "jtexpress-my", "tracking_number": "JTMY0001", "checkpoint_time": T0,
            "status": match.group(1), "substatus": status if match.group(2) else ""}, b"raw")]
    if table in tiktok_shop.FORMAT.tables:
        kind = "REFUND" if table is tiktok_shop.REFUND_ONLY else "RETURN_AND_REFUND"
        return tiktok_shop.FORMAT, [SourceRecord(2, {
            "return_id": "4035633475056536357", "order_id": "576461413038785752",
            "return_type": kind, "return_status": status, "update_time": "1772589600"},
            b"raw")]
    if table is lazada.REQUEST_TYPE:
        return lazada.FORMAT, [SourceRecord(2, {
            "reverse_order_id": "505789557356631", "reverse_order_line_id": "663790000102006",
            "trade_order_id": "416557324702006", "request_type": status,
            "reverse_status": "REQUEST_INITIATE", "status_field": "reverse_status",
            "return_order_line_gmt_create": "1772589600"}, b"raw")]
    if table is lazada.RETURN_TO_TYPE:
        return lazada.FORMAT, [SourceRecord(2, {
            "reverse_order_id": "505789557356631", "reverse_order_line_id": "663790000102006",
            "trade_order_id": "416557324702006", "request_type": "RETURN",
            "reverse_status": "RTM_RECEIVE_ITEM", "status_field": "reverse_status",
            "return_to_type": "" if status == lazada.EMPTY else status,
            "return_order_line_gmt_modified": "1773041400"}, b"raw")]
    if table in lazada.FORMAT.tables:
        field = {lazada.REVERSE_STATUS: "reverse_status", lazada.OFC_STATUS: "ofc_status",
                 lazada.WHQC_DECISION: "whqc_decision"}[table]
        return lazada.FORMAT, [SourceRecord(2, {
            "reverse_order_id": "505789557356631", "reverse_order_line_id": "663790000102006",
            "trade_order_id": "416557324702006", "request_type": "RETURN", field: status,
            "status_field": field,
            "return_order_line_gmt_create": "1772589600",
            "return_order_line_gmt_modified": "1773041400"}, b"raw")]
    assert table is amazon_returns.TABLE
    header = ("Order ID\tOrder date\tReturn request date\tReturn request status\t"
              "Amazon RMA ID\tReturn carrier\tTracking ID\tLabel to be paid by\t"
              "Label cost\tCurrency code\tReturn Reason\tIn policy\tReturn delivery date")
    line = (f"403-1234567-7654321\t2026-02-20T09:00:00+00:00\t2026-03-04T02:00:00+00:00\t"
            f"{status}\tDXyzRMA01\tUPS\t1Z999AA10123456784\tSeller\t7.50\tUSD\tDEFECTIVE\tY\t"
            "2026-03-09T07:30:00+00:00")
    found = list(amazon_returns.FORMAT.read(io.BytesIO(f"{header}\n{line}\n".encode())))
    assert all(isinstance(r, SourceRecord) for r in found)
    return amazon_returns.FORMAT, [r for r in found if isinstance(r, SourceRecord)]


def load(command: str, body: dict[str, Any]) -> dict[str, Any]:
    """The body as the API's request schema loads it (a 422 raises)."""
    return SCHEMAS[command]().load(body)


def mapped(format_: Format, records: list[SourceRecord]) -> list[Mapped]:
    return [format_.map(r) for r in records]
