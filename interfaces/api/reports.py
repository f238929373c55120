"""Reports from the views (LZ-4 and the rest), JSON or CSV (Accept: text/csv or ?format=csv).

Parcels by registration date range (at most 30 days per request, LZ-4), by a list of tracking
numbers, or by an uploaded CSV of them; free returns (TT-3/TT-5), holds and deadlines (TT-2,
TT-7, AM-4, TT-5/TT-6 tickets) and liabilities. A key sees its own seller's rows only.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Response, request
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from application.csv_export import csv_lines
from domain.values import Party, Platform, Status
from interfaces.api.auth import READ, requires
from interfaces.api.fields import COUNTRY, MAX_INT, Choice, Text, When
from interfaces.api.json_body import Blueprint
from interfaces.api.ledger import ledger
from interfaces.api.problems import problem
from interfaces.api.views import freshness, scope, view, wants_csv
from projections.tracking import ParcelQuery

blp = Blueprint("reports", __name__, url_prefix="/v1/reports",
                description="Tracking reports (LZ-4), free returns, deadlines, liabilities")
MAX_RANGE = timedelta(days=30)  # LZ-4: at most 30 days per request
MAX_NUMBERS, MAX_UPLOADED = 1000, 10_000
UPLOAD_PATH = "/v1/reports/parcels/upload"
PARCEL_COLUMNS = ("parcel_id", "platform", "site", "seller_id", "store_id", "order_id",
                  "tracking_number", "status", "last_event_type", "last_event_at",
                  "destination", "free_return", "hold_until", "registered_at", "version")
CSV = {"responses": {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}}


class Report(Schema):
    position = fields.Integer()
    caught_up = fields.Boolean()
    items = fields.List(fields.Dict())
    totals = fields.List(fields.Dict())
    missing = fields.List(fields.String())


class ReportQuery(Schema):
    min_position = fields.Integer(validate=validate.Range(min=1, max=MAX_INT))
    seller_id = Text()
    format = fields.String(validate=validate.OneOf(["json", "csv"]))


class ParcelReportQuery(ReportQuery):
    registered_from = When()
    registered_to = When()
    tracking_numbers = fields.String(metadata={"description": "comma-separated"})
    platform = Choice(Platform)
    site = fields.String(validate=COUNTRY)
    status = Choice(Status)


class FreeReturnQuery(ReportQuery):
    site = fields.String(validate=COUNTRY)
    outcome = fields.String(validate=validate.OneOf(["in_transit", "received", "failed"]))


class DeadlinesQuery(ReportQuery):
    now = When(metadata={"description": "when holds expire and returns are overdue; "
                                        "default: the current time"})
    list = fields.String(validate=validate.OneOf(
        ["holds", "expired_holds", "overdue_returns", "pending_refunds",
         "open_investigations", "order_deadlines", "customs_work_list"]),
        metadata={"description": "one list only (needed for CSV)"})


class LiabilitiesQuery(ReportQuery):
    party = Choice(Party)


def flat(row: dict[str, Any]) -> dict[str, Any]:
    """Money {"amount", "currency"} as two columns; the timeline left out of CSV."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict) and set(value) == {"amount", "currency"}:
            out[key], out["currency"] = value["amount"], value["currency"]
        elif not isinstance(value, (list, dict)):
            out[key] = value
    return out


def csv_response(rows: Iterable[dict[str, Any]], name: str,
                 columns: tuple[str, ...] | None = None) -> Response:
    """CSV through the one writer every export uses (RFC 4180, no evaluated cells)."""
    def lines() -> Iterator[str]:
        flat_rows = (flat(row) for row in rows)
        first = next(flat_rows, None)
        header = columns or tuple(first or ())
        if not header:
            return
        yield from csv_lines(itertools.chain([first] if first else [], flat_rows), header)
    return Response(lines(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


def named(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """AM-4's waiting refunds with the requester's person, key label and key id."""
    names = ledger().actor_names()
    return [{**row, **names(row.get("requested_by")).columns("requested_by")}
            for row in rows]


def answer(name: str, items: list[dict[str, Any]], caught_up: bool, **more: Any) -> Any:
    if wants_csv():
        return csv_response(items, name.replace("_", "-"),
                            PARCEL_COLUMNS if name == "parcels" else None)
    return {"position": view(name if name != "parcels" else "tracking").max_tracking_id(
        "ReturnsLedger") or 0, "caught_up": caught_up, "items": items, **more}


def parcels(query: dict[str, Any], numbers: list[str] | None) -> Iterator[dict[str, Any]]:
    """Every matching parcel of the tracking view, page after page (streams outside the
    request context, so the view and the seller scope are resolved first)."""
    tracking = view("tracking")
    base = ParcelQuery(
        seller_id=query.get("seller_id"), platform=query.get("platform"),
        site=query.get("site"), status=query.get("status"),
        registered_from=query.get("registered_from"), registered_to=query.get("registered_to"),
        sellers=scope(query.get("seller_id")), limit=500)
    chunks = [numbers[i:i + 500] for i in range(0, len(numbers), 500)] if numbers else [None]
    return _pages(tracking, base, chunks)


def _pages(tracking: Any, base: ParcelQuery, chunks: list[Any]) -> Iterator[dict[str, Any]]:
    for chunk in chunks:
        cursor = None
        while True:
            page, cursor = tracking.find(ParcelQuery(**{
                **base.__dict__, "tracking_numbers": tuple(chunk or ()), "cursor": cursor}))
            yield from page
            if cursor is None:
                break


def by_numbers(query: dict[str, Any], numbers: list[str], caught_up: bool) -> Any:
    rows = list(parcels(query, numbers))
    found = {r["tracking_number"] for r in rows}
    return answer("parcels", rows, caught_up, missing=[n for n in numbers if n not in found])


@blp.route("/parcels")
class ParcelReport(MethodView):
    @requires(READ)
    @blp.arguments(ParcelReportQuery(), location="query")
    @blp.response(200, Report)
    @blp.doc(**CSV)
    def get(self, query: dict[str, Any]) -> Any:
        """LZ-4: parcels registered in a date range (at most 30 days) or by tracking numbers."""
        caught_up, refused = freshness("tracking", query.get("min_position"))
        if refused is not None:
            return refused
        numbers = [n.strip() for n in query.pop("tracking_numbers", "").split(",") if n.strip()]
        start, end = query.get("registered_from"), query.get("registered_to")
        if numbers and (start or end) or not numbers and not (start and end):
            return problem(422, "report-criteria", "give registered_from and registered_to, "
                           "or tracking_numbers", rule="LZ-4")
        if numbers:
            if len(numbers) > MAX_NUMBERS:
                return problem(422, "report-too-many-numbers",
                               f"at most {MAX_NUMBERS} tracking numbers", rule="LZ-4")
            return by_numbers(query, numbers, caught_up)
        assert start is not None and end is not None  # both given: checked above
        if end <= start or end - start > MAX_RANGE:
            return problem(422, "report-range-too-long", "a report covers at most 30 days "
                           "(registered_to after registered_from)", rule="LZ-4",
                           facts={"days": str(round((end - start).total_seconds() / 86400, 3))})
        if wants_csv():
            return csv_response(parcels(query, None), "parcels", PARCEL_COLUMNS)
        return answer("parcels", list(parcels(query, None)), caught_up)


@blp.route("/parcels/upload")
class ParcelUploadReport(MethodView):
    @requires(READ)
    @blp.arguments(ReportQuery(), location="query")
    @blp.response(200, Report)
    @blp.doc(requestBody={"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "file": {"type": "string", "format": "binary"}}}},
        "text/csv": {"schema": {"type": "string"}}}}, **CSV)
    def post(self, query: dict[str, Any]) -> Any:
        """LZ-4: parcels by an uploaded CSV of tracking numbers (first column, header optional)."""
        upload = request.files.get("file")
        raw = upload.read() if upload is not None else request.get_data()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            return problem(422, "invalid-upload", "the CSV must be UTF-8")
        try:  # newline="": a CR or CRLF inside or between fields is the csv module's to read
            numbers = list(dict.fromkeys(row[0].strip() for row in csv.reader(
                io.StringIO(text, newline=""), strict=True) if row and row[0].strip()))
        except csv.Error as error:
            return problem(422, "invalid-upload", f"the CSV cannot be read: {error}")
        if numbers and numbers[0].lower().replace(" ", "_") in ("tracking_number",
                                                                  "tracking_numbers"):
            numbers = numbers[1:]
        if not numbers or len(numbers) > MAX_UPLOADED:
            return problem(422, "invalid-upload", f"send 1 to {MAX_UPLOADED} tracking numbers "
                           "in the first column", rule="LZ-4")
        caught_up, refused = freshness("tracking", query.get("min_position"))
        return refused if refused is not None else by_numbers(query, numbers, caught_up)


@blp.route("/free-returns")
class FreeReturnReport(MethodView):
    @requires(READ)
    @blp.arguments(FreeReturnQuery(), location="query")
    @blp.response(200, Report)
    @blp.doc(**CSV)
    def get(self, query: dict[str, Any]) -> Any:
        """TT-3/TT-5: free returns used, their outcome and who bore the loss; totals."""
        caught_up, refused = freshness("free_return", query.get("min_position"))
        if refused is not None:
            return refused
        sellers, free = scope(query.get("seller_id")), view("free_return")
        items = free.list(query.get("seller_id"), query.get("site"), query.get("outcome"),
                          sellers)
        return answer("free_return", items, caught_up, totals=free.totals(sellers))


@blp.route("/deadlines")
class DeadlinesReport(MethodView):
    @requires(READ)
    @blp.arguments(DeadlinesQuery(), location="query")
    @blp.response(200, Schema.from_dict({k: fields.Raw() for k in (
        "position", "caught_up", "now", "holds", "expired_holds", "overdue_returns", "pending_refunds",
        "open_investigations", "order_deadlines", "customs_work_list")},
        name="DeadlinesReport"))
    @blp.doc(**CSV)
    def get(self, query: dict[str, Any]) -> Any:
        """Held parcels (TT-2), overdue returns (TT-7), refunds awaiting approval (AM-4), tickets,
        orders and buyer questions waiting on the seller (LZ-3, CD-1, CD-3: `delayed` past
        due at `now`) and returns needing customs data (LZ-2)."""
        caught_up, refused = freshness("deadlines", query.get("min_position"))
        if refused is not None:
            return refused
        sellers, deadlines = scope(query.get("seller_id")), view("deadlines")
        now = query.get("now") or datetime.now(UTC)
        lists = {"holds": lambda: deadlines.holds(sellers=sellers),
                 "expired_holds": lambda: deadlines.holds(now, sellers),
                 "overdue_returns": lambda: deadlines.overdue_returns(now, sellers),
                 "pending_refunds": lambda: named(deadlines.pending_refunds(sellers)),
                 "open_investigations": lambda: deadlines.open_investigations(sellers),
                 "order_deadlines": lambda: deadlines.order_deadlines(now, sellers),
                 "customs_work_list": lambda: deadlines.customs_worklist(sellers)}
        chosen = [query["list"]] if "list" in query else list(lists)
        if wants_csv():
            if len(chosen) != 1:
                return problem(422, "report-criteria", "CSV needs one list: ?list=holds, ...")
            return csv_response(lists[chosen[0]](), chosen[0].replace("_", "-"))
        return {"position": deadlines.max_tracking_id("ReturnsLedger") or 0,
                "caught_up": caught_up, "now": now.isoformat(), **{name: lists[name]() for name in chosen}}


@blp.route("/liabilities")
class LiabilitiesReport(MethodView):
    @requires(READ)
    @blp.arguments(LiabilitiesQuery(), location="query")
    @blp.response(200, Report)
    @blp.doc(**CSV)
    def get(self, query: dict[str, Any]) -> Any:
        """Who bears each parcel's loss (seller, platform, provider) and how much; totals."""
        caught_up, refused = freshness("liabilities", query.get("min_position"))
        if refused is not None:
            return refused
        sellers, liabilities = scope(query.get("seller_id")), view("liabilities")
        items = liabilities.list(query.get("seller_id"), query.get("party"), sellers)
        return answer("liabilities", items, caught_up, totals=liabilities.totals(sellers))
