"""Request ids, structured JSON logs and Prometheus metrics; no personal data, no keys."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram

from application.ledger import ReturnsLedger

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
log = logging.getLogger("returns_ledger.api")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
                 "level": record.levelname, "logger": record.name,
                 "message": record.getMessage(), **getattr(record, "fields", {})}
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for the service's own loggers (once per process)."""
    root = logging.getLogger("returns_ledger")
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
        root.propagate = False
    root.setLevel(level)


class Metrics:
    """The app's own registry: requests by endpoint and status, latency, events by type."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("http_requests", "HTTP requests answered",
                                ["endpoint", "method", "status"], registry=self.registry)
        self.latency = Histogram("http_request_duration_seconds", "Time to answer",
                                 ["endpoint", "method"], registry=self.registry)
        self.events = Counter("ledger_events_appended", "Events appended to the store",
                              ["type"], registry=self.registry)

    def observed_ledger(self) -> type[ReturnsLedger]:
        """The ledger class that counts every event it appends, by type."""
        events = self.events

        class ObservedLedger(ReturnsLedger):
            name = ReturnsLedger.name

            def __init__(self, env: Any = None) -> None:
                super().__init__(env)
                self.save_listeners.append(self._count)

            @staticmethod
            def _count(recordings: list[Any]) -> None:
                for recording in recordings:
                    events.labels(type(recording.domain_event).__name__).inc()

        return ObservedLedger


def install(app: Flask, metrics: Metrics) -> None:
    """Request id in and out, one log line and the metrics for every request."""

    @app.before_request
    def start() -> None:
        incoming = request.headers.get("X-Request-Id", "")
        g.request_id = incoming if REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def finish(response: Response) -> Response:
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.requests.labels(endpoint, request.method, str(response.status_code)).inc()
        metrics.latency.labels(endpoint, request.method).observe(elapsed)
        response.headers["X-Request-Id"] = g.get("request_id", "")
        key = g.get("api_key")
        log.info("request", extra={"fields": {
            "request_id": g.get("request_id"), "method": request.method,
            "path": request.path, "endpoint": endpoint, "status": response.status_code,
            "duration_ms": round(elapsed * 1000, 2),
            "key_id": str(key.id) if key else None}})
        return response
