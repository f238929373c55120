"""For operators: liveness, readiness, Prometheus metrics, and the offline docs assets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flask_swagger_ui
from flask import Blueprint, Response, current_app, send_from_directory
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from interfaces.api.ledger import ledger
from interfaces.api.problems import problem

blp = Blueprint("operations", __name__)

# Swagger UI's own files, shipped inside the flask-swagger-ui package.
SWAGGER_UI_DIST = Path(flask_swagger_ui.__file__).parent / "dist"


@blp.get("/healthz")
def healthz() -> Any:
    """The process is up (says nothing about the store)."""
    return {"status": "ok"}


@blp.get("/readyz")
def readyz() -> Any:
    """The event store answers: ready for traffic."""
    try:
        position = ledger().recorder.max_notification_id()
    except Exception:  # noqa: BLE001 - any failure to reach the store means "not ready"
        return problem(503, "unavailable", "the event store is not reachable",
                       headers={"Retry-After": "5"})
    return {"status": "ready", "position": position}


@blp.get("/metrics")
def metrics() -> Response:
    """Prometheus text exposition of this process's metrics."""
    registry = current_app.extensions["returns_ledger_metrics"].registry
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


@blp.get("/docs/assets/<path:filename>")
def docs_assets(filename: str) -> Response:
    """Swagger UI's files, served from the installed package: the docs work offline."""
    return send_from_directory(SWAGGER_UI_DIST, filename, max_age=3600)
