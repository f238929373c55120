"""RL-2 over HTTP: void a parcel registered by mistake, correct a field recorded wrongly."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask.views import MethodView
from marshmallow import ValidationError, fields

from domain.errors import InvalidValueError
from domain.parcel_corrections import CORRECTABLE, MONEY_FIELDS
from domain.values import Line
from interfaces.api.auth import WRITE, requires
from interfaces.api.commands import on_parcel
from interfaces.api.fields import Choice, MoneyRequest, Text, When
from interfaces.api.json_body import Blueprint
from interfaces.api.schemas import CommandRequest, CommandResponse, LineRequest

blp = Blueprint("corrections", __name__, url_prefix="/v1/parcels",
                description="Corrections as events (RL-2): voids and field corrections")


class VoidParcelRequest(CommandRequest):
    reason = Text(required=True, metadata={"example": "test parcel registered by mistake"})


class CorrectFieldRequest(CommandRequest):
    field = Choice(CORRECTABLE, required=True, metadata={"example": "store_id"})
    value = fields.Raw(required=True, allow_none=True, metadata={
        "example": "store-kl-02",
        "description": "the right value: money as {amount, currency} for amount_paid and "
                       "shipping_paid, ISO 8601 with a zone for order_created_at, the "
                       "lines as at registration ([{sku, quantity, unit_price}], held to "
                       "RL-3 and CD-2) for lines, else text"})
    reason = Text(required=True, metadata={"example": "the order came from the KL-02 store"})


class CorrectionResponse(CommandResponse):
    corrects_version = fields.Integer(required=True)


def _value(field: str, raw: Any) -> Any:
    """The wire value as the domain takes it; a malformed one is a 422 on `value`."""
    try:
        if field in MONEY_FIELDS:
            return MoneyRequest().load(raw)
        if field == "order_created_at":
            return When().deserialize(raw)
        if field == "lines":
            if not isinstance(raw, list) or not 1 <= len(raw) <= 200:
                raise InvalidValueError("value", "the lines: a list of 1 to 200 "
                                        "{sku, quantity, unit_price}")
            loaded = LineRequest(many=True).load(raw)
            return [Line(line["sku"], line["quantity"], line["unit_price"]) for line in loaded]
    except ValidationError as error:
        raise InvalidValueError("value", f"{error.messages}") from None
    if raw is not None and not isinstance(raw, str):
        raise InvalidValueError("value", "must be a string")
    return raw


@blp.route("/<uuid:parcel_id>/voids")
class Voids(MethodView):
    @requires(WRITE)
    @blp.arguments(VoidParcelRequest())
    @blp.response(201, CommandResponse)
    def post(self, body: dict[str, Any], parcel_id: UUID) -> Any:
        """RL-2: the parcel was registered by mistake; it ends and leaves every view (a
        parcel with refunds is not voided: money has its own corrections)."""
        return on_parcel(parcel_id, lambda led, who, version: led.void_parcel(
            parcel_id, body["reason"], body["occurred_at"], actor=who,
            expected_version=version))


class ContactBuyerRequest(CommandRequest):
    pass


class AgreeReplacementRequest(CommandRequest):
    replacement_order_id = Text(64, required=True, metadata={"example": "403-1234567-7654321"})


@blp.route("/<uuid:parcel_id>/buyer-contacts")
class BuyerContacts(MethodView):
    @requires(WRITE)
    @blp.arguments(ContactBuyerRequest())
    @blp.response(201, CommandResponse)
    def post(self, body: dict[str, Any], parcel_id: UUID) -> Any:
        """TT-8: the seller contacted the buyer within the hold (no text is kept)."""
        return on_parcel(parcel_id, lambda led, who, version: led.contact_buyer(
            parcel_id, body["occurred_at"], actor=who, expected_version=version))


@blp.route("/<uuid:parcel_id>/replacements")
class Replacements(MethodView):
    @requires(WRITE)
    @blp.arguments(AgreeReplacementRequest())
    @blp.response(201, CommandResponse)
    def post(self, body: dict[str, Any], parcel_id: UUID) -> Any:
        """AM-6: a replacement for a damaged or mismatched item ends the parcel."""
        return on_parcel(parcel_id, lambda led, who, version: led.agree_replacement(
            parcel_id, body["replacement_order_id"], body["occurred_at"], actor=who,
            expected_version=version))


@blp.route("/<uuid:parcel_id>/corrections")
class Corrections(MethodView):
    @requires(WRITE)
    @blp.arguments(CorrectFieldRequest())
    @blp.response(201, CorrectionResponse)
    def post(self, body: dict[str, Any], parcel_id: UUID) -> Any:
        """RL-2: the right value of a field recorded wrongly, naming the event it corrects."""
        value = _value(body["field"], body["value"])
        return on_parcel(parcel_id, lambda led, who, version: led.correct_parcel(
            parcel_id, body["field"], value, body["reason"], body["occurred_at"], actor=who,
            expected_version=version))
