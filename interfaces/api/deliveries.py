"""Delivery and routing commands on a parcel: attempts, failures, return requests, routes."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask.views import MethodView

from interfaces.api.auth import WRITE, requires
from interfaces.api.catalog import on_parcel_call
from interfaces.api.commands import on_parcel
from interfaces.api.json_body import Blueprint
from interfaces.api.schemas import (
    CommandResponse,
    RecordDeliveryAttemptRequest,
    RecordDeliveryFailureRequest,
    RecordDeliveryRequest,
    RequestRedeliveryRequest,
    RequestReturnRequest,
    RouteResponse,
    RouteReturnRequest,
)

blp = Blueprint("deliveries", __name__, url_prefix="/v1/parcels",
                description="Deliveries, failed deliveries, return requests and routing")


@blp.route("/<uuid:parcel_id>/delivery-attempts")
class DeliveryAttempts(MethodView):
    @requires(WRITE)
    @blp.arguments(RecordDeliveryAttemptRequest())
    @blp.response(201, CommandResponse)
    def post(self, body: dict[str, Any], parcel_id: UUID) -> Any:
        """One failed delivery attempt of the last-mile carrier (TT-7)."""
        return on_parcel(parcel_id, on_parcel_call("delivery-attempts", body, parcel_id))


@blp.route("/<uuid:parcel_id>/delivery-failures")
class DeliveryFailures(MethodView):
    @requires(WRITE)
    @blp.arguments(RecordDeliveryFailureRequest())
    @blp.response(201, CommandResponse)
    def post(self, body: dict[str, Any], parcel_id: UUID) -> Any:
        """The carrier gave up: refused, unreachable, bad address, other."""
        return on_parcel(parcel_id, on_parcel_call("delivery-failures", body, parcel_id))


@blp.route("/<uuid:parcel_id>/deliveries")
class Deliveries(MethodView):
    @requires(WRITE)
    @blp.arguments(RecordDeliveryRequest())
    @blp.response(201, CommandResponse)
    def post(self, body: dict[str, Any], parcel_id: UUID) -> Any:
        """The buyer has the parcel (first delivery or redelivery)."""
        return on_parcel(parcel_id, on_parcel_call("deliveries", body, parcel_id))


@blp.route("/<uuid:parcel_id>/return-requests")
class ReturnRequests(MethodView):
    @requires(WRITE)
    @blp.arguments(RequestReturnRequest())
    @blp.response(201, CommandResponse)
    def post(self, body: dict[str, Any], parcel_id: UUID) -> Any:
        """The buyer asks to send the item back (AM-1, CD-4)."""
        return on_parcel(parcel_id, on_parcel_call("return-requests", body, parcel_id))


@blp.route("/<uuid:parcel_id>/routes")
class Routes(MethodView):
    @requires(WRITE)
    @blp.arguments(RouteReturnRequest())
    @blp.response(201, RouteResponse)
    def post(self, body: dict[str, Any], parcel_id: UUID) -> Any:
        """The ledger decides where the parcel goes back to and who pays (`decision`)."""
        return on_parcel(parcel_id, on_parcel_call("routes", body, parcel_id))


@blp.route("/<uuid:parcel_id>/redelivery-requests")
class RedeliveryRequests(MethodView):
    @requires(WRITE)
    @blp.arguments(RequestRedeliveryRequest())
    @blp.response(201, CommandResponse)
    def post(self, body: dict[str, Any], parcel_id: UUID) -> Any:
        """The buyer asks for another delivery from the warehouse (TT-2; TT-4 refuses)."""
        return on_parcel(parcel_id, on_parcel_call("redelivery-requests", body, parcel_id))
