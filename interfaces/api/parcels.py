"""Parcels: register one, look it up, read its state and its history."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask.views import MethodView

from application.idempotency import jsonable
from domain.errors import DomainError, ParcelNotFoundError
from domain.values import Platform
from interfaces.api.audit import check_owner, damaged_parcel
from interfaces.api.auth import (
    READ,
    WRITE,
    actor,
    caller,
    check_parcel_view,
    check_seller,
    requires,
    sees_all,
)
from interfaces.api.catalog import COMMANDS
from interfaces.api.commands import answer, etag, run
from interfaces.api.json_body import Blueprint
from interfaces.api.ledger import ledger
from interfaces.api.replica import query_ledger
from interfaces.api.schemas import (
    CommandResponse,
    HistoryQuery,
    HistoryResponse,
    ParcelResponse,
    ReadQuery,
    RegisterParcelRequest,
)
from interfaces.api.views import ParcelListQuery, ParcelPageResponse, list_parcels

blp = Blueprint("parcels", __name__, url_prefix="/v1/parcels",
                description="Register parcels and read their state and history")


@blp.route("")
class Parcels(MethodView):
    @requires(WRITE)
    @blp.arguments(RegisterParcelRequest())
    @blp.response(201, CommandResponse)
    def post(self, body: dict[str, Any]) -> Any:
        """Register a parcel that shipped (201, Location: the parcel)."""
        check_seller(body["seller_id"])
        register = COMMANDS["parcels"].call
        result = run(lambda: register(ledger(), UUID(int=0), body, actor(), None))
        headers = {**etag(result.version), "Location": f"/v1/parcels/{result.id}"}
        return answer(result), 201, headers

    @requires(READ)
    @blp.arguments(ParcelListQuery(), location="query")
    @blp.response(200, ParcelPageResponse)
    def get(self, query: dict[str, Any]) -> Any:
        """Find parcels by tracking number; without one, a page of the tracking view
        (filters, `cursor`/`next_cursor`, `min_position` waits for your last write)."""
        if "tracking_number" not in query:
            return list_parcels(query)
        reads = query_ledger(query.get("min_position"))  # the replica, when configured
        return {"items": [jsonable(p) for p in _find(reads, query["tracking_number"],
                                                     query.get("platform"))]}


@blp.route("/<uuid:parcel_id>")
class ParcelState(MethodView):
    @requires(READ)
    @blp.arguments(ReadQuery(), location="query")
    @blp.response(200, ParcelResponse)
    def get(self, query: dict[str, Any], parcel_id: UUID) -> Any:
        """A parcel's current state (from the read replica when one is configured:
        `min_position` waits until it has replayed your last write)."""
        reads = query_ledger(query.get("min_position"))
        view = check_parcel_view(parcel_id, reads.get_parcel(parcel_id))
        return jsonable(view), etag(view.version)


@blp.route("/<uuid:parcel_id>/history")
class ParcelHistory(MethodView):
    @requires(READ)
    @blp.arguments(HistoryQuery(), location="query")
    @blp.response(200, HistoryResponse)
    def get(self, query: dict[str, Any], parcel_id: UUID) -> Any:
        """Events and state as known then (`recorded_before`, `version`), or by business time."""
        reads = query_ledger(query.pop("min_position", None))
        try:
            version = check_parcel_view(parcel_id, reads.get_parcel(parcel_id)).version
            history = reads.get_parcel_history(parcel_id, **query)
        except DomainError:
            raise
        except Exception as error:  # noqa: BLE001 - damaged stored events: 409, where and why
            if not sees_all():
                check_owner(parcel_id)
            return damaged_parcel(parcel_id, error)
        name = ledger().actor_names()
        events = [{**{k: v for k, v in jsonable(e).items() if k != "late" or v},  # late: set
                   **name(e.actor).columns("actor")} for e in history]
        return {"id": str(parcel_id), "view": history.view, "state": jsonable(history.state),
                "events": events, "damage": list(history.damage)}, etag(version)


def _find(reads: Any, tracking_number: str, platform: str | None) -> list[Any]:
    """At most one parcel per platform has a tracking number; only the key's own show."""
    found = []
    for candidate in [platform] if platform else [p.value for p in Platform]:
        try:
            view = reads.find_parcel(tracking_number, candidate)
        except ParcelNotFoundError:
            continue
        if sees_all() or view.seller_id == caller().seller_id:
            found.append(view)
    return found
