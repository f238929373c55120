"""Every error as application/problem+json (RFC 9457); domain errors mapped once, here."""

from __future__ import annotations

import http
import logging
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError
from flask import Flask, Response, json
from werkzeug.exceptions import HTTPException

from application.access import ApiKeyNotFoundError
from application.privacy import SealedUnderAnotherKeyError
from domain.api_key import ApiKeyRevokedError
from domain.errors import (
    CustomsProfileNotFoundError,
    DomainError,
    DuplicateAggregateError,
    DuplicateParcelError,
    InvalidValueError,
    InvestigationClosedError,
    InvestigationNotFoundError,
    NoApplicableRuleError,
    NotFoundError,
    ParcelNotFoundError,
    ReturnAddressNotFoundError,
    RuleViolationError,
    TransitionError,
    VersionConflictError,
)
from domain.idempotency import IdempotencyKeyReusedError
from domain.refunds import RefundNotFoundError, RefundReferenceConflictError
from projections.binding import ViewMismatchError

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "urn:returns-ledger:problem:"
log = logging.getLogger("returns_ledger.api")

PROBLEMS: dict[type[Exception], tuple[int, str]] = {
    ParcelNotFoundError: (404, "parcel-not-found"),
    ReturnAddressNotFoundError: (404, "return-address-not-found"),
    CustomsProfileNotFoundError: (404, "customs-profile-not-found"),
    RefundNotFoundError: (404, "refund-not-found"),
    InvestigationNotFoundError: (404, "investigation-not-found"),
    InvestigationClosedError: (409, "investigation-closed"),
    ApiKeyNotFoundError: (404, "api-key-not-found"),
    NotFoundError: (404, "not-found"),
    RuleViolationError: (409, "rule-violation"),
    TransitionError: (409, "invalid-transition"),
    DuplicateParcelError: (409, "duplicate-parcel"),
    DuplicateAggregateError: (409, "concurrent-update"),
    SealedUnderAnotherKeyError: (409, "sealed-under-another-key"),
    RefundReferenceConflictError: (409, "refund-reference-conflict"),
    ApiKeyRevokedError: (409, "api-key-revoked"),
    VersionConflictError: (412, "version-conflict"),
    IdempotencyKeyReusedError: (422, "idempotency-key-reused"),
    NoApplicableRuleError: (422, "no-applicable-rule"),
    InvalidValueError: (422, "invalid-value"),
    DomainError: (422, "unprocessable"),
}

# HTTP errors raised by Flask, werkzeug and flask-smorest, by status.
HTTP_SLUGS = {400: "malformed-request", 401: "unauthenticated", 403: "forbidden",
              404: "not-found", 405: "method-not-allowed", 406: "not-acceptable",
              412: "precondition-failed", 413: "body-too-large",
              415: "unsupported-media-type", 422: "validation-error",
              428: "precondition-required", 503: "unavailable"}


def problem(status: int, slug: str, detail: str | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> Response:
    """One problem+json response."""
    body: dict[str, Any] = {"type": TYPE_BASE + slug, "title": http.HTTPStatus(status).phrase,
                            "status": status}
    if detail:
        body["detail"] = detail
    body.update({k: v for k, v in extra.items() if v is not None})
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    response.headers.update(headers or {})
    return response


def describe(error: DomainError) -> tuple[int, str, str, dict[str, Any]]:
    """A domain error's status, problem type slug, detail and extra members (rule, facts,
    errors): the API's answer, and a refused import line's outcome."""
    status, slug = next(PROBLEMS[c] for c in type(error).__mro__ if c in PROBLEMS)
    if isinstance(error, VersionConflictError) and error.expected is None:
        status, slug = 409, "concurrent-update"  # a race, not a stale If-Match
    extra: dict[str, Any] = {}
    if isinstance(error, RuleViolationError):
        extra = {"rule": error.rule, "facts": error.facts or None}
    elif isinstance(error, TransitionError):  # no rule broke: the state says no
        extra = {"facts": {"status": error.status, "command": error.command}}
    elif isinstance(error, InvalidValueError):
        extra = {"errors": {error.field: [error.detail]}}
        rule = getattr(error, "rule", None)
        if rule:  # RL-3: the field and the rule it breaks
            extra.update(rule=rule, facts=getattr(error, "facts", None) or None)
    return status, slug, error.detail, extra


def domain_problem(error: DomainError) -> Response:
    """The mapped status and type of a domain error, with its rule and facts."""
    status, slug, detail, extra = describe(error)
    return problem(status, slug, detail, **extra)


def http_problem(error: HTTPException) -> Response:
    """Werkzeug's and flask-smorest's errors, validation messages listed per field."""
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    errors = _field_errors(data.get("messages")) if "messages" in data else None
    headers = dict(data.get("headers") or {})
    if status == 405 and hasattr(error, "valid_methods") and error.valid_methods:
        headers["Allow"] = ", ".join(error.valid_methods)
    if status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="returns-ledger"')
    slug = HTTP_SLUGS.get(status, "http-error")
    detail = data.get("message") or error.description
    if status == 422 and errors:
        detail = "the request does not validate: see errors"
    return problem(status, slug, detail, headers=headers, errors=errors)


def _field_errors(messages: Any) -> dict[str, Any]:
    """webargs nests messages by location ({"json": {...}}): flatten to the fields."""
    if not isinstance(messages, dict):
        return {"_request": messages}
    flat: dict[str, Any] = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            flat.update(fields)
        else:
            flat[f"_{location}"] = fields
    return flat


def store_unavailable(error: Exception) -> Response:
    """The event store cannot be reached: try again later, never a 500."""
    first = (str(error).strip().splitlines() or [""])[0]
    log.warning("event store unavailable: %s: %s", type(error).__name__, first)
    return problem(503, "unavailable", "the event store is not reachable; retry later",
                   headers={"Retry-After": "5"})


def views_mismatch(error: ViewMismatchError) -> Response:
    """The views belong to another store, or to a store that lost events: rebuild them."""
    return problem(503, "views-mismatch", str(error), headers={"Retry-After": "30"})


def store_replaced(error: StoreReplacedError) -> Response:
    """The store this process opened was removed or replaced: restart on the right one."""
    log.error("event store replaced: %s", error)
    return problem(503, "store-replaced", str(error), headers={"Retry-After": "30"})


def unexpected(error: Exception) -> Response:
    log.exception("unexpected error")
    return problem(500, "internal-error", "an unexpected error occurred")


def install(app: Flask) -> None:
    """Register the handlers on the app (flask-smorest's HTTP handler is replaced too)."""
    app.register_error_handler(DomainError, domain_problem)
    app.register_error_handler(HTTPException, http_problem)
    for error in (OperationalError, InterfaceError, StoreUnavailableError):
        app.register_error_handler(error, store_unavailable)
    app.register_error_handler(ViewMismatchError, views_mismatch)
    app.register_error_handler(StoreReplacedError, store_replaced)
    app.register_error_handler(Exception, unexpected)


class StoreUnavailableError(Exception):
    """The ledger could not be built because its store is unreachable."""


class StoreReplacedError(Exception):
    """The event store's file was removed or replaced under the running service."""
