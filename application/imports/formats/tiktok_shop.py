"""TikTok Shop returns: the return statuses of its Return & Refund API (`return_status`) and
its `RETURN_STATUS_CHANGE` webhook (type 12).

Source: TikTok Shop Partner Center, Return & Refund API (Search Returns, Approve / Reject
Return and their decisions) and the webhook "Return status change"; the status list as the
Node.js SDK of the Partner API types it (`return_status` of Create Return 202309).

- JSON: the webhook body `{"type": 12, "shop_id", "timestamp", "data": {"order_id",
  "return_id", "return_role", "return_type", "return_status", "create_time",
  "update_time"}}`, one document or one a line; any other `type` is unmapped.
- CSV: one return status a row with the same fields: `return_id`, `order_id`,
  `return_type`, `return_status`, `update_time` (Unix seconds or RFC 3339 with a zone),
  optional `seller_fault`. Assumption: our layout with the API's field names (the seller
  centre's own export is not a documented format).
- Target: the platform order (`order_id`) on TikTok Shop.
- Source identity: `return_id` + `return_status` + `update_time`.
- Assumption: the webhook carries no reason, so a request is recorded with the buyer's
  reason (`seller_fault` false) unless the row says `seller_fault` true.
- `return_type` REFUND (a refund without a return) changes no parcel state: money only;
  REPLACEMENT and any other type are unmapped.
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
from application.imports.formats.tabular import Read, identifier, utc_key
from application.imports.model import (
    Mapped,
    SourceRecord,
    Target,
    UnmappedStatusError,
    UnreadableRecordError,
)

NAME = "tiktok_shop"
SOURCE = "https://partner.tiktokshop.com/docv2/page/return-refund-and-cancel-api-overview"
RETURN_STATUS_CHANGE = 12
COLUMNS = ("return_id", "order_id", "return_type", "return_status", "update_time")

_GAP = ("the ledger has no command that undoes a return request: the parcel stays "
        "return_requested until a person routes or closes it")
_MONEY = "money, not a parcel event: the settlement file's refund lines reconcile it"

TABLE = StatusTable("TikTok Shop (return and refund)", SOURCE, rows([
    Row("RETURN_OR_REFUND_REQUEST_PENDING", "the buyer asked to return and be refunded",
        (REQUEST,), "return_requested",
        "no reason in the webhook: seller_fault false (buyer's reason) unless the row "
        "says true"),
    ignore("REFUND_OR_RETURN_REQUEST_REJECT", "the seller rejected the request", _GAP),
    Row("AWAITING_BUYER_SHIP", "the seller approved: the buyer is to ship it back",
        (ROUTE,), "returning_to_seller",
        "the seller's approval is the route; the ledger decides the destination and payer. "
        "Today its TikTok Shop rules route only a failed delivery (TT-1): for a buyer's "
        "return after delivery the route is refused with TT-1 and reported so"),
    ignore("BUYER_SHIPPED_ITEM", "the buyer handed it to the carrier",
           "the way back: the return's carrier scans and the receipt record it"),
    Row("REJECT_RECEIVE_PACKAGE", "the seller received the parcel and rejected it",
        (receipt("seller", "seller"),), "received",
        "it reached the seller; the condition is not in the record: a person records the "
        "inspection (needs the route: see AWAITING_BUYER_SHIP)"),
    Row("RETURN_OR_REFUND_REQUEST_SUCCESS",
        "the seller confirmed the parcel received and passed inspection",
        (receipt("seller", "seller"), inspection("resellable", None)), "received",
        "APPROVE_RECEIVED_PACKAGE: received, and inspected as resellable (restock left to "
        "the seller); needs the route (see AWAITING_BUYER_SHIP)"),
    ignore("RETURN_OR_REFUND_REQUEST_CANCEL", "the buyer cancelled the request", _GAP),
    ignore("RETURN_OR_REFUND_REQUEST_COMPLETE", "the platform paid the refund out", _MONEY),
]))

REFUND_ONLY = StatusTable("TikTok Shop (refund only)", SOURCE, rows([
    ignore(status, meaning, _MONEY) for status, meaning in (
        ("RETURN_OR_REFUND_REQUEST_PENDING", "the buyer asked for a refund"),
        ("REFUND_OR_RETURN_REQUEST_REJECT", "the seller rejected it"),
        ("RETURN_OR_REFUND_REQUEST_SUCCESS", "the refund was approved"),
        ("RETURN_OR_REFUND_REQUEST_CANCEL", "the buyer cancelled it"),
        ("RETURN_OR_REFUND_REQUEST_COMPLETE", "the refund was paid out"))
]))

TABLES = {"RETURN_AND_REFUND": TABLE, "REFUND": REFUND_ONLY}


def _documents(document: Any) -> Iterator[dict[str, Any]]:
    body = as_object(document, "the webhook body")
    kind = body.get("type")
    data = as_object(body.get("data"), "data")
    yield {"webhook_type": as_text(kind), **{k: as_text(v) if k != "seller_fault" else v
                                             for k, v in data.items()}}


class TikTokShopReturns:
    """TikTok Shop return status changes: a reader and a pure mapper."""

    name = NAME
    source = SOURCE
    tables = (TABLE, REFUND_ONLY)

    def read(self, stream: IO[bytes]) -> Iterator[Read]:
        """A CSV of return statuses, or pushed webhooks (one document, or one a line)."""
        yield from records(stream, COLUMNS, _documents)

    def map(self, record: SourceRecord) -> Mapped:
        """The commands one return status change stands for (pure)."""
        fields = record.fields
        kind = fields.get("webhook_type", "")
        if kind and kind != str(RETURN_STATUS_CHANGE):
            raise UnmappedStatusError(
                f"TikTok Shop webhook type {kind} is not a return status change (12)")
        return_id = identifier(fields, "return_id")
        order_id = identifier(fields, "order_id")
        status = str(fields.get("return_status") or "").strip()
        if not status:
            raise UnreadableRecordError("return_status is missing")
        return_type = str(fields.get("return_type") or "RETURN_AND_REFUND").strip()
        table = TABLES.get(return_type)
        if table is None:
            raise UnmappedStatusError(
                f"TikTok Shop return_type {return_type!r} is not in the mapping table")
        row = table.row(status)
        moment = platform_time(fields.get("update_time"), "update_time")
        target = Target(platform="tiktok_shop", order_id=order_id)
        extra = {"reason": f"TikTok Shop return {return_id}",
                 "seller_fault": flag(fields, "seller_fault")}
        commands = tuple(step.line(target, moment, extra if step.command ==
                                   "return-requests" else None) for step in row.steps)
        return Mapped(f"{NAME}:{return_id}:{status}:{utc_key(moment)}",
                      f"{table.vocabulary}:{status}", commands)


FORMAT = TikTokShopReturns()
