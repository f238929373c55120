"""Webhook endpoints: CRUD, secret rotation, delivery log, replay, test; the dispatcher
in-process for the embedded default, and its figures in /metrics."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any
from uuid import UUID

from flask import Flask, abort, current_app, request
from flask.views import MethodView
from marshmallow import Schema, fields, validate
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from application.idempotency import jsonable
from application.webhooks import EndpointWithSecret, WebhookEndpoints, test_body
from domain.api_key import Role
from domain.webhooks import MAX_URL_LENGTH, WebhookEndpointNotFoundError
from infrastructure.view_store import parse_ts
from infrastructure.webhook_store import WebhookStore, open_store, store_env
from interfaces.api.auth import actor, caller, check_seller, requires, sees_all
from interfaces.api.fields import MAX_INT, Flag, Text, now
from interfaces.api.json_body import Blueprint
from interfaces.api.ledger import EXTENSION as LEDGER_EXTENSION
from interfaces.api.ledger import SETTINGS_EXTENSION, ledger
from projections.runners import projection_env
from projections.webhooks import Dispatcher, at_shutdown

blp = Blueprint("webhooks", __name__, url_prefix="/v1/webhook-endpoints",
                description="Signed webhooks of the ledger's events, delivered at least once")
EXTENSION = "returns_ledger_webhooks"
MANAGE = frozenset({Role.CLIENT, Role.ADMIN})
SEE = frozenset({Role.CLIENT, Role.ADMIN, Role.AUDITOR})


class CreateWebhookEndpointRequest(Schema):
    url = fields.String(required=True, validate=validate.Length(min=1, max=MAX_URL_LENGTH),
                        metadata={"description": "https:// (http:// to loopback only when "
                                                 "WEBHOOK_ALLOW_LOOPBACK=yes)",
                                  "example": "https://hooks.example.com/returns-ledger"})
    event_types = fields.List(fields.String(), load_default=list, metadata={
        "description": "the event types to receive (empty: every type)",
        "example": ["ReturnRouted", "RefundIssued"]})
    description = Text(500, load_default=None, metadata={"example": "the ERP's refund feed"})
    enabled = Flag(load_default=True, metadata={"example": True})
    seller_id = Text(load_default=None, metadata={"example": "seller-my-001",
        "description": "admins only: the seller whose events to receive (none: every "
                       "seller's); a client key's endpoint is its own seller's"})


class ChangeWebhookEndpointRequest(Schema):
    url = fields.String(validate=validate.Length(min=1, max=MAX_URL_LENGTH),
                        metadata={"example": "https://hooks.example.com/returns-ledger"})
    event_types = fields.List(fields.String(), metadata={"example": ["RefundIssued"]})
    description = Text(500, allow_none=True, metadata={"example": "refunds only"})
    enabled = Flag(metadata={"example": True})


class WebhookEndpointResponse(Schema):
    id = fields.UUID(required=True)
    seller_id = fields.String(allow_none=True)
    url = fields.String(required=True)
    event_types = fields.List(fields.String(), required=True)
    description = fields.String(allow_none=True)
    enabled = fields.Boolean(required=True)
    disabled_reason = fields.Dict(allow_none=True, metadata={
        "description": "set when the ledger disabled it (WH-1), with the facts"})
    previous_secret_valid_until = fields.String(allow_none=True)
    created_at = fields.String(required=True)
    version = fields.Integer(required=True)


class WebhookEndpointWithSecretResponse(WebhookEndpointResponse):
    secret = fields.String(required=True, metadata={
        "description": "whsec_...: shown this once; verify signatures with it"})


class WebhookEndpointListResponse(Schema):
    items = fields.List(fields.Nested(WebhookEndpointResponse), required=True)


class DeliveriesQuery(Schema):
    before = fields.Integer(load_default=None, validate=validate.Range(min=0, max=MAX_INT), metadata={
        "description": "deliveries of events before this position (the next page)"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class AttemptResponse(Schema):
    attempt = fields.Integer(required=True)
    started_at = fields.String(required=True)
    duration_ms = fields.Float(required=True)
    status_code = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    outcome = fields.String(required=True, metadata={"description": "delivered, retry or "
                                                                    "failed"})


class DeliveryResponse(Schema):
    webhook_id = fields.String(required=True)
    position = fields.Integer(allow_none=True, metadata={"description": "the event's id in "
                                                                        "the feed"})
    event_type = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "pending, delivered or "
                                                                   "failed"})
    attempts = fields.Integer(required=True)
    created_at = fields.String(required=True)
    next_attempt_at = fields.String(allow_none=True)
    delivered_at = fields.String(allow_none=True)
    last_status = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    attempt_log = fields.List(fields.Nested(AttemptResponse), required=True)


class DeliveryPageResponse(Schema):
    items = fields.List(fields.Nested(DeliveryResponse), required=True)
    next_before = fields.Integer(allow_none=True)


class ReplayQuery(Schema):
    from_ = fields.Integer(required=True, data_key="from", validate=validate.Range(min=0, max=MAX_INT),
                           metadata={"description": "send again every delivery of an "
                                                    "event after this position"})


class ReplayResponse(Schema):
    requeued = fields.Integer(required=True)


class TestDeliveryResponse(Schema):
    webhook_id = fields.String(required=True)


# -- the app's webhook parts --------------------------------------------------------------
class WebhooksHolder:
    """The dispatcher's store, opened for reading, and the in-process dispatcher."""

    def __init__(self, env: dict[str, str], in_process: bool) -> None:
        self.env = env
        self.in_process = in_process
        self.dispatcher: Dispatcher | None = None
        self._store: WebhookStore | None = None
        self._lock = threading.Lock()

    def store(self) -> WebhookStore:
        with self._lock:
            if self._store is None:
                self._store = open_store(store_env(projection_env(self.env)))
            return self._store

    def start_in_process(self, settings: Any) -> None:
        with self._lock:
            if self.dispatcher is None:
                self.dispatcher = Dispatcher(settings).start()
                at_shutdown(self.dispatcher.stop)

    def close(self) -> None:
        with self._lock:
            if self.dispatcher is not None:
                self.dispatcher.stop()
                self.dispatcher = None
            if self._store is not None:
                self._store.datastore.close()
                self._store = None


class WebhookFigures:
    """Prometheus collector: attempts by outcome, pending deliveries and queue age."""

    def __init__(self, holder: WebhooksHolder) -> None:
        self.holder = holder

    def collect(self) -> Iterator[Any]:
        try:
            store = self.holder.store()
            counts, queues = store.counts(), store.queue_stats()
        except Exception:  # noqa: BLE001 - /metrics must answer while the store is away
            return
        attempts = CounterMetricFamily("webhook_attempts", "Webhook delivery attempts by "
                                       "outcome (delivered, retry, failed)",
                                       labels=["endpoint", "outcome"])
        for row in counts:
            attempts.add_metric([row["endpoint_id"], row["outcome"]], row["n"])
        pending = GaugeMetricFamily("webhook_pending_deliveries", "Deliveries not yet "
                                    "settled", labels=["endpoint"])
        age = GaugeMetricFamily("webhook_queue_age_seconds", "Age of the oldest pending "
                                "delivery", labels=["endpoint"])
        current = now()
        for row in queues:
            pending.add_metric([row["endpoint_id"]], row["pending"])
            oldest = parse_ts(row["oldest"])
            age.add_metric([row["endpoint_id"]],
                           max((current - oldest).total_seconds(), 0.0) if oldest else 0.0)
        yield attempts
        yield pending
        yield age


def install(app: Flask) -> WebhooksHolder:
    """Keep the webhook store in the app; start the dispatcher with the first request when
    it runs in this process (WEBHOOK_IN_PROCESS; never under TESTING unless set)."""
    settings = app.extensions[SETTINGS_EXTENSION]
    explicit = "WEBHOOK_IN_PROCESS" in settings.env
    in_process = settings.webhooks.in_process and (explicit or not app.testing)
    holder = WebhooksHolder(dict(settings.env), in_process)
    app.extensions[EXTENSION] = holder
    metrics = app.extensions.get("returns_ledger_metrics")
    if metrics is not None:
        metrics.registry.register(WebhookFigures(holder))

    @app.before_request
    def _start_dispatcher() -> None:
        if holder.in_process and holder.dispatcher is None:
            app.extensions[LEDGER_EXTENSION].get()  # the store exists before the runner
            holder.start_in_process(settings)

    return holder


def holder() -> WebhooksHolder:
    return current_app.extensions[EXTENSION]


def use_cases() -> WebhookEndpoints:
    return WebhookEndpoints(ledger())


def visible(endpoint_id: UUID) -> Any:
    """The endpoint, if the key may see it (another seller's is a 404)."""
    view = use_cases().view(endpoint_id)
    if not sees_all() and view.seller_id != caller().seller_id:
        raise WebhookEndpointNotFoundError(endpoint_id)
    return view


def no_replay() -> None:
    """An answer carrying a secret is not kept for a retry, so it cannot be replayed."""
    if request.headers.get("Idempotency-Key") is not None:
        abort(400, "this answer carries a secret shown once: it is never stored, so an "
                   "Idempotency-Key cannot replay it; send the request without one")


def with_secret(made: EndpointWithSecret) -> dict[str, Any]:
    return {**jsonable(made.endpoint), "secret": made.secret}


# -- the resources ------------------------------------------------------------------------
@blp.route("")
class Endpoints(MethodView):
    @requires(MANAGE)
    @blp.arguments(CreateWebhookEndpointRequest())
    @blp.response(201, WebhookEndpointWithSecretResponse)
    def post(self, body: dict[str, Any]) -> Any:
        """Create an endpoint; its signing secret is in this answer only."""
        no_replay()
        seller = body["seller_id"] if sees_all() else caller().seller_id
        if body["seller_id"] is not None:
            check_seller(body["seller_id"])
        made = use_cases().create(seller_id=seller, url=body["url"],
                                  types=body["event_types"], description=body["description"],
                                  enabled=body["enabled"], occurred_at=now(), actor=actor())
        return with_secret(made), 201, {"Location": f"{blp.url_prefix}/{made.endpoint.id}"}

    @requires(SEE)
    @blp.response(200, WebhookEndpointListResponse)
    def get(self) -> Any:
        """The endpoints the key may see."""
        sellers = None if sees_all() else (str(caller().seller_id),)
        return {"items": jsonable(use_cases().list_endpoints(sellers))}


@blp.route("/<uuid:endpoint_id>")
class Endpoint(MethodView):
    @requires(SEE)
    @blp.response(200, WebhookEndpointResponse)
    def get(self, endpoint_id: UUID) -> Any:
        """One endpoint (never its secret)."""
        return jsonable(visible(endpoint_id))

    @requires(MANAGE)
    @blp.arguments(ChangeWebhookEndpointRequest())
    @blp.response(200, WebhookEndpointResponse)
    def patch(self, body: dict[str, Any], endpoint_id: UUID) -> Any:
        """Change the url, the event types, the description or enabled."""
        visible(endpoint_id)
        return jsonable(use_cases().change(endpoint_id, body, now(), actor()))

    @requires(MANAGE)
    @blp.response(204)
    def delete(self, endpoint_id: UUID) -> Any:
        """Delete the endpoint: nothing more is sent to it."""
        visible(endpoint_id)
        use_cases().delete(endpoint_id, now(), actor())
        return "", 204


@blp.route("/<uuid:endpoint_id>/secret-rotations")
class SecretRotations(MethodView):
    @requires(MANAGE)
    @blp.response(201, WebhookEndpointWithSecretResponse)
    def post(self, endpoint_id: UUID) -> Any:
        """A new secret (in this answer only); the old one signs too during the grace
        period (WEBHOOK_SECRET_GRACE_HOURS)."""
        no_replay()
        visible(endpoint_id)
        return with_secret(use_cases().rotate_secret(endpoint_id, now(), actor())), 201


@blp.route("/<uuid:endpoint_id>/deliveries")
class Deliveries(MethodView):
    @requires(SEE)
    @blp.arguments(DeliveriesQuery(), location="query")
    @blp.response(200, DeliveryPageResponse)
    def get(self, query: dict[str, Any], endpoint_id: UUID) -> Any:
        """The delivery log, newest first, with every attempt's status, duration and error."""
        visible(endpoint_id)
        rows = holder().store().deliveries(str(endpoint_id), query["before"], query["limit"])
        last = rows[-1]["seq"] if len(rows) == query["limit"] else None
        return {"items": rows, "next_before": last}


@blp.route("/<uuid:endpoint_id>/replay")
class Replay(MethodView):
    @requires(MANAGE)
    @blp.arguments(ReplayQuery(), location="query")
    @blp.response(202, ReplayResponse)
    def post(self, query: dict[str, Any], endpoint_id: UUID) -> Any:
        """Send again, in order and with the same webhook-id, every event delivery after
        `from`."""
        visible(endpoint_id)
        return {"requeued": holder().store().replay(str(endpoint_id), query["from_"])}


@blp.route("/<uuid:endpoint_id>/test")
class TestDelivery(MethodView):
    @requires(MANAGE)
    @blp.response(202, TestDeliveryResponse)
    def post(self, endpoint_id: UUID) -> Any:
        """Send a signed `WebhookTest` message (it shows in the delivery log)."""
        visible(endpoint_id)
        webhook_id = f"msg_test_{uuid.uuid4().hex}"
        at = now()
        holder().store().add_test(str(endpoint_id), webhook_id,
                                  test_body(endpoint_id, webhook_id, at), at)
        return {"webhook_id": webhook_id}
