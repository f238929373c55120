"""The views behind the API: opened once per app, read-your-writes, lag in /metrics.

`install(app)` keeps a ViewsHolder in the app, starts the in-process runners and the TT-2
hold-expiry timer with the first request when the embedded default wants them
(PROJECTIONS_IN_PROCESS, default yes on SQLite, no on PostgreSQL and under TESTING), and adds
`projection_position` / `projection_lag` gauges to the app's Prometheus registry.

With a streaming replica (POSTGRES_READ_HOST, infrastructure/replica.py) the queries read the
views' tables on the replica (the runners write them on the primary; streaming copies them),
while the runners, /metrics and /readyz keep to the primary's. A read with `min_position`
then waits for the replica to replay that position (else 503 `replica-behind`), then for the
view there to have applied it (else flagged `caught_up: false`, as on the primary).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

from eventsourcing.utils import strtobool
from flask import Flask, Response, current_app, g, jsonify, request
from marshmallow import Schema, fields, validate
from prometheus_client.core import GaugeMetricFamily

from domain.values import Platform, Status
from infrastructure.replica import replica_env
from interfaces.api.auth import caller, check_seller, sees_all
from interfaces.api.fields import COUNTRY, MAX_INT, Choice, Text, When
from interfaces.api.ledger import EXTENSION as LEDGER_EXTENSION
from interfaces.api.ledger import SETTINGS_EXTENSION
from interfaces.api.problems import problem
from interfaces.api.replica import EXTENSION as REPLICA_EXTENSION
from interfaces.api.replica import ReplicaBehindError, position_not_recorded
from projections.embedded import EmbeddedProjections, runs_in_process, start_embedded
from projections.service import ViewStores
from projections.tracking import ParcelQuery

EXTENSION = "returns_ledger_views"
DEFAULT_WAIT = 5.0  # seconds a read with min_position waits for its view (VIEW_WAIT_SECONDS)
TESTING_WAIT = 0.2  # under TESTING, unless VIEW_WAIT_SECONDS says otherwise


class ViewsHolder:
    """The app's view stores and, for the embedded default, its in-process runners."""

    def __init__(self, env: Mapping[str, str], in_process: bool, wait: float,
                 read_env: Mapping[str, str] | None = None) -> None:
        self.env = dict(env)
        self.in_process = in_process
        self.wait = wait
        self.read_env = dict(read_env) if read_env is not None else None
        self._stores: ViewStores | None = None
        self._read_stores: ViewStores | None = None
        self.embedded: EmbeddedProjections | None = None
        self._lock = threading.Lock()

    def stores(self) -> ViewStores:
        with self._lock:
            if self._stores is None:
                self._stores = ViewStores(self.env)
            return self._stores

    def read_stores(self) -> ViewStores:
        """The views the queries read: the replica's when one is configured."""
        if self.read_env is None:
            return self.stores()
        with self._lock:
            if self._read_stores is None:
                self._read_stores = ViewStores(self.read_env)
            return self._read_stores

    def start_in_process(self, ledger: Any) -> None:
        """Start the runners and the hold-expiry timer once, if this app runs them."""
        if not self.in_process or self.embedded is not None:
            return
        stores = self.stores()
        with self._lock:
            if self.embedded is None:
                self.embedded = start_embedded(ledger, self.env, stores)

    def close(self) -> None:
        with self._lock:
            if self.embedded is not None:
                self.embedded.stop()
                self.embedded = None
            for stores in (self._stores, self._read_stores):
                if stores is not None:
                    stores.close()
            self._stores = self._read_stores = None


class ViewLag:
    """Prometheus collector: each view's position in the notification log and its lag."""

    def __init__(self, holder: ViewsHolder) -> None:
        self.holder = holder

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            positions = self.holder.stores().positions()
        except Exception:  # noqa: BLE001 - /metrics must answer while the store is away
            return
        position = GaugeMetricFamily("projection_position", "Last event applied to the view",
                                     labels=["view"])
        lag = GaugeMetricFamily("projection_lag", "Events recorded but not yet in the view",
                                labels=["view"])
        for name, (at, behind) in positions.items():
            position.add_metric([name], at)
            lag.add_metric([name], behind)
        yield position
        yield lag


def install(app: Flask) -> ViewsHolder:
    """Keep the views in the app; start in-process runners with the first request."""
    env = dict(app.extensions[SETTINGS_EXTENSION].env)  # validated once, by create_app
    explicit = app.config.get("PROJECTIONS_IN_PROCESS", env.get("PROJECTIONS_IN_PROCESS"))
    if explicit is not None:
        in_process = bool(strtobool(str(explicit)))
    else:
        in_process = not app.testing and runs_in_process(env)
    default_wait = TESTING_WAIT if app.testing else DEFAULT_WAIT
    configured = app.config.get("VIEW_WAIT_SECONDS", env.get("VIEW_WAIT_SECONDS"))
    wait = float(default_wait if configured is None else configured)
    holder = ViewsHolder(env, in_process, wait, replica_env(env))
    app.extensions[EXTENSION] = holder
    metrics = app.extensions.get("returns_ledger_metrics")
    if metrics is not None:
        metrics.registry.register(ViewLag(holder))

    @app.before_request
    def _start_views() -> None:
        if holder.in_process and holder.embedded is None:
            holder.start_in_process(app.extensions[LEDGER_EXTENSION].get())

    @app.after_request
    def _flag_lag(response: Response) -> Response:
        if "view_caught_up" in g:
            response.headers["X-View-Caught-Up"] = "true" if g.view_caught_up else "false"
        return response

    return holder


def holder() -> ViewsHolder:
    return current_app.extensions[EXTENSION]


def view(name: str) -> Any:
    """A view to query (on the replica when one is configured); 503 when it does not belong
    to the event store (rebuild it)."""
    return holder().read_stores().checked_view(name)


def freshness(name: str, min_position: int | None) -> tuple[bool, Response | None]:
    """Read-your-writes: wait (bounded) until the view has applied min_position.

    Answers whether it has (`caught_up`: the reply is flagged, never refused, when it has not)
    and, for a position the ledger has not recorded, a 409 problem to send instead (the
    request is well formed: the log has not got that far). On a replica it first waits for
    the replica to replay the position (ReplicaBehindError, a 503, when it does not in time).
    """
    if min_position is None:
        return True, None
    views = holder()
    replica = current_app.extensions.get(REPLICA_EXTENSION)
    if views.read_env is not None and replica is not None:
        if not replica.wait_for(min_position):  # not replayed: not recorded, or behind
            head = views.stores().head()
            if min_position > head:
                return False, position_not_recorded(head, min_position, view=name)
            raise ReplicaBehindError(min_position, replica.replayed_position())
    else:
        head = views.stores().head()
        if min_position > head:
            return False, position_not_recorded(head, min_position, view=name)
    caught_up = views.read_stores().caught_up(name, min_position, views.wait)
    g.view_caught_up = caught_up and g.get("view_caught_up", True)
    return caught_up, None


def scope(seller_id: str | None = None) -> tuple[str, ...] | None:
    """The key's seller scope (None: every seller); naming another seller is a 403."""
    if seller_id is not None:
        check_seller(seller_id)
    if sees_all():
        return None
    own = caller().seller_id  # a key that does not see all has a seller
    return (own,) if own is not None else ()


class ParcelListQuery(Schema):
    """GET /v1/parcels: a tracking-number look-up, or a page of the tracking view."""

    tracking_number = Text(64)
    platform = Choice(Platform, load_default=None)
    seller_id = Text()
    site = fields.String(validate=COUNTRY)
    status = Choice(Status)
    registered_from = When()
    registered_to = When()
    cursor = fields.String(validate=validate.Length(max=400))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))
    min_position = fields.Integer(validate=validate.Range(min=1, max=MAX_INT))
    timeline = fields.Boolean(load_default=False)


class ParcelPageResponse(Schema):
    """GET /v1/parcels: look-up matches, or a page of the tracking view and its position."""

    items = fields.List(fields.Dict(), required=True)
    next_cursor = fields.String(allow_none=True)
    position = fields.Integer()
    caught_up = fields.Boolean(metadata={"description": "false: the view had not reached "
                                                        "min_position within the wait"})


def list_parcels(query: Mapping[str, Any]) -> Response:
    """A page of parcels from the tracking view, newest registrations last, with next_cursor."""
    caught_up, refused = freshness("tracking", query.get("min_position"))
    if refused is not None:
        return refused
    try:
        rows, cursor = view("tracking").find(ParcelQuery(
            seller_id=query.get("seller_id"), platform=query.get("platform"),
            site=query.get("site"), status=query.get("status"),
            registered_from=query.get("registered_from"),
            registered_to=query.get("registered_to"), cursor=query.get("cursor"),
            limit=query["limit"], timeline=query["timeline"],
            sellers=scope(query.get("seller_id"))))
    except ValueError as error:  # a cursor that is not ours
        return problem(422, "invalid-value", str(error), facts={"field": "cursor"})
    position = view("tracking").max_tracking_id("ReturnsLedger") or 0
    return jsonify({"items": rows, "next_cursor": cursor, "position": position,
                    "caught_up": caught_up})


def wants_csv() -> bool:
    return request.args.get("format") == "csv" or (
        request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv")
