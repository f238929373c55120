"""Sellers' return addresses (TT-1, LZ-1) and SKU customs profiles (LZ-2)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask.views import MethodView
from marshmallow import Schema, fields

from application.idempotency import jsonable
from interfaces.api.auth import READ, WRITE, actor, check_address, check_seller, requires
from interfaces.api.commands import etag, run
from interfaces.api.json_body import Blueprint
from interfaces.api.ledger import ledger
from interfaces.api.schemas import (
    CommandRequest,
    CustomsProfileResponse,
    DeactivateReturnAddressRequest,
    RegisterReturnAddressRequest,
    ReturnAddressListResponse,
    ReturnAddressResponse,
    SellerQuery,
    SetCustomsProfileRequest,
    VerifyRealNameRequest,
)
from interfaces.api.views import scope, view

blp = Blueprint("addresses", __name__, url_prefix="/v1",
                description="Return addresses and SKU customs profiles")

IDENTITY = ("name", "id_number", "document_front", "document_back")


@blp.route("/return-addresses")
class ReturnAddresses(MethodView):
    @requires(WRITE)
    @blp.arguments(RegisterReturnAddressRequest())
    @blp.response(201, ReturnAddressResponse)
    def post(self, body: dict[str, Any]) -> Any:
        """A return address the seller registered on the platform."""
        check_seller(body["seller_id"])
        view = run(lambda: ledger().register_return_address(**body, actor=actor()))
        headers = {**etag(view.version), "Location": f"/v1/return-addresses/{view.id}"}
        return jsonable(view), 201, headers

    @requires(READ)
    @blp.arguments(SellerQuery(), location="query")
    @blp.response(200, ReturnAddressListResponse)
    def get(self, query: dict[str, Any]) -> Any:
        """Every return address a seller ever registered."""
        check_seller(query["seller_id"])
        return {"items": jsonable(ledger().list_return_addresses(query["seller_id"]))}


@blp.route("/return-addresses/<uuid:address_id>/real-name-verifications")
class RealNameVerifications(MethodView):
    @requires(WRITE)
    @blp.arguments(VerifyRealNameRequest())
    @blp.response(201, ReturnAddressResponse)
    def post(self, body: dict[str, Any], address_id: UUID) -> Any:
        """LZ-1: the recipient's identity, sealed at once; never echoed back."""
        check_address(address_id)
        identity = {name: body[name] for name in IDENTITY}
        # Sealing writes the subject's key outside the command's transaction: a retry
        # must not seal again (it would undo an erasure done in between).
        view = run(lambda: ledger().verify_real_name(address_id, identity,
                                                     body["occurred_at"], actor=actor()),
                   effects_outside=True)
        return jsonable(view), 201, etag(view.version)


class ReuseRealNameRequest(CommandRequest):
    verified_address_id = fields.UUID(required=True, metadata={
        "example": "8635c6a2-1b2f-5d1e-9a41-0c3f2e7b9d10",
        "description": "an address of the same seller whose recipient is verified"})


@blp.route("/return-addresses/<uuid:address_id>/real-name-reuses")
class RealNameReuses(MethodView):
    @requires(WRITE)
    @blp.arguments(ReuseRealNameRequest())
    @blp.response(201, ReturnAddressResponse)
    def post(self, body: dict[str, Any], address_id: UUID) -> Any:
        """LZ-1: verify this address with the identity verified for another address of the
        same seller (nothing is sealed again; the identity stays where it is)."""
        check_address(address_id)
        check_address(body["verified_address_id"])
        view = run(lambda: ledger().reuse_real_name(address_id, body["verified_address_id"],
                                                    body["occurred_at"], actor=actor()))
        return jsonable(view), 201, etag(view.version)


@blp.route("/return-addresses/<uuid:address_id>/deactivations")
class Deactivations(MethodView):
    @requires(WRITE)
    @blp.arguments(DeactivateReturnAddressRequest())
    @blp.response(201, ReturnAddressResponse)
    def post(self, body: dict[str, Any], address_id: UUID) -> Any:
        """The seller stops using the address."""
        check_address(address_id)
        view = run(lambda: ledger().deactivate_return_address(
            address_id, body["reason"], body["occurred_at"], actor=actor()))
        return jsonable(view), 201, etag(view.version)


@blp.route("/sku-customs-profiles")
class CustomsProfiles(MethodView):
    @requires(WRITE)
    @blp.arguments(SetCustomsProfileRequest())
    @blp.response(200, CustomsProfileResponse)
    def put(self, body: dict[str, Any]) -> Any:
        """Enter or correct a SKU's customs data (LZ-2); later returns reuse it."""
        return _set_profile(body)

    @requires(WRITE)
    @blp.arguments(SetCustomsProfileRequest())
    @blp.response(200, CustomsProfileResponse)
    def post(self, body: dict[str, Any]) -> Any:
        """The same as PUT, for clients that only POST."""
        return _set_profile(body)


class CustomsWorkQuery(Schema):
    seller_id = fields.String(load_default=None)


class CustomsWorkItem(Schema):
    parcel_id = fields.String(required=True)
    sku = fields.String(required=True)
    seller_id = fields.String(required=True)
    order_id = fields.String(required=True)
    tracking_number = fields.String(allow_none=True, required=True)
    routed_at = fields.String(required=True)
    rule = fields.String(required=True)


class CustomsWorkListResponse(Schema):
    items = fields.List(fields.Nested(CustomsWorkItem), required=True)


@blp.route("/customs-work-list")
class CustomsWorkList(MethodView):
    @requires(READ)
    @blp.arguments(CustomsWorkQuery(), location="query")
    @blp.response(200, CustomsWorkListResponse)
    def get(self, query: dict[str, Any]) -> Any:
        """LZ-2: returns whose SKUs lack customs information (one item per parcel and SKU);
        an item clears when that SKU's profile is set (read from the deadlines view)."""
        sellers = scope(query["seller_id"])
        if query["seller_id"] is not None:
            sellers = (query["seller_id"],)
        return {"items": view("deadlines").customs_worklist(sellers)}


def _set_profile(body: dict[str, Any]) -> Any:
    check_seller(body["seller_id"])
    view = run(lambda: ledger().set_customs_profile(**body, actor=actor()))
    return jsonable(view), etag(view.version)
