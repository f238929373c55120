"""Amazon's merchant-fulfilled returns report: the flat file (tab separated) of
GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE, one return (RMA) a row.

Source: Amazon Selling Partner API, "Returns reports attributes"
(developer-docs.amazon.com/sp-api/docs/returns-reports-attributes) and the report type
values; the columns: Order ID, Order date, Return request date, Return request status,
Amazon RMA ID, Merchant RMA ID, Label type, Label cost, Currency code, Return carrier,
Tracking ID, Label to be paid by, A-to-Z Claim, Is prime, ASIN, Merchant SKU, Item Name,
Return quantity, Return Reason, In policy, Return type, Resolution, Invoice number, Return
delivery date, Order Amount, Order quantity, SafeT..., Refunded Amount.

A row is a snapshot of the return: its status and the dates it went through. It becomes one
record per stage of AM-1's flow it shows, each with its own source identity (the RMA, the
stage, its business time), so the next day's report, where the same RMA is further on,
applies only the new stages:

- request, at the Return request date: `return-requests`;
- approval (the seller authorised it; Amazon's report gives no time for it, so the request
  date is taken: an assumption): `routes`;
- label, when a Tracking ID is given: `return-labels` (Return carrier, Tracking ID);
- delivery back, when a Return delivery date is given: `receipts`.

Which stages a status shows is the mapping table (docs/IMPORT_MAPPINGS.md). Assumptions
written next to the fields:
- `seller_fault` (AM-2) is "Label to be paid by" = Seller: Amazon charges the label to the
  seller exactly when the return is the seller's fault; the label cost (with Currency
  code) is then the return shipping the refund includes;
- `outside_window_accepted` (AM-5): "In policy" = N on an authorised return means the
  seller authorised it explicitly (Amazon authorises only in-policy returns by itself);
- dates are RFC 3339 with a zone (the report's form); a date without a zone is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from application.imports.formats.mapping import Row, StatusTable, Step, ignore, rows
from application.imports.formats.marketplace import LABEL, REQUEST, ROUTE, receipt
from application.imports.formats.tabular import (
    Read,
    business_time,
    csv_records,
    identifier,
    utc_key,
)
from application.imports.model import (
    Mapped,
    SourceRecord,
    Target,
    UnmappedStatusError,
    UnreadableRecordError,
)
from domain.money import MINOR_UNITS

NAME = "amazon_returns"
SOURCE = "https://developer-docs.amazon.com/sp-api/docs/returns-reports-attributes"
COLUMNS = ("Order ID", "Return request date", "Return request status", "Amazon RMA ID")
RECEIPT = receipt("seller", "seller")

# The stages, in AM-1's order, and the step each one is.
STAGES: tuple[tuple[str, Step], ...] = (
    ("request", REQUEST), ("approval", ROUTE), ("label", LABEL), ("delivery", RECEIPT))
_ALL = tuple(step for _, step in STAGES)
_CONDITIONAL = ("the label only with a Tracking ID, the receipt only with a Return "
                "delivery date")

TABLE = StatusTable("Amazon returns report", SOURCE, rows([
    Row("Pending", "the buyer asked; the seller has not answered yet", (REQUEST,),
        "return_requested", "AM-5: the seller has 1 business day to answer"),
    Row("Approved", "the seller authorised the return", _ALL,
        "returning_to_seller (received when delivered back)",
        f"approval time = request time (none in the report); {_CONDITIONAL}"),
    Row("Authorized", "the seller authorised the return", _ALL,
        "returning_to_seller (received when delivered back)",
        f"as Approved; {_CONDITIONAL}"),
    Row("Closed", "the return is finished", _ALL, "received",
        f"as Approved: the dates say how far it went; {_CONDITIONAL}"),
    ignore("Rejected", "the seller declined the return",
           "the ledger has no command that undoes a return request: a declined request "
           "is not imported (the parcel keeps its status)"),
]))


def _stages(status: str) -> tuple[str, ...]:
    try:
        steps = TABLE.row(status).steps
    except UnmappedStatusError:
        return ("",)
    return tuple(name for name, step in STAGES if step in steps)


class AmazonReturnsReport:
    """Amazon's merchant-fulfilled returns report: a reader and a pure mapper."""

    name = NAME
    source = SOURCE
    tables = (TABLE,)

    def read(self, stream: IO[bytes]) -> Iterator[Read]:
        """One record per stage the row shows (a status the table does not know: one
        record, which the mapper reports unmapped)."""
        for record in csv_records(stream, COLUMNS, delimiter=None):
            if not isinstance(record, SourceRecord):
                yield record
                continue
            fields = record.fields
            for stage in _stages(fields.get("Return request status", "")):
                if stage == "label" and not fields.get("Tracking ID"):
                    continue
                if stage == "delivery" and not fields.get("Return delivery date"):
                    continue
                yield SourceRecord(record.line_no, {**fields, "stage": stage}, record.raw)

    def map(self, record: SourceRecord) -> Mapped:
        """The one command of a stage of a return (pure: no clock, no ledger)."""
        fields = record.fields
        rma = identifier(fields, "Amazon RMA ID")
        order_id = identifier(fields, "Order ID")
        status = fields.get("Return request status", "").strip()
        row = TABLE.row(status)
        stage = fields.get("stage", "")
        step = dict(STAGES).get(stage)
        if step is None or step not in row.steps:
            raise UnreadableRecordError(f"stage {stage!r} does not belong to {status!r}")
        requested = business_time(fields.get("Return request date"), "Return request date")
        moment = requested
        extra: dict[str, Any] = {}
        if stage == "request":
            extra = self._request(fields, rma, status)
        elif stage == "label":
            extra = {"carrier": _text(fields, "Return carrier") or "unknown",
                     "tracking_number": identifier(fields, "Tracking ID")}
        elif stage == "delivery":
            moment = business_time(fields.get("Return delivery date"),
                                   "Return delivery date")
        target = Target(platform="amazon", order_id=order_id)
        return Mapped(f"{NAME}:{rma}:{stage}:{utc_key(moment)}",
                      f"{TABLE.vocabulary}:{status}",
                      (step.line(target, moment, extra),))

    @staticmethod
    def _request(fields: dict[str, Any], rma: str, status: str) -> dict[str, Any]:
        payer = _text(fields, "Label to be paid by").lower()
        seller_fault = payer == "seller"  # AM-2: the seller pays the label when at fault
        body: dict[str, Any] = {"reason": _reason(fields, rma), "seller_fault": seller_fault}
        cost = _text(fields, "Label cost")
        if seller_fault and cost:
            body["return_shipping_cost"] = _money(cost, _text(fields, "Currency code"))
        in_policy = _text(fields, "In policy").upper()
        if status != "Pending" and in_policy in {"N", "NO", "FALSE"}:
            body["outside_window_accepted"] = True  # AM-5: the seller's explicit decision
        return body


def _text(fields: dict[str, Any], name: str) -> str:
    return str(fields.get(name) or "").strip()


def _reason(fields: dict[str, Any], rma: str) -> str:
    code = _text(fields, "Return Reason")
    # Amazon's reason codes (e.g. DEFECTIVE, UNWANTED_ITEM) are kept; free text is not.
    if code and code.replace("_", "").isalnum() and code.isascii() and len(code) <= 60:
        return f"Amazon return {rma}: {code}"
    return f"Amazon return {rma}"


def _money(amount: str, currency: str) -> dict[str, str]:
    try:
        value = Decimal(amount.replace(",", ""))
    except InvalidOperation:
        raise UnreadableRecordError(f"Label cost {amount!r} is not an amount") from None
    places = MINOR_UNITS.get(currency.upper())
    if places is None:
        raise UnreadableRecordError(f"Currency code {currency!r} is not an ISO 4217 code")
    return {"amount": f"{value:.{places}f}", "currency": currency.upper()}


FORMAT = AmazonReturnsReport()
