"""Finance: the refunds ledger (JSON, CSV), reconciliations, and a refund's later life.

Every role reads the refunds ledger and its totals; a client or finance key sees its own
seller's refunds only. Reconciliation reports are for finance, auditor and admin keys.
Reconciling and rejecting, failing or reversing a refund are finance's alone.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any
from uuid import UUID

from flask import Response, abort, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from application.finance.exports import (
    REFUND_COLUMNS,
    TOTAL_COLUMNS,
    csv_lines,
    refund_line,
    total_line,
)
from application.finance.reconciliations import FinanceDesk, ReconciliationNotFoundError
from domain.api_key import Role
from domain.reconciliation import REPORT_COLUMNS
from interfaces.api.auth import actor, caller, requires, sees_all
from interfaces.api.commands import on_parcel
from interfaces.api.ledger import ledger
from interfaces.api.schemas import CommandRequest, RefundCommandResponse, Text
from interfaces.api.views import freshness, scope, view, wants_csv

LEDGER_READ = frozenset(Role)  # a client reads its own seller's refunds
READ = frozenset({Role.FINANCE, Role.AUDITOR, Role.ADMIN})
WRITE = frozenset({Role.FINANCE})
SETTLEMENT_MAX_BYTES = 256 * 1024 * 1024  # a settlement file is streamed to disk, not memory

blp = Blueprint("finance", __name__, url_prefix="/v1",
                description="Refunds ledger and reconciliation against platform settlements")


class RefundFilters(Schema):
    min_position = fields.Integer(validate=validate.Range(min=1), metadata={
        "description": "wait until the view has applied this event position (your write)"})
    seller_id = fields.String()
    platform = fields.String()
    currency = fields.String()
    status = fields.String()
    format = fields.String()


class ReleaseRefundRequest(CommandRequest):
    reason = Text(500, required=True)


def _strings(name: str, names: tuple[str, ...], **typed: Any) -> type[Schema]:
    """A response schema of string columns (exact amounts, ISO times), some typed."""
    return Schema.from_dict({n: typed.get(n, fields.String(allow_none=True)) for n in names},
                            name=name)


RefundLine = _strings("RefundLine", REFUND_COLUMNS, needs_approval=fields.Boolean())
TotalLine = _strings("RefundTotalLine", TOTAL_COLUMNS, refunds=fields.Integer())
ReportLine = _strings("ReconciliationLine", REPORT_COLUMNS)


class RefundsResponse(Schema):
    position = fields.Integer()
    caught_up = fields.Boolean()
    columns = fields.List(fields.String())
    refunds = fields.List(fields.Nested(RefundLine))


class TotalsResponse(Schema):
    position = fields.Integer()
    caught_up = fields.Boolean()
    columns = fields.List(fields.String())
    totals = fields.List(fields.Nested(TotalLine))


class ReconciliationResponse(Schema):
    id = fields.UUID()
    fingerprint = fields.String()
    file_name = fields.String()
    source_format = fields.String()
    seller_scope = fields.String(allow_none=True)
    started_at = fields.String()
    started_by = fields.String()
    completed_at = fields.String()
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    totals = fields.Dict(keys=fields.String(), values=fields.Dict(
        keys=fields.String(), values=fields.String()))
    digest = fields.String()
    lines_read = fields.Integer()
    lines_ignored = fields.Integer()
    ledger_refunds = fields.Integer()
    already_recorded = fields.Boolean()


class ReconciliationReportResponse(ReconciliationResponse):
    columns = fields.List(fields.String())
    lines = fields.List(fields.Nested(ReportLine))


CSV = {"responses": {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}}
UPLOAD = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary"}}}},
    "text/csv": {"schema": {"type": "string"}}}}}


def refunds_view() -> Any:
    """The app's refunds view (the in-process runners keep it up to date)."""
    return view("refunds")


def csv_response(lines: Iterator[str], name: str) -> Response:
    return Response(lines, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{name}.csv"'})


@blp.route("/refunds")
class Refunds(MethodView):
    @requires(LEDGER_READ)
    @blp.arguments(RefundFilters(), location="query")
    @blp.response(200, RefundsResponse)
    @blp.doc(**CSV)
    def get(self, filters: dict[str, Any]) -> Any:
        """Every refund line; CSV with Accept: text/csv or ?format=csv."""
        sellers, caught_up, refused = _read(filters)
        if refused is not None:
            return refused
        names = ledger().actor_names()
        rows = (refund_line(r, names) for r in refunds_view().rows(filters, sellers))
        if wants_csv():
            return csv_response(csv_lines(rows, REFUND_COLUMNS), "refunds")
        return {"position": _position(), "caught_up": caught_up,
                "columns": list(REFUND_COLUMNS), "refunds": list(rows)}


@blp.route("/refunds/totals")
class RefundTotals(MethodView):
    @requires(LEDGER_READ)
    @blp.arguments(RefundFilters(), location="query")
    @blp.response(200, TotalsResponse)
    @blp.doc(**CSV)
    def get(self, filters: dict[str, Any]) -> Any:
        """Issued refunds per seller, platform, currency and day."""
        sellers, caught_up, refused = _read(filters)
        if refused is not None:
            return refused
        filters.pop("status", None)
        rows = [total_line(r) for r in refunds_view().totals(filters, sellers)]
        if wants_csv():
            return csv_response(csv_lines(rows, TOTAL_COLUMNS), "refund-totals")
        return {"position": _position(), "caught_up": caught_up,
                "columns": list(TOTAL_COLUMNS), "totals": rows}


def _read(filters: dict[str, Any]) -> tuple[tuple[str, ...] | None, bool, Response | None]:
    """The key's seller scope; whether the view has applied min_position; or a problem."""
    filters.pop("format", None)
    sellers = scope(filters.get("seller_id"))
    return (sellers, *freshness("refunds", filters.pop("min_position", None)))


def _position() -> int:
    return refunds_view().max_tracking_id("ReturnsLedger") or 0


@blp.route("/reconciliations")
class Reconciliations(MethodView):
    @requires(WRITE)
    @blp.response(201, ReconciliationResponse)
    @blp.alt_response(200, schema=ReconciliationResponse,
                      description="the same file again: the recorded run")
    @blp.doc(**UPLOAD)
    def post(self) -> Any:
        """Upload a settlement file (multipart `file`, or a text/csv body) and reconcile it."""
        request.max_content_length = SETTLEMENT_MAX_BYTES
        sellers = scope()
        view = refunds_view()
        desk = FinanceDesk(ledger(), lambda: view.ledger_refunds(sellers))
        with _settlement_upload() as (stream, name):
            run = desk.reconcile(stream, name, datetime.now(UTC), actor(),
                                 request.args.get("currency"), ",".join(sellers or ()))
        return run.as_dict(), 200 if run.already_recorded else 201, {
            "Location": f"/v1/reconciliations/{run.id}"}


@blp.route("/reconciliations/<uuid:reconciliation_id>")
class ReconciliationReport(MethodView):
    @requires(READ)
    @blp.response(200, ReconciliationReportResponse)
    @blp.doc(**CSV)
    def get(self, reconciliation_id: UUID) -> Any:
        """A run's summary and its outcome lines; CSV report with Accept: text/csv."""
        desk = FinanceDesk(ledger(), lambda: [])
        run = desk.get_reconciliation(reconciliation_id)
        if not sees_all() and run.scope != caller().seller_id:
            raise ReconciliationNotFoundError(reconciliation_id)
        if wants_csv():
            return csv_response(csv_lines(desk.report_lines(reconciliation_id),
                                          REPORT_COLUMNS), f"reconciliation-{run.id}")
        return {**run.as_dict(), "columns": list(REPORT_COLUMNS),
                "lines": list(desk.report_lines(reconciliation_id))}


def _release(command: str) -> type[MethodView]:
    class Release(MethodView):
        @requires(WRITE)
        @blp.arguments(ReleaseRefundRequest())
        @blp.response(201, RefundCommandResponse)
        def post(self, body: dict[str, Any], parcel_id: UUID, reference: str) -> Any:
            # Releasing issued money is a four-eyes decision too: it needs a person.
            person = caller().actor if command == "reject_refund" else caller().person()
            return on_parcel(parcel_id, lambda led, who, version: getattr(led, command)(
                parcel_id, reference, body["reason"], body["occurred_at"], actor=person,
                expected_version=version))

    Release.post.__doc__ = {
        "reject_refund": "Finance refuses a refund waiting for approval (AM-4).",
        "record_refund_failure": "The payment of an issued refund failed (AM-3).",
        "reverse_refund": "An issued refund came back, e.g. charged back (AM-3)."}[command]
    Release.__name__ = f"Refund{command.title().replace('_', '')}"
    return Release


for _path, _command in (("rejections", "reject_refund"), ("failures", "record_refund_failure"),
                        ("reversals", "reverse_refund")):
    blp.route(f"/parcels/<uuid:parcel_id>/refunds/<string:reference>/{_path}")(
        _release(_command))


@contextlib.contextmanager
def _settlement_upload() -> Iterator[tuple[IO[bytes], str]]:
    """The uploaded file as a seekable binary stream (spooled to disk beyond 1 MiB)."""
    upload = request.files.get("file")
    if upload is not None:
        yield upload.stream, upload.filename or "settlement.csv"
        return
    if request.mimetype not in ("text/csv", "text/plain", "text/tab-separated-values"):
        abort(415, "send the settlement as multipart/form-data `file` or as text/csv")
    with tempfile.SpooledTemporaryFile(max_size=1 << 20) as spool:
        shutil.copyfileobj(request.stream, spool, 1 << 16)
        spool.seek(0)
        yield spool, request.args.get("file_name", "settlement.csv")
