"""The HTTP API: `create_app(config)` builds a Flask app around one ReturnsLedger."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apispec import BasePlugin
from flask import Flask, Response, abort, request
from flask_smorest import Api

from application.settings import load as load_settings
from interfaces.api import (
    addresses,
    contract,
    corrections,
    deliveries,
    events,
    finance,
    imports,
    json_body,
    orders,
    parcels,
    problems,
    refunds,
    replica,
    reports,
    returns,
    views,
    webhooks,
)
from interfaces.api.audit import blp as audit
from interfaces.api.audit import install as install_checkpoints
from interfaces.api.ledger import (
    EXTENSION,
    SETTINGS_EXTENSION,
    LedgerHolder,
    ledger_overrides,
)
from interfaces.api.observability import Metrics, configure_logging
from interfaces.api.observability import install as install_observability
from interfaces.api.operations import blp as operations
from interfaces.api.schemas import ProblemResponse
from interfaces.web import PREFIX as WEB_PREFIX
from interfaces.web import bp as web_pages

# Commands whose body is a file (a settlement CSV), not JSON.
UPLOADS = frozenset({"/v1/reconciliations", reports.UPLOAD_PATH, "/v1/imports"})
INTAKE_PREFIX = "/v1/intake/"  # pushed deliveries: the body is the source's, as it signed it

# The API's resources; adding one is one line here.
BLUEPRINTS = [
    parcels.blp,
    deliveries.blp,
    returns.blp,
    refunds.blp,
    addresses.blp,
    audit,
    finance.blp,
    reports.blp,
    orders.blp,
    corrections.blp,
    events.blp,
    webhooks.blp,
    imports.blp,
]

DEFAULTS: dict[str, Any] = {
    "API_TITLE": "returns-ledger",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    "OPENAPI_SWAGGER_UI_URL": "/docs/assets/",
    "MAX_CONTENT_LENGTH": 64 * 1024,
    "LOG_LEVEL": "INFO",
    "API_SPEC_OPTIONS": {
        "components": {"securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer",
                           "description": "an API key from `returns-ledger keys create`"}}},
        "security": [{"bearerAuth": []}],
    },
}


class CommandHeaders(BasePlugin):
    """Documents Idempotency-Key on every command and If-Match on parcel commands."""

    def operation_helper(self, path: str | None = None, operations: dict | None = None,
                         **kwargs: Any) -> None:
        for method, operation in (operations or {}).items():
            if method not in ("post", "put"):
                continue
            params = operation.setdefault("parameters", [])
            if (method, path) not in contract.NO_IDEMPOTENCY_KEY:
                params.append(dict(contract.IDEMPOTENCY_KEY_HEADER))
            if path and path.startswith("/v1/parcels/{"):
                params.append(dict(contract.IF_MATCH_HEADER))


class LedgerApi(Api):
    """flask-smorest's Api whose errors are all application/problem+json."""

    ERROR_SCHEMA = ProblemResponse

    def handle_http_exception(self, error: Any) -> Any:
        return problems.http_problem(error)

    def _init_spec(self, *args: Any, **kwargs: Any) -> None:
        super()._init_spec(*args, **kwargs)
        self.ma_plugin.converter.add_attribute_function(contract.nullable_nested)

    def _register_responses(self) -> None:
        self.DEFAULT_RESPONSE_CONTENT_TYPE = problems.PROBLEM_JSON
        try:
            super()._register_responses()
        finally:
            self.DEFAULT_RESPONSE_CONTENT_TYPE = "application/json"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The API app; `config` overrides Flask settings and the ledger's environment."""
    app = Flask(__name__)
    json_body.install(app)  # bodies parsed once, strictly
    app.config.update(DEFAULTS)
    app.config.from_prefixed_env()
    app.config.update(config or {})
    configure_logging(app.config["LOG_LEVEL"])
    # The composition root of the web process: the settings are validated once, here, and
    # the ledger, the views and their runners, and the web pages are built from them.
    settings = load_settings(ledger_overrides(config))
    app.extensions[SETTINGS_EXTENSION] = settings
    metrics = Metrics()
    app.extensions["returns_ledger_metrics"] = metrics
    app.extensions[EXTENSION] = LedgerHolder(settings, metrics.observed_ledger())
    views.install(app)  # view stores, in-process runners (embedded default), lag metrics
    install_checkpoints(app)  # signed audit checkpoints every AUDIT_CHECKPOINT_SECONDS
    replica.install(app)  # queries from a streaming replica, when POSTGRES_READ_HOST is set
    webhooks.install(app)  # the dispatcher's store; the dispatcher itself in-process
    api = LedgerApi(app, spec_kwargs={"extra_plugins": [CommandHeaders(),
                                                        contract.SchemaExtras()]})
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    app.register_blueprint(operations)
    app.register_blueprint(web_pages)
    problems.install(app)
    install_observability(app, metrics)
    app.before_request(_require_json)
    app.after_request(_security_headers)
    return app


def _require_json() -> None:
    """A command body must be JSON (415 otherwise), parsed here once (400 when it does not
    parse); no body at all means {}."""
    if request.method not in ("POST", "PUT", "PATCH") or request.path in UPLOADS \
            or request.path.startswith(INTAKE_PREFIX) \
            or request.path.startswith(WEB_PREFIX + "/"):  # the web pages post forms
        return
    has_body = bool(request.content_length) or "Transfer-Encoding" in request.headers
    if (has_body or request.mimetype) and not request.is_json:
        abort(415, "send the body as application/json")
    json_body.parse_body()


def _security_headers(response: Response) -> Response:
    """Browsers must not guess content types; JSON answers are never cached by proxies."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if response.mimetype in ("application/json", "application/problem+json"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response
