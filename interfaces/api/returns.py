"""The way back and the end: labels, failures, receipts, inspections, disposals, closures."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask.views import MethodView

from interfaces.api.auth import WRITE, requires
from interfaces.api.catalog import on_parcel_call
from interfaces.api.commands import on_parcel
from interfaces.api.json_body import Blueprint
from interfaces.api.schemas import (
    CloseParcelRequest,
    CommandResponse,
    DisposeParcelRequest,
    InvestigationCommandResponse,
    IssueReturnLabelRequest,
    OpenInvestigationRequest,
    RecordInspectionRequest,
    RecordReceiptRequest,
    RecordReturnFailureRequest,
    ResolveInvestigationRequest,
)

blp = Blueprint("returns", __name__, url_prefix="/v1/parcels",
                description="Return labels, failed returns, receipts, inspections, ends")


@blp.route("/<uuid:parcel_id>/return-labels")
class ReturnLabels(MethodView):
    @requires(WRITE)
    @blp.arguments(IssueReturnLabelRequest())
    @blp.response(201, CommandResponse)
    def post(self, body: dict[str, Any], parcel_id: UUID) -> Any:
        """The seller's return label (AM-1, CD-4)."""
        return on_parcel(parcel_id, on_parcel_call("return-labels", body, parcel_id))


@blp.route("/<uuid:parcel_id>/return-failures")
class ReturnFailures(MethodView):
    @requires(WRITE)
    @blp.arguments(RecordReturnFailureRequest())
    @blp.response(201, CommandResponse)
    def post(self, body: dict[str, Any], parcel_id: UUID) -> Any:
        """The return to the seller failed; TT-5 says who bears the loss."""
        return on_parcel(parcel_id, on_parcel_call("return-failures", body, parcel_id))


@blp.route("/<uuid:parcel_id>/receipts")
class Receipts(MethodView):
    @requires(WRITE)
    @blp.arguments(RecordReceiptRequest())
    @blp.response(201, CommandResponse)
    def post(self, body: dict[str, Any], parcel_id: UUID) -> Any:
        """The seller (or its return warehouse) has the parcel back."""
        return on_parcel(parcel_id, on_parcel_call("receipts", body, parcel_id))


@blp.route("/<uuid:parcel_id>/inspections")
class Inspections(MethodView):
    @requires(WRITE)
    @blp.arguments(RecordInspectionRequest())
    @blp.response(201, CommandResponse)
    def post(self, body: dict[str, Any], parcel_id: UUID) -> Any:
        """The item's condition and whether it goes back to stock (AM-1)."""
        return on_parcel(parcel_id, on_parcel_call("inspections", body, parcel_id))


@blp.route("/<uuid:parcel_id>/disposals")
class Disposals(MethodView):
    @requires(WRITE)
    @blp.arguments(DisposeParcelRequest())
    @blp.response(201, CommandResponse)
    def post(self, body: dict[str, Any], parcel_id: UUID) -> Any:
        """Destroy or abandon the parcel (TT-2 after the hold, TT-5 after a failed return)."""
        return on_parcel(parcel_id, on_parcel_call("disposals", body, parcel_id))


@blp.route("/<uuid:parcel_id>/closures")
class Closures(MethodView):
    @requires(WRITE)
    @blp.arguments(CloseParcelRequest())
    @blp.response(201, CommandResponse)
    def post(self, body: dict[str, Any], parcel_id: UUID) -> Any:
        """Nothing more will happen to this parcel."""
        return on_parcel(parcel_id, on_parcel_call("closures", body, parcel_id))


@blp.route("/<uuid:parcel_id>/investigations")
class Investigations(MethodView):
    @requires(WRITE)
    @blp.arguments(OpenInvestigationRequest())
    @blp.response(201, InvestigationCommandResponse)
    def post(self, body: dict[str, Any], parcel_id: UUID) -> Any:
        """A ticket: false return (TT-6) or a failed return not the seller's fault (TT-5)."""
        return on_parcel(parcel_id, on_parcel_call("investigations", body, parcel_id))


@blp.route("/<uuid:parcel_id>/investigations/<string:investigation_id>/resolutions")
class Resolutions(MethodView):
    @requires(WRITE)
    @blp.arguments(ResolveInvestigationRequest())
    @blp.response(201, CommandResponse)
    def post(self, body: dict[str, Any], parcel_id: UUID, investigation_id: str) -> Any:
        """The platform's finding, and who bears the loss."""
        return on_parcel(parcel_id, lambda led, who, version: led.resolve_investigation(
            parcel_id, investigation_id, body["outcome"], body["liability"],
            body["occurred_at"], actor=who, expected_version=version))
