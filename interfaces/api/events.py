"""GET /v1/events: the ledger's events in log order from a cursor, with long polling."""

from __future__ import annotations

import threading
from typing import Any

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validate, validates

from application.events_feed import DEFAULT_LIMIT, KNOWN_TYPES, MAX_LIMIT, MAX_WAIT_SECONDS, EventFeed
from interfaces.api.auth import READ, caller, requires, sees_all
from interfaces.api.fields import MAX_INT, Pattern
from interfaces.api.json_body import Blueprint
from interfaces.api.ledger import ledger

blp = Blueprint("events", __name__, url_prefix="/v1/events",
                description="Everything that happened, in log order, from any position")
FEED_EXTENSION = "returns_ledger_feed"
_feed_lock = threading.Lock()


class EventsQuery(Schema):
    after = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_INT), metadata={
        "description": "answer the events after this position (the `next` of the last "
                       "page; 0: from the start)"})
    limit = fields.Integer(load_default=DEFAULT_LIMIT,
                           validate=validate.Range(min=1, max=MAX_LIMIT))
    # Event type names and commas only, and short enough that the URL fits gunicorn's
    # request line (4094 bytes: a longer one is its 414 page, no problem of ours).
    types = fields.String(load_default=None, validate=[
        validate.Length(max=1000),
        Pattern(r"^[A-Za-z0-9, ]*$", error="comma-separated event type names")], metadata={
        "description": "comma-separated event types, e.g. RefundIssued,ReturnRouted"})
    parcel_id = fields.UUID(load_default=None)
    wait = fields.Float(load_default=0.0, validate=validate.Range(min=0,
                                                                  max=MAX_WAIT_SECONDS),
                        metadata={"description": "seconds to hold an empty answer open "
                                                 "for new events (long polling)"})

    @validates("types")
    def _known(self, value: str | None, **_: Any) -> None:
        unknown = sorted({t for t in _split(value) if t not in KNOWN_TYPES})
        if unknown:
            raise ValidationError(f"unknown event types {unknown}; known: "
                                  f"{', '.join(sorted(KNOWN_TYPES))}")


class EventResponse(Schema):
    id = fields.Integer(required=True, metadata={
        "description": "the event's position in the log: stable, increasing, a cursor"})
    type = fields.String(required=True, metadata={"description": "the event class name"})
    aggregate_type = fields.String(required=True, metadata={
        "description": "parcel, return_address, customs_profile or webhook_endpoint"})
    aggregate_id = fields.UUID(required=True)
    parcel_id = fields.UUID(allow_none=True, metadata={"description": "set for parcels"})
    seller_id = fields.String(allow_none=True)
    version = fields.Integer(required=True)
    recorded_at = fields.String(required=True, metadata={
        "description": "ISO 8601: when the ledger recorded it"})
    occurred_at = fields.String(allow_none=True, metadata={
        "description": "ISO 8601: when it happened (business time)"})
    actor = fields.String(allow_none=True)
    data = fields.Dict(required=True, metadata={
        "description": "the event's data, as in the parcel's history"})


class EventPageResponse(Schema):
    events = fields.List(fields.Nested(EventResponse), required=True)
    next = fields.Integer(required=True, metadata={
        "description": "pass as `after` for the following page (it may be past the last "
                       "event shown, when the events between were not yours)"})
    head = fields.Integer(required=True, metadata={"description": "the log's last position"})


def _split(value: str | None) -> list[str]:
    return [t.strip() for t in (value or "").split(",") if t.strip()]


def feed() -> EventFeed:
    """The app's feed (one per ledger: it remembers whose each aggregate is)."""
    found = current_app.extensions.get(FEED_EXTENSION)
    if found is None:
        with _feed_lock:
            found = current_app.extensions.get(FEED_EXTENSION)
            if found is None:
                found = current_app.extensions[FEED_EXTENSION] = EventFeed(ledger())
    return found


def scope() -> tuple[str, ...] | None:
    """Admins and auditors read every seller's events; other keys their seller's only."""
    return None if sees_all() else (str(caller().seller_id),)


@blp.route("")
class Events(MethodView):
    @requires(READ)
    @blp.arguments(EventsQuery(), location="query")
    @blp.response(200, EventPageResponse)
    def get(self, query: dict[str, Any]) -> Any:
        """Events after `after` in log order (`next` is the cursor); `wait` long-polls."""
        page = feed().wait(query["after"], query["limit"], query["wait"],
                           types=_split(query["types"]), parcel_id=query["parcel_id"],
                           sellers=scope())
        return current_app.json.response({"events": page.events, "next": page.next,
                                          "head": page.head})
