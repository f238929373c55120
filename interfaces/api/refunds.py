"""Refunds: issued at once below the AM-4 threshold, else approved by a second person."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask.views import MethodView

from interfaces.api.auth import APPROVE, REFUND, caller, requires
from interfaces.api.catalog import on_parcel_call
from interfaces.api.commands import on_parcel
from interfaces.api.json_body import Blueprint
from interfaces.api.schemas import (
    ApproveRefundRequest,
    RefundCommandResponse,
    RequestRefundRequest,
)

blp = Blueprint("refunds", __name__, url_prefix="/v1/parcels",
                description="Refunds and their four-eyes approval (AM-2, AM-3, AM-4)")


@blp.route("/<uuid:parcel_id>/refunds")
class Refunds(MethodView):
    @requires(REFUND)
    @blp.arguments(RequestRefundRequest())
    @blp.response(201, RefundCommandResponse)
    def post(self, body: dict[str, Any], parcel_id: UUID) -> Any:
        """A refund; the same reference again is the same refund."""
        return on_parcel(parcel_id, on_parcel_call("refunds", body, parcel_id))


@blp.route("/<uuid:parcel_id>/refunds/<string:reference>/approvals")
class RefundApprovals(MethodView):
    @requires(APPROVE)
    @blp.arguments(ApproveRefundRequest())
    @blp.response(201, RefundCommandResponse)
    def post(self, body: dict[str, Any], parcel_id: UUID, reference: str) -> Any:
        """A person other than the requester approves a large refund; it is issued (AM-4).

        Four-eyes compares people: two keys of one owner are one person, and a key
        without an owner cannot approve.
        """
        person = caller().person()
        return on_parcel(parcel_id, lambda led, who, version: led.approve_refund(
            parcel_id, reference, body["occurred_at"], actor=person,
            expected_version=version))
