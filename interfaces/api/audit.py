"""Audit: the ledger digest and a parcel's hash-chain verification (read only)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from application.audit.verification import DamagedStoreError, LedgerAudit
from domain.api_key import ALL_SELLERS_ROLES
from interfaces.api.auth import READ, check_parcel, requires, sees_all
from interfaces.api.ledger import ledger
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
            check_parcel(parcel_id)  # a seller's key: its own parcels only (404 otherwise)
        # Auditors read the stored events directly: a tampered parcel may not even replay.
        return LedgerAudit(ledger()).verify_parcel(parcel_id).as_dict()
