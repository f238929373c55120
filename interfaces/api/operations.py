"""For operators: liveness, readiness, Prometheus metrics, and the offline docs assets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flask_swagger_ui
from flask import Blueprint, Response, current_app, send_from_directory
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from interfaces.api.ledger import ledger
from interfaces.api.problems import StoreReplacedError, problem
from interfaces.api.views import EXTENSION as VIEWS_EXTENSION
from projections.runners import VIEWS

blp = Blueprint("operations", __name__)

# Swagger UI's own files, shipped inside the flask-swagger-ui package.
SWAGGER_UI_DIST = Path(flask_swagger_ui.__file__).parent / "dist"


@blp.get("/healthz")
def healthz() -> Any:
    """The process is up (says nothing about the store)."""
    return {"status": "ok"}


def views_mismatched() -> list[str]:
    """The views (of this app's view store) that do not belong to the event store."""
    holder = current_app.extensions.get(VIEWS_EXTENSION)
    if holder is None:
        return []
    try:
        stores = holder.stores()
        problems = {name: stores.mismatch(name) for name in VIEWS}
    except Exception:  # noqa: BLE001 - a view store that cannot be read says nothing here
        return []
    return [f"view {name}: {problem}; run `returns-ledger project rebuild {name}`"
            for name, problem in problems.items() if problem]


@blp.get("/readyz")
def readyz() -> Any:
    """The event store answers: ready for traffic."""
    try:
        current = ledger()
        position = current.recorder.max_notification_id()
        identity = current.recorder.store_identity()
    except StoreReplacedError as error:
        return problem(503, "store-replaced", str(error), headers={"Retry-After": "30"})
    except Exception:  # noqa: BLE001 - any failure to reach the store means "not ready"
        return problem(503, "unavailable", "the event store is not reachable",
                       headers={"Retry-After": "5"})
    if identity != current.store_id:
        return problem(503, "store-replaced", f"the event store is now {identity}, not "
                       f"{current.store_id} that this process opened; restart it",
                       headers={"Retry-After": "30"})
    wrong = views_mismatched()
    if wrong:
        return problem(503, "views-mismatch", "; ".join(wrong), headers={"Retry-After": "30"})
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
