"""Bulk imports over HTTP: upload a file (202, Location), read its outcomes; the intake."""

from __future__ import annotations

import io
import itertools
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from flask import Response, abort, request
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from application.csv_export import csv_lines
from application.imports.engine import ImportDesk, max_bytes
from application.imports.formats.registry import (
    UnknownFormatError,
    example_of,
    get_format,
    load_formats,
)
from application.imports.intake import IntakeSecrets
from application.imports.views import OUTCOMES, ImportNotFoundError, ImportTooLargeError
from application.imports.worker import IN_PROCESS, ImportWorker
from interfaces.api import json_body
from interfaces.api.auth import READ, WRITE, caller, requires, sees_all
from interfaces.api.background import in_process_worker
from interfaces.api.catalog import ApiCommands
from interfaces.api.json_body import Blueprint
from interfaces.api.ledger import ledger
from interfaces.api.problems import problem
from interfaces.api.views import wants_csv

WORKER = "returns_ledger_imports"
INTAKE_MAX_BYTES = 1024 * 1024
# A JSON document (a webhook's export) is parsed whole, here and by its format: it is
# bounded tighter than a file of records (CSV, JSON Lines), which is streamed.
JSON_DOCUMENT_MAX_BYTES = 16 * 1024 * 1024
LINE_COLUMNS = ("record_no", "line_no", "part", "outcome", "command", "parcel_id", "version",
                "problem_type", "problem_rule", "detail", "rule", "source_key", "occurred_at",
                "raw_sha256")
UPLOAD_TYPES = ("text/csv", "text/plain", "text/tab-separated-values", "application/x-ndjson",
                "application/jsonl", "application/json-lines", "application/octet-stream",
                "application/json")

blp = Blueprint("imports", __name__, url_prefix="/v1",
                description="Bulk imports of carrier scans and marketplace return records")


class ImportQuery(Schema):
    format = fields.String(required=True, metadata={
        "description": "the file's format (see the examples)", "example": "canonical"})
    file_name = fields.String(validate=validate.Length(max=200))


class ImportReadQuery(Schema):
    format = fields.String(validate=validate.OneOf(["json", "csv"]), metadata={
        "description": "csv: every line's outcome as CSV (also Accept: text/csv)"})
    after = fields.String(validate=validate.Regexp(r"^[0-9]{1,12}(\.[0-9]{1,4})?$"), metadata={
        "description": "JSON: the records after this one (`next` of the previous page: "
                       "`<record_no>.<part>`)", "example": "1001.0"})
    limit = fields.Integer(load_default=1000, validate=validate.Range(min=1, max=10_000))


class ImportListQuery(Schema):
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=1_000_000_000))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class ImportResponse(Schema):
    id = fields.String(required=True)
    format = fields.String(required=True)
    seller_scope = fields.String(allow_none=True)
    status = fields.String(required=True, metadata={
        "description": "accepted, staging, applying, done, or failed (see failure)"})
    sha256 = fields.String(required=True)
    size = fields.Integer(required=True)
    file_name = fields.String(required=True)
    origin = fields.String(required=True, metadata={"description": "upload or intake"})
    started_at = fields.String(required=True)
    started_by = fields.String(required=True)
    records_read = fields.Integer(required=True, metadata={
        "description": "source records read so far (a line may hold several)"})
    finished_at = fields.String(allow_none=True)
    failure = fields.String(allow_none=True)
    summary = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                          metadata={"description": "rows per outcome: " + ", ".join(OUTCOMES)})
    rows = fields.Integer(required=True)
    already_accepted = fields.Boolean(required=True)


class ImportLineResponse(Schema):
    record_no = fields.Integer(metadata={"description": "the record's place in the file"})
    line_no = fields.Integer()
    part = fields.Integer()
    outcome = fields.String()
    command = fields.String()
    parcel_id = fields.String(allow_none=True)
    version = fields.Integer(allow_none=True)
    problem_type = fields.String(allow_none=True)
    problem_rule = fields.String(allow_none=True)
    detail = fields.String(allow_none=True)
    rule = fields.String()
    source_key = fields.String()
    occurred_at = fields.String()
    raw_sha256 = fields.String()


class ImportReportResponse(ImportResponse):
    lines = fields.List(fields.Nested(ImportLineResponse))
    next = fields.String(allow_none=True, metadata={
        "description": "more lines follow: ask again with ?after=<next>"})


class ImportListResponse(Schema):
    imports = fields.List(fields.Nested(ImportResponse))
    more = fields.Boolean()


@blp.before_request
def _json_document() -> None:
    """An upload sent as application/json must parse, as every JSON body of the API
    (400 before its query is looked at), within JSON_DOCUMENT_MAX_BYTES (413)."""
    if request.method == "POST" and request.path == "/v1/imports" and request.is_json:
        request.max_content_length = JSON_DOCUMENT_MAX_BYTES
        try:
            json_body.loads(request.get_data(cache=True))
        except json_body.MalformedJsonError as error:
            abort(400, f"the body is not accepted: {error}")


def _upload_doc() -> dict[str, Any]:
    """The request body's description, with an example file of each registered format."""
    formats = load_formats()
    listing = "; ".join(f"`{name}`: {fmt.source}" for name, fmt in sorted(formats.items()))
    content: dict[str, Any] = {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                           "properties": {"file": {"type": "string",
                                                                   "format": "binary"}}}}}
    by_media: dict[str, dict[str, Any]] = {"text/csv": {}, "application/x-ndjson": {}}
    for name, fmt in sorted(formats.items()):
        samples = dict(getattr(fmt, "examples", None) or {})
        if not samples and example_of(fmt) is not None:
            samples = {str(getattr(fmt, "media_type", "text/csv")): example_of(fmt)}
        for media, sample in samples.items():
            by_media.setdefault(media, {})[name] = {
                "summary": f"format={name}", "value": sample.decode("utf-8", "replace")}
    for media, examples in by_media.items():
        content[media] = {"schema": {"type": "string"}, "examples": examples}
    return {"description": f"Formats: {listing}.",
            "requestBody": {"required": True, "content": content}}


@blp.route("/imports")
class Imports(MethodView):
    @requires(WRITE)
    @blp.arguments(ImportQuery(), location="query")
    @blp.response(202, ImportResponse, description="accepted: imported in the background; "
                  "poll the Location")
    @blp.alt_response(200, schema=ImportResponse,
                      description="the same file was imported already: that import")
    @blp.doc(**_upload_doc())
    def post(self, query: dict[str, Any]) -> Any:
        """Import a file of commands or source records (multipart `file`, or the body;
        at most IMPORT_MAX_BYTES, 1 GiB by default; a JSON document, application/json, at
        most 16 MiB and it must parse). The same file again is the same import."""
        fmt = _format(query["format"])
        limit = max_bytes(ledger().env)
        request.max_content_length = limit
        coding = (request.headers.get("Content-Encoding") or "identity").strip().lower()
        if coding != "identity":  # it would be read as the file itself
            return problem(415, "unsupported-media-type", f"Content-Encoding {coding[:40]!r} "
                           "is not read: send the file uncompressed")
        files = list(request.files.items(multi=True))
        if len(files) > 1:  # the others would be left unread, silently
            return problem(422, "validation-error", "one file per import: the form has "
                           f"{len(files)} ({', '.join(n for n, _ in files)[:200]})")
        upload = request.files.get("file")
        if upload is not None:
            stream, name = upload.stream, upload.filename or "import"
        elif request.is_json:  # read (and parsed) whole by _json_document
            stream, name = io.BytesIO(request.get_data(cache=True)), query.get(
                "file_name") or "import.json"
        elif request.mimetype in UPLOAD_TYPES:
            stream, name = request.stream, query.get("file_name") or "import"
        else:
            abort(415, "send the file as multipart/form-data `file`, or as the body "
                       "(text/csv or application/x-ndjson)")
        scope = "" if sees_all() else str(caller().seller_id)
        try:
            view = desk().accept(stream, fmt, scope, caller().actor, str(caller().id),
                                 datetime.now(UTC), file_name=query.get("file_name") or name,
                                 limit=limit)
        except ImportTooLargeError as error:
            return problem(413, "body-too-large", error.detail, limit=error.limit)
        return _accepted(view)

    @requires(READ)
    @blp.arguments(ImportListQuery(), location="query")
    @blp.response(200, ImportListResponse)
    def get(self, query: dict[str, Any]) -> Any:
        """Imports, newest first (the key's seller's; admins and auditors: all)."""
        scope = None if sees_all() else str(caller().seller_id)
        views, more = desk().list_imports(scope, query["offset"], query["limit"])
        return {"imports": [v.as_dict() for v in views], "more": more}


@blp.route("/imports/<uuid:import_id>")
class ImportReport(MethodView):
    @requires(READ)
    @blp.arguments(ImportReadQuery(), location="query")
    @blp.response(200, ImportReportResponse)
    @blp.doc(responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}})
    def get(self, query: dict[str, Any], import_id: UUID) -> Any:
        """An import's status and summary with its per-line outcomes: JSON a page at a
        time (`limit`, `after` = the previous page's `next`), or every line as CSV with
        ?format=csv or Accept: text/csv (cells never evaluate in a spreadsheet)."""
        reading = desk()
        view = reading.get(import_id)
        if not sees_all() and view.scope != caller().seller_id:
            raise ImportNotFoundError(import_id)
        if query.get("format") == "csv" or (query.get("format") is None and wants_csv()):
            return Response(csv_lines(reading.lines(import_id), LINE_COLUMNS),
                            mimetype="text/csv", headers={
                                "Content-Disposition": f'attachment; filename="import-{view.id}.csv"'})
        headers = {} if view.done else {"Retry-After": "1"}
        line, _, part = (query.get("after") or "-1.-1").partition(".")
        page = list(itertools.islice(reading.lines(import_id, (int(line), int(part or 9999))),
                                     query["limit"] + 1))
        more = len(page) > query["limit"]
        page = page[:query["limit"]]
        following = f"{page[-1]['record_no']}.{page[-1]['part']}" if more else None
        return {**view.as_dict(), "lines": page, "next": following}, headers


@blp.route("/imports/<uuid:import_id>/retries")
class ImportRetries(MethodView):
    @requires(WRITE)
    @blp.response(202, ImportResponse, description="its waiting lines run again now")
    @blp.alt_response(200, schema=ImportResponse,
                      description="the import is finished: nothing left to run again")
    def post(self, import_id: UUID) -> Any:
        """Apply again, now, an import's lines that wait (or, imported before lines could
        wait, were refused) because their parcel was not registered yet or its state did
        not allow them yet; waiting lines are also applied by themselves once their parcel
        advances (each still applies once; a late line stays late): 202 and the import,
        unfinished until they are run."""
        reading = desk()
        view = reading.get(import_id)
        if not sees_all() and view.scope != caller().seller_id:
            raise ImportNotFoundError(import_id)
        reading.retry(import_id)
        return _accepted(reading.get(import_id))


@blp.route("/intake/<string:source>")
class Intake(MethodView):
    @blp.response(202, ImportResponse)
    @blp.alt_response(200, schema=ImportResponse,
                      description="the same delivery was imported already: that import")
    @blp.alt_response(401, schema=None, description="not signed with an active secret")
    @blp.doc(security=[], requestBody={"required": True, "content": {
        "application/json": {"schema": {"type": "object"}},
        "application/x-ndjson": {"schema": {"type": "string"}}}})
    def post(self, source: str) -> Any:
        """A delivery pushed by a source (a carrier aggregator's or marketplace's webhook),
        signed with the source's secret; imported in the background (202, Location), the
        same delivery twice is one import. At most 1 MiB; a JSON document
        (application/json) must parse (400), JSON Lines come as application/x-ndjson."""
        request.max_content_length = INTAKE_MAX_BYTES
        body = request.get_data(cache=False)
        if request.is_json:  # a JSON document must parse, as every JSON body of the API
            try:
                json_body.loads(body)
            except json_body.MalformedJsonError as error:
                abort(400, f"the body is not accepted: {error}")
        fmt = _format(source)
        sender = IntakeSecrets(ledger()).sender(fmt, dict(request.headers), body)
        if sender is None:
            return problem(401, "unauthenticated", f"the delivery is not signed with an active "
                           f"{source} intake secret")
        view = desk().accept(io.BytesIO(body), fmt, sender["seller_id"], f"intake:{source}",
                             sender["secret_id"], datetime.now(UTC),
                             file_name=f"{source}-delivery", origin="intake",
                             limit=INTAKE_MAX_BYTES)
        return _accepted(view)


def _format(name: str) -> str:
    try:
        return get_format(name).name
    except UnknownFormatError as error:
        abort(422, str(error))


def _accepted(view: Any) -> Any:
    headers = {"Location": f"/v1/imports/{view.id}"}
    if view.done:
        return view.as_dict(), 200, headers
    submit()
    headers["Retry-After"] = "1"
    return view.as_dict(), 202 if not view.already else 200, headers


def desk() -> ImportDesk:
    return ImportDesk(ledger(), ApiCommands())


def submit() -> None:
    """Run accepted imports in this process's background thread (embedded default); with
    IMPORTS_IN_PROCESS=no the worker process (`returns-ledger imports worker`) does."""
    worker = in_process_worker(WORKER, IN_PROCESS,
                               lambda led: ImportWorker(lambda: ImportDesk(led, ApiCommands())))
    if worker is not None:
        worker.wake()
