"""Audit: the ledger digest and a parcel's hash-chain verification (read only)."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from flask import Flask, Response
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from application.audit.log import AuditLog, CheckpointTimer, TreeDamagedError, checkpoint_interval
from application.audit.transparency import b64
from application.audit.verification import DamagedStoreError, LedgerAudit
from domain.api_key import ALL_SELLERS_ROLES
from domain.errors import DomainError, ParcelNotFoundError
from interfaces.api.auth import READ, caller, check_parcel, requires, sees_all
from interfaces.api.json_body import Blueprint
from interfaces.api.ledger import EXTENSION, SETTINGS_EXTENSION, ledger
from interfaces.api.problems import problem

blp = Blueprint("audit", __name__, url_prefix="/v1",
                description="Prove the stored events were not altered (auditors)")


class DigestResponse(Schema):
    position = fields.Integer(required=True)
    digest = fields.String(required=True)
    token = fields.String(required=True, metadata={"description": "POSITION:HEX"})
    events = fields.Integer(required=True)
    algorithm = fields.String(required=True)
    rule = fields.String(required=True)


class BreachResponse(Schema):
    reason = fields.String(required=True)
    detail = fields.String(required=True)
    originator_id = fields.String(allow_none=True)
    version = fields.Integer(allow_none=True)
    position = fields.Integer(allow_none=True)


class VerificationResponse(Schema):
    ok = fields.Boolean(required=True)
    scope = fields.String(required=True)
    events = fields.Integer(required=True)
    breach = fields.Nested(BreachResponse, allow_none=True)
    head = fields.String(allow_none=True)
    notes = fields.List(fields.String())


@blp.route("/audit/digest")
class LedgerDigest(MethodView):
    @requires(frozenset(ALL_SELLERS_ROLES))
    @blp.response(200, DigestResponse)
    @blp.alt_response(409, description="a stored row is not as the ledger wrote it: no digest")
    def get(self) -> Any:
        """The running hash over every stored event, with its position: keep it for later."""
        try:
            return LedgerAudit(ledger()).digest().as_dict()
        except DamagedStoreError as error:
            return damaged(error)


def damaged(error: DamagedStoreError) -> Any:
    """409: the store holds a row the ledger did not write that way; where, and why."""
    return problem(409, "store-damaged", error.breach.detail, breach=error.breach.as_dict())


@blp.route("/parcels/<uuid:parcel_id>/verification")
class ParcelVerification(MethodView):
    @requires(READ)
    @blp.response(200, VerificationResponse)
    def get(self, parcel_id: UUID) -> Any:
        """Recompute the parcel's hash chain: ok, or the first broken event and why."""
        if not sees_all():
            check_owner(parcel_id)  # a seller's key: its own parcels only (404 otherwise)
        # Auditors read the stored events directly: a tampered parcel may not even replay.
        return AuditLog(ledger()).verify_parcel(parcel_id).as_dict()


# -- the transparency log -------------------------------------------------------------------
NOTE_TYPE = "text/plain; charset=utf-8"
MAX_INT = 2**62  # positions and sizes fit a signed 64-bit column


class CheckpointResponse(Schema):
    tree_size = fields.Integer(required=True)
    root = fields.String(required=True, metadata={"description": "base64 of the root hash"})
    created_at = fields.String(required=True)
    key_id = fields.String(required=True, metadata={"description": "hex, 4 bytes"})
    note = fields.String(required=True, metadata={
        "description": "the C2SP signed note, with witness cosignatures"})


class CheckpointsQuery(Schema):
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=1000))
    before = fields.Integer(validate=validate.Range(min=1, max=MAX_INT),
                            metadata={"description": "only checkpoints of smaller trees"})


class InclusionQuery(Schema):
    position = fields.Integer(validate=validate.Range(min=1, max=MAX_INT))
    originator_id = fields.UUID()
    version = fields.Integer(validate=validate.Range(min=1, max=MAX_INT))
    size = fields.Integer(validate=validate.Range(min=1, max=MAX_INT), metadata={
        "description": "the checkpoint's tree size (default: the latest)"})


class InclusionResponse(Schema):
    tree_size = fields.Integer(required=True)
    leaf_index = fields.Integer(required=True)
    position = fields.Integer(required=True)
    originator_id = fields.String(required=True)
    version = fields.Integer(required=True)
    leaf_hash = fields.String(required=True)
    hashes = fields.List(fields.String(), required=True)


class PublicKeysResponse(Schema):
    keys = fields.List(fields.String(), required=True, metadata={
        "description": "C2SP signed-note verifier keys: NAME+KEYID+BASE64"})


class ConsistencyQuery(Schema):
    first = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_INT))
    second = fields.Integer(validate=validate.Range(min=1, max=MAX_INT))


class ConsistencyResponse(Schema):
    first = fields.Integer(required=True)
    second = fields.Integer(required=True)
    hashes = fields.List(fields.String(), required=True)


def _note(text: str) -> Response:
    return Response(text, mimetype="text/plain", content_type=NOTE_TYPE)


def _checkpoint_dict(log: AuditLog, c: Any) -> dict[str, Any]:
    return {"tree_size": c.size, "root": b64(c.root), "created_at": c.created_at,
            "key_id": c.key_id, "note": log.note_with_cosignatures(c)}


@blp.route("/audit/checkpoints")
class Checkpoints(MethodView):
    @requires(frozenset(ALL_SELLERS_ROLES))
    @blp.arguments(CheckpointsQuery, location="query")
    @blp.response(200, CheckpointResponse(many=True))
    def get(self, query: dict[str, Any]) -> Any:
        """The signed checkpoints, newest first: keep them outside the ledger."""
        log = AuditLog(ledger())
        return [_checkpoint_dict(log, c)
                for c in log.store.checkpoints(query["limit"], query.get("before"))]


@blp.route("/audit/checkpoints/latest")
class LatestCheckpoint(MethodView):
    @requires(frozenset(ALL_SELLERS_ROLES))
    @blp.response(200, content_type="text/plain",
                  description="the C2SP signed note (tlog-checkpoint)")
    def get(self) -> Any:
        """The latest checkpoint as its signed note (text/plain)."""
        log = AuditLog(ledger())
        latest = log.latest()
        if latest is None:
            return problem(404, "not-found", "no checkpoint yet")
        return _note(log.note_with_cosignatures(latest))


@blp.route("/audit/checkpoints/<int:size>")
class CheckpointOfSize(MethodView):
    @requires(frozenset(ALL_SELLERS_ROLES))
    @blp.response(200, content_type="text/plain",
                  description="the C2SP signed note (tlog-checkpoint)")
    def get(self, size: int) -> Any:
        """The checkpoint of this tree size as its signed note (text/plain)."""
        log = AuditLog(ledger())
        if size > MAX_INT:
            return problem(404, "not-found", f"no checkpoint of tree size {size}")
        return _note(log.note_with_cosignatures(log.checkpoint_at(size)))


@blp.route("/audit/public-keys")
class PublicKeys(MethodView):
    @requires(frozenset(ALL_SELLERS_ROLES))
    @blp.response(200, PublicKeysResponse)
    def get(self) -> Any:
        """Every key that signed checkpoints here (NAME+KEYID+KEY), the current one last."""
        return {"keys": [k.vkey for k in AuditLog(ledger()).verifiers()]}


@blp.route("/audit/proofs/inclusion")
class Inclusion(MethodView):
    @requires(frozenset(ALL_SELLERS_ROLES))
    @blp.arguments(InclusionQuery, location="query")
    @blp.response(200, InclusionResponse)
    @blp.alt_response(422, description="neither position nor originator_id with version")
    def get(self, query: dict[str, Any]) -> Any:
        """The proof that an event is a leaf of a checkpoint's tree (RFC 9162 2.1.3)."""
        by_event = query.get("originator_id") is not None and query.get("version") is not None
        if (query.get("position") is None) == (not by_event) or (
                query.get("position") is not None and (query.get("originator_id") or
                                                       query.get("version"))):
            return problem(422, "validation-error",
                           "give position, or originator_id with version")
        try:
            return AuditLog(ledger()).inclusion(
                position=query.get("position"), originator_id=query.get("originator_id"),
                version=query.get("version"), size=query.get("size")).as_dict()
        except TreeDamagedError as error:
            return problem(409, "tree-damaged", str(error))


@blp.route("/audit/proofs/consistency")
class Consistency(MethodView):
    @requires(frozenset(ALL_SELLERS_ROLES))
    @blp.arguments(ConsistencyQuery, location="query")
    @blp.response(200, ConsistencyResponse)
    def get(self, query: dict[str, Any]) -> Any:
        """The proof that a later tree only appended to an earlier one (RFC 9162 2.1.4)."""
        try:
            return AuditLog(ledger()).consistency(query["first"], query.get("second")).as_dict()
        except TreeDamagedError as error:
            return problem(409, "tree-damaged", str(error))


def install(app: Flask) -> None:
    """Periodic checkpoints in the running service (AUDIT_CHECKPOINT_SECONDS, default 60;
    0 turns them off; under TESTING only when the setting is given)."""
    holder = app.extensions[EXTENSION]
    env = dict(app.extensions[SETTINGS_EXTENSION].env)  # validated once, by create_app
    explicit = app.config.get("AUDIT_CHECKPOINT_SECONDS", env.get("AUDIT_CHECKPOINT_SECONDS"))
    interval = checkpoint_interval({"AUDIT_CHECKPOINT_SECONDS": str(explicit or "")})
    if interval <= 0 or (app.testing and explicit is None):
        return
    started: list[CheckpointTimer] = []

    @app.before_request
    def _start_checkpoints() -> None:
        if not started:
            timer = CheckpointTimer(holder.get(), interval)
            holder.before_close(timer.stop)
            started.append(timer.start())


def check_owner(parcel_id: UUID) -> None:
    """A seller's key sees its own parcels only (404 otherwise), also a parcel whose stored
    events no longer replay: then the seller named by its stored first event decides."""
    try:
        check_parcel(parcel_id)
        return
    except DomainError:
        raise
    except Exception:  # noqa: BLE001 - the parcel does not replay: read its first event
        rows = AuditLog(ledger()).audit.rows.of_aggregate(parcel_id)
    seller = None
    if rows and rows[0].version == 1 and isinstance(rows[0].state, bytes | memoryview):
        try:
            seller = json.loads(bytes(rows[0].state)).get("seller_id")
        except (ValueError, AttributeError):
            seller = None
    if seller is None or seller != caller().seller_id:
        raise ParcelNotFoundError(parcel_id)


def damaged_parcel(parcel_id: UUID, error: Exception) -> Any:
    """409 with the breach when a parcel's stored events are damaged; else the error."""
    verdict = AuditLog(ledger()).verify_parcel(parcel_id)
    if verdict.ok or verdict.breach is None:
        raise error
    return problem(409, "stored-events-damaged", "the parcel's stored events are damaged: "
                   "see /v1/parcels/{id}/verification", breach=verdict.breach.as_dict())
