"""Request and response bodies: `<Verb><Noun>Request`, `<Noun>Response`."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from domain.values import (
    Condition,
    DisposalKind,
    FailureReason,
    InvestigationKind,
    Party,
    Platform,
    RefundComponentKind,
    Remedy,
    ReturnFailureCause,
)
from interfaces.api.fields import (
    COUNTRY,
    MAX_INT,
    Choice,
    Flag,
    MoneyField,
    MoneyResponse,
    Pattern,
    Text,
    Timestamp,
    When,
    now,
)


# -- requests ---------------------------------------------------------------------
class CommandRequest(Schema):
    """Every command: when it happened in business time (defaults to now)."""

    occurred_at = When(load_default=now, metadata={"example": "2026-03-04T10:00:00+08:00"})


class LineRequest(Schema):
    sku = Text(64, required=True, metadata={"example": "SKU-MUG"})
    quantity = fields.Integer(required=True, strict=True,
                              validate=validate.Range(min=1, max=100_000),
                              metadata={"example": 2})
    unit_price = MoneyField(required=True, metadata={
        "example": {"amount": "19.90", "currency": "MYR"}})  # 2 x 19.90 = amount_paid (RL-3)


class RegisterParcelRequest(CommandRequest):
    occurred_at = When(load_default=now, metadata={"example": "2026-03-02T09:00:00+08:00"})
    platform = Choice(Platform, required=True, metadata={"example": "tiktok_shop"})
    site = fields.String(required=True, validate=COUNTRY, metadata={"example": "MY"})
    seller_id = Text(required=True, metadata={"example": "seller-my-001"})
    store_id = Text(load_default=None, metadata={"example": "store-kl-01"})
    order_id = Text(64, required=True, metadata={"example": "576461413038785752"})
    order_created_at = When(required=True, metadata={"example": "2026-03-01T20:15:00+08:00"})
    tracking_number = Text(64, load_default=None, allow_none=True, metadata={
        "example": "TTMY00012345",
        "description": "required, except for a Cdiscount parcel by ordinary mail worth at "
                       "most 15 EUR (CD-2); omitted or null then"})
    lines = fields.List(fields.Nested(LineRequest), required=True,
                        validate=validate.Length(min=1, max=200))
    amount_paid = MoneyField(required=True, metadata={
        "example": {"amount": "39.80", "currency": "MYR"},
        "description": "RL-3: what the buyer paid for the goods, shipping excluded; at most "
                       "the lines at their order prices (a discount makes it lower)"})
    shipping_paid = MoneyField(load_default=None, metadata={
        "example": {"amount": "4.90", "currency": "MYR"},
        "description": "the shipping the buyer paid; everything paid (CD-4's full refund) "
                       "is amount_paid + shipping_paid"})
    tracked_shipping = Flag(load_default=False, metadata={"example": True})
    tracking_url = Text(255, load_default=None, metadata={
        "example": "https://track.example.com/TTMY00012345"})
    ready_to_ship_at = When(load_default=None, metadata={"example": "2026-03-02T08:00:00+08:00"})


class RecordDeliveryAttemptRequest(CommandRequest):
    reason = Text(required=True, metadata={"example": "nobody home"})


class RecordDeliveryFailureRequest(CommandRequest):
    reason = Choice(FailureReason, required=True, metadata={"example": "refused"})
    reported_by = Text(50, load_default="carrier", metadata={"example": "carrier"})


class RecordDeliveryRequest(CommandRequest):
    pass


class RequestReturnRequest(CommandRequest):
    reason = Text(required=True, metadata={"example": "arrived damaged"})
    seller_fault = Flag(required=True, metadata={"example": True})
    unconditional = Flag(load_default=False, metadata={"example": False})
    return_shipping_cost = MoneyField(load_default=None, metadata={
        "example": {"amount": "7.50", "currency": "MYR"}})
    outside_window_accepted = fields.Boolean(load_default=False, metadata={
        "description": "AM-5: the seller's explicit decision to accept a request after the "
                       "return window"})


class RouteReturnRequest(CommandRequest):
    remedy = Choice(Remedy, load_default=None, metadata={
        "description": "CD-4 only (Cdiscount parcels); leave it out for the others"})


class RequestRedeliveryRequest(CommandRequest):
    requested_by = fields.String(load_default="buyer", validate=validate.OneOf(
        ["buyer", "seller"]), metadata={"description": "TT-8: who asked; only the buyer "
                                                      "(through the platform) may"})


class IssueReturnLabelRequest(CommandRequest):
    carrier = Text(100, required=True, metadata={"example": "J&T Express"})
    tracking_number = Text(64, required=True, metadata={"example": "JTMY00098765"})
    tracking_url = Text(255, load_default=None, metadata={
        "example": "https://track.example.com/JTMY00098765"})


class RecordReturnFailureRequest(CommandRequest):
    cause = Choice(ReturnFailureCause, required=True, metadata={"example": "wrong_address"})


class RecordReceiptRequest(CommandRequest):
    location = Text(load_default="seller", metadata={"example": "seller"})
    received_by = Text(load_default="seller", metadata={"example": "warehouse desk"})


class RecordInspectionRequest(CommandRequest):
    condition = Choice(Condition, required=True, metadata={"example": "resellable"})
    restock = Flag(load_default=None, metadata={"example": True})


class RefundComponentRequest(Schema):
    kind = Choice(RefundComponentKind, required=True, metadata={"example": "item"})
    amount = MoneyField(positive=True, required=True, metadata={
        "example": {"amount": "19.90", "currency": "MYR"}})


class RequestRefundRequest(CommandRequest):
    reference = Text(100, required=True, metadata={"example": "RF-2026-0001"})
    components = fields.List(fields.Nested(RefundComponentRequest), required=True,
                             validate=validate.Length(min=1, max=10))


class ApproveRefundRequest(CommandRequest):
    pass


class DisposeParcelRequest(CommandRequest):
    kind = Choice(DisposalKind, required=True, metadata={"example": "destroyed"})


class CloseParcelRequest(CommandRequest):
    pass


class OpenInvestigationRequest(CommandRequest):
    kind = Choice(InvestigationKind, required=True, metadata={"example": "failed_return"})


class ResolveInvestigationRequest(CommandRequest):
    outcome = Text(required=True, metadata={"example": "carrier lost the parcel"})
    liability = Choice(Party, required=True, metadata={"example": "provider"})


class AddressRequest(Schema):
    lines = fields.List(Text(200), required=True, validate=validate.Length(min=1, max=5),
                        metadata={"example": ["No. 8, Jalan Example"]})
    city = Text(100, required=True, metadata={"example": "Kuala Lumpur"})
    postcode = Text(20, required=True, metadata={"example": "50000"})


class RegisterReturnAddressRequest(CommandRequest):
    seller_id = Text(required=True, metadata={"example": "seller-my-001"})
    platform = Choice(Platform, required=True, metadata={"example": "tiktok_shop"})
    country = fields.String(required=True, validate=COUNTRY, metadata={"example": "MY"})
    address = fields.Nested(AddressRequest, required=True)
    effective_from = When(required=True, metadata={"example": "2026-01-01T00:00:00+08:00"})
    seller_country = fields.String(load_default=None, validate=COUNTRY,
                                   metadata={"example": "CN"})


class VerifyRealNameRequest(CommandRequest):
    """LZ-1 identity data: sealed at once, never echoed, never logged."""

    name = Text(required=True, load_only=True, metadata={"example": "Li Wei"})
    id_number = Text(64, required=True, load_only=True,
                     metadata={"example": "110101199003071234"})
    document_front = Text(500, required=True, load_only=True,
                          metadata={"example": "docs/id-front-0001.jpg"})
    document_back = Text(500, required=True, load_only=True,
                         metadata={"example": "docs/id-back-0001.jpg"})


class DeactivateReturnAddressRequest(CommandRequest):
    reason = Text(required=True, metadata={"example": "warehouse moved"})


class SetCustomsProfileRequest(CommandRequest):
    seller_id = Text(required=True, metadata={"example": "seller-my-001"})
    sku = Text(64, required=True, metadata={"example": "SKU-CASE"})
    hs_code = fields.String(required=True, validate=Pattern(
        r"^[0-9]{6,10}$", error="must be 6 to 10 digits"), metadata={"example": "392690"})
    declared_name_local = Text(required=True, metadata={"example": "手机壳"})
    declared_name_en = Text(required=True, metadata={"example": "phone case"})
    declared_value = MoneyField(positive=True, required=True, metadata={
        "example": {"amount": "3.50", "currency": "USD"}})
    material = Text(required=True, metadata={"example": "silicone"})
    use = Text(required=True, metadata={"example": "protects a phone"})
    brand = Text(100, required=True, metadata={"example": "no brand"})
    similar_product = Flag(load_default=False, metadata={"example": False})


class ReadQuery(Schema):
    """A query that must see a write: the `position` the command answered."""

    min_position = fields.Integer(load_default=None, validate=validate.Range(min=0, max=MAX_INT))


class HistoryQuery(ReadQuery):
    recorded_before = When(load_default=None)
    version = fields.Integer(load_default=None, validate=validate.Range(min=1, max=MAX_INT))
    occurred_before = When(load_default=None)


class SellerQuery(Schema):
    seller_id = Text(required=True)


# -- responses --------------------------------------------------------------------
class DecisionResponse(Schema):
    destination = fields.String(required=True)
    rule = fields.String(required=True, metadata={"description": "the rule that settled it"})
    rules = fields.List(fields.String(), required=True, metadata={
        "description": "every rule that decided it, in order (e.g. TT-1, TT-3)"})
    free_return = Flag(required=True)
    payer = fields.String(required=True)
    facts = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    address_id = fields.String(allow_none=True)
    hold_until = Timestamp(allow_none=True)
    expected_back_by = Timestamp(allow_none=True)
    remedy = fields.String(allow_none=True)


class RefundComponentResponse(Schema):
    kind = fields.String(required=True)
    amount = fields.Nested(MoneyResponse, required=True)


class RefundResponse(Schema):
    reference = fields.String(required=True)
    status = fields.String(required=True)
    amount = fields.Nested(MoneyResponse, required=True)
    components = fields.List(fields.Nested(RefundComponentResponse), required=True)
    needs_approval = Flag(required=True)
    requested_by = fields.String(required=True)
    requested_at = Timestamp(required=True)
    approved_by = fields.String(allow_none=True)
    approved_at = Timestamp(allow_none=True)
    issued_at = Timestamp(allow_none=True)


class CommandResponse(Schema):
    """Every command answers the parcel's id, version, status and event position."""

    id = fields.UUID(required=True)
    version = fields.Integer(required=True)
    status = fields.String(required=True)
    position = fields.Integer(allow_none=True, required=True)


class RouteResponse(CommandResponse):
    decision = fields.Nested(DecisionResponse, required=True)


class RefundCommandResponse(CommandResponse):
    refund = fields.Nested(RefundResponse, required=True)


class InvestigationCommandResponse(CommandResponse):
    investigation_id = fields.String(required=True)


class LineResponse(Schema):
    sku = fields.String(required=True)
    quantity = fields.Integer(required=True)
    unit_price = fields.Nested(MoneyResponse, required=True)


class ParcelResponse(Schema):
    """A parcel's current state."""

    id = fields.UUID(required=True)
    platform = fields.String(required=True)
    site = fields.String(required=True)
    seller_id = fields.String(required=True)
    store_id = fields.String(allow_none=True)
    order_id = fields.String(required=True)
    order_created_at = Timestamp(required=True)
    tracking_number = fields.String(allow_none=True)
    status = fields.String(required=True)
    version = fields.Integer(required=True)
    lines = fields.List(fields.Nested(LineResponse), required=True)
    amount_paid = fields.Nested(MoneyResponse, required=True)
    shipping_paid = fields.Nested(MoneyResponse, required=True)
    attempts = fields.Integer(required=True)
    destination = fields.String(allow_none=True)
    address_id = fields.String(allow_none=True)
    route_rule = fields.String(allow_none=True)
    payer = fields.String(allow_none=True)
    free_return_used = Flag(required=True)
    hold_until = Timestamp(allow_none=True)
    expected_back_by = Timestamp(allow_none=True)
    label_tracking_number = fields.String(allow_none=True)
    return_failure_cause = fields.String(allow_none=True)
    condition = fields.String(allow_none=True)
    restock = Flag(allow_none=True)
    refunded_total = fields.Nested(MoneyResponse, required=True)
    refunds = fields.List(fields.Nested(RefundResponse), required=True)
    liability = fields.String(allow_none=True)
    investigations = fields.Dict(keys=fields.String(),
                                 values=fields.Dict(keys=fields.String(),
                                                    values=fields.String()))
    registered_at = Timestamp(required=True)
    recorded_at = Timestamp(required=True)
    modified_at = Timestamp(required=True)


class HistoryEventResponse(Schema):
    version = fields.Integer(required=True)
    type = fields.String(required=True)
    recorded_at = Timestamp(required=True)
    occurred_at = Timestamp(allow_none=True)
    actor = fields.String(allow_none=True, metadata={
        "description": "person:<owner>/key:<key id> for an owned key (person:<owner> in "
                       "events recorded before the key was), else the key id, or system"})
    actor_owner = fields.String(metadata={
        "description": "the person who acted; 'unowned' for a key without owner"})
    actor_key_label = fields.String(metadata={"description": "the acting key's label"})
    actor_key_id = fields.String(metadata={
        "description": "the acting key's id; empty for the system and older events"})
    data = fields.Dict(required=True)
    late = fields.Dict(allow_none=True, metadata={
        "description": "set when recorded after an event that happened later"})


class HistoryResponse(Schema):
    id = fields.UUID(required=True)
    view = fields.String(metadata={"description": "recorded, or business (occurred_before)"})
    state = fields.Nested(ParcelResponse, allow_none=True,
                          metadata={"description": "the state these events add up to"})
    events = fields.List(fields.Nested(HistoryEventResponse), required=True)
    damage = fields.List(fields.String(), metadata={
        "description": "versions missing or extra, or an event that does not apply: then no "
                       "state (see /v1/parcels/{id}/verification)"})


class AddressResponse(Schema):
    lines = fields.List(fields.String(), required=True)
    city = fields.String(required=True)
    postcode = fields.String(required=True)


class ReturnAddressResponse(Schema):
    id = fields.UUID(required=True)
    seller_id = fields.String(required=True)
    platform = fields.String(required=True)
    country = fields.String(required=True)
    address = fields.Nested(AddressResponse, required=True)
    effective_from = Timestamp(required=True)
    registered_at = Timestamp(required=True)
    deactivated_at = Timestamp(allow_none=True)
    real_name_status = fields.String(required=True)
    seller_country = fields.String(allow_none=True)
    version = fields.Integer(required=True)


class ReturnAddressListResponse(Schema):
    items = fields.List(fields.Nested(ReturnAddressResponse), required=True)


class CustomsProfileResponse(Schema):
    seller_id = fields.String(required=True)
    sku = fields.String(required=True)
    profile = fields.Dict(required=True)
    similar_product = Flag(required=True)
    version = fields.Integer(required=True)


class ProblemResponse(Schema):
    """RFC 9457 problem details."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    rule = fields.String()
    facts = fields.Dict(keys=fields.String(), values=fields.String())
    errors = fields.Dict()
    instance = fields.String()
