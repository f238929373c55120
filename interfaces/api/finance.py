"""Finance: the refunds ledger (JSON, CSV), reconciliations, and a refund's later life.

Every role reads the refunds ledger and its totals; a client or finance key sees its own
seller's refunds only. Reconciliation reports are for finance, auditor and admin keys.
Reconciling and rejecting, failing or reversing a refund are finance's alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any
from uuid import UUID

from flask import Response, abort, request
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from application.finance.exports import (
    REFUND_COLUMNS,
    TOTAL_COLUMNS,
    csv_chunk_lines,
    csv_lines,
    refund_line,
    total_line,
)
from application.finance.reconciliations import FinanceDesk, ReconciliationNotFoundError
from application.finance.worker import IN_PROCESS, ReconciliationWorker
from domain.api_key import Role
from domain.money import MINOR_UNITS
from domain.reconciliation import REPORT_COLUMNS, RunStatus
from interfaces.api.auth import actor, caller, requires, sees_all
from interfaces.api.background import in_process_worker
from interfaces.api.commands import on_parcel
from interfaces.api.fields import MAX_INT
from interfaces.api.json_body import Blueprint
from interfaces.api.ledger import ledger
from interfaces.api.problems import problem
from interfaces.api.schemas import CommandRequest, RefundCommandResponse, Text
from interfaces.api.views import freshness, scope, view, wants_csv

LEDGER_READ = frozenset(Role)  # a client reads its own seller's refunds
READ = frozenset({Role.FINANCE, Role.AUDITOR, Role.ADMIN})
WRITE = frozenset({Role.FINANCE})
SETTLEMENT_MAX_BYTES = 256 * 1024 * 1024  # a settlement file is streamed to disk, not memory
WORKER = "returns_ledger_reconciliations"

blp = Blueprint("finance", __name__, url_prefix="/v1",
                description="Refunds ledger and reconciliation against platform settlements")


class RefundFilters(Schema):
    min_position = fields.Integer(validate=validate.Range(min=1, max=MAX_INT), metadata={
        "description": "wait until the view has applied this event position (your write)"})
    seller_id = fields.String()
    platform = fields.String()
    currency = fields.String()
    status = fields.String()
    format = fields.String()


class ReleaseRefundRequest(CommandRequest):
    reason = Text(500, required=True, metadata={"example": "duplicate of RF-2026-0001"})


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
    status = fields.String(metadata={"description": "running, done or failed"})
    failure = fields.String(allow_none=True, metadata={"description": "why a run failed"})
    failed_at = fields.String(allow_none=True)
    ledger_state = fields.String(allow_none=True, metadata={
        "description": "SHA-256 of the ledger refunds the file was compared with"})
    ledger_position = fields.Integer(metadata={
        "description": "the refunds view's event position when the run was accepted"})
    started_by_owner = fields.String()
    started_with_key = fields.String(allow_none=True)
    started_by_key_label = fields.String()
    fingerprint = fields.String()
    file_name = fields.String()
    source_format = fields.String()
    seller_scope = fields.String(allow_none=True)
    started_at = fields.String()
    started_by = fields.String()
    completed_at = fields.String(allow_none=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), allow_none=True)
    totals = fields.Dict(keys=fields.String(), values=fields.Dict(
        keys=fields.String(), values=fields.String()), allow_none=True)
    digest = fields.String(allow_none=True)
    lines_read = fields.Integer(allow_none=True)
    lines_ignored = fields.Integer(allow_none=True)
    ledger_refunds = fields.Integer(allow_none=True)
    already_recorded = fields.Boolean()


class ReconciliationReportResponse(ReconciliationResponse):
    columns = fields.List(fields.String())
    lines = fields.List(fields.Nested(ReportLine), metadata={
        "description": "the outcome lines, once the run is done"})


class ReconciliationListQuery(Schema):
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_INT))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class ReconciliationListResponse(Schema):
    reconciliations = fields.List(fields.Nested(ReconciliationResponse))
    more = fields.Boolean(metadata={"description": "older runs follow (raise offset)"})


class UploadQuery(Schema):
    currency = fields.String(validate=validate.OneOf(sorted(MINOR_UNITS)), metadata={
        "description": "the currency of a settlement file that has no currency column"})
    file_name = Text(200, metadata={"description": "the file's name, for a text/csv body",
                                    "example": "settlement-2026-03.csv"})


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
    @requires(READ)
    @blp.arguments(ReconciliationListQuery(), location="query")
    @blp.response(200, ReconciliationListResponse)
    def get(self, query: dict[str, Any]) -> Any:
        """Reconciliation runs, newest first, with their status and summary."""
        runs, more = desk().list_reconciliations(None if sees_all() else caller().seller_id,
                                                 query["offset"], query["limit"])
        return {"reconciliations": [run_json(r) for r in runs], "more": more}

    @requires(WRITE)
    @blp.arguments(UploadQuery(), location="query")
    @blp.response(202, ReconciliationResponse, description=(
        "accepted: reconciled in the background; poll the Location"))
    @blp.alt_response(200, schema=ReconciliationResponse,
                      description="the same file against the same ledger refunds: the run")
    @blp.doc(**UPLOAD)
    def post(self, query: dict[str, Any]) -> Any:
        """Upload a settlement file (multipart `file`, or a text/csv body, at most 256 MiB).

        The file is streamed to disk and the run recorded as running before any line is
        read; the answer comes at once (202, Location: the run), the reconciliation runs
        in the background. The same file against the same ledger refunds is the same run.
        """
        request.max_content_length = SETTLEMENT_MAX_BYTES
        sellers = scope()
        view = refunds_view()
        accepting = desk(lambda: view.ledger_refunds(sellers))
        with _settlement_upload(query.get("file_name")) as (stream, name):
            run = accepting.accept(stream, name, datetime.now(UTC), actor(),
                                   query.get("currency"), ",".join(sellers or ()),
                                   str(caller().id))
        headers = {"Location": f"/v1/reconciliations/{run.id}"}
        if run.status == RunStatus.RUNNING.value:
            submit(run.id)
            headers["Retry-After"] = "1"
        return run_json(run), 202 if run.status == RunStatus.RUNNING.value else 200, headers


@blp.route("/reconciliations/<uuid:reconciliation_id>")
class ReconciliationReport(MethodView):
    @requires(READ)
    @blp.response(200, ReconciliationReportResponse)
    @blp.doc(**CSV)
    def get(self, reconciliation_id: UUID) -> Any:
        """A run's status and summary, and once done its outcome lines (CSV: text/csv)."""
        reading = desk()
        run = reading.get_reconciliation(reconciliation_id)
        if not sees_all() and run.scope != caller().seller_id:
            raise ReconciliationNotFoundError(reconciliation_id)
        if wants_csv():
            if not run.done:
                return problem(409, "reconciliation-not-done", f"the run is {run.status}: "
                               "its report is there once it is done", status_of_run=run.status,
                               failure=run.failure, headers={"Retry-After": "1"})
            return csv_response(csv_chunk_lines(reading.report_chunks(reconciliation_id),
                                                REPORT_COLUMNS), f"reconciliation-{run.id}")
        lines = list(reading.report_lines(reconciliation_id)) if run.done else []
        return {**run_json(run), "columns": list(REPORT_COLUMNS), "lines": lines}


def desk(refunds: Any = lambda: []) -> FinanceDesk:
    """Reconciliations on the app's ledger (spool directory from its settings)."""
    return FinanceDesk(ledger(), refunds, ledger_position=_position)


def run_json(run: Any) -> dict[str, Any]:
    """A run's summary, with the person who started it and the key's label."""
    names = ledger().actor_names()
    person, key = names(run.started_by), names(run.key_id or run.started_by)
    return {**run.as_dict(), "started_by_owner": person.owner,
            "started_by_key_label": key.key_label}


def submit(reconciliation_id: UUID) -> None:
    """Run an accepted reconciliation in this process's background thread (embedded
    default); with RECONCILIATIONS_IN_PROCESS=no a worker process runs it."""
    worker = in_process_worker(WORKER, IN_PROCESS,
                               lambda led: ReconciliationWorker(lambda: FinanceDesk(led)))
    if worker is not None:
        worker.submit(reconciliation_id)


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
def _settlement_upload(file_name: str | None) -> Iterator[tuple[IO[bytes], str]]:
    """The uploaded file as a binary stream: a text/csv body is read as it arrives (the
    desk copies it to its spool directory), a multipart part from werkzeug's temporary
    file; past SETTLEMENT_MAX_BYTES the request is refused (413)."""
    upload = request.files.get("file")
    if upload is not None:
        yield upload.stream, upload.filename or "settlement.csv"
        return
    if request.mimetype not in ("text/csv", "text/plain", "text/tab-separated-values"):
        abort(415, "send the settlement as multipart/form-data `file` or as text/csv")
    yield request.stream, file_name or "settlement.csv"
