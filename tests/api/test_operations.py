"""Operators: health, readiness, Prometheus metrics, request ids and JSON logs."""

from __future__ import annotations

import io
import json
import logging

from interfaces.api.observability import JsonFormatter
from tests.api.conftest import bearer, parcel_body, post


def test_health_and_readiness(client) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["status"] == "ready"


def test_metrics_count_requests_latency_and_events(client, keys) -> None:
    post(client, keys.client, "/v1/parcels", parcel_body())
    post(client, keys.client, "/v1/parcels", parcel_body())  # a duplicate: 409
    text = client.get("/metrics").get_data(as_text=True)
    assert ('http_requests_total{endpoint="/v1/parcels",method="POST",status="201"} 1.0'
            in text)
    assert ('http_requests_total{endpoint="/v1/parcels",method="POST",status="409"} 1.0'
            in text)
    assert 'http_request_duration_seconds_bucket{endpoint="/v1/parcels"' in text
    assert 'ledger_events_appended_total{type="ParcelRegistered"} 1.0' in text


def test_request_id_goes_in_and_out_and_into_the_log(client, keys) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("returns_ledger")
    logger.addHandler(handler)
    try:
        given = client.get("/healthz", headers={"X-Request-Id": "req-42.a"})
        made = client.get("/healthz", headers={"X-Request-Id": "bad id with spaces"})
        post(client, keys.client, "/v1/parcels?x=1", parcel_body())
    finally:
        logger.removeHandler(handler)
    assert given.headers["X-Request-Id"] == "req-42.a"
    assert len(made.headers["X-Request-Id"]) == 32
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["request_id"] == "req-42.a" and lines[0]["status"] == 200
    assert lines[2]["key_id"] == keys.ids["client"] and lines[2]["path"] == "/v1/parcels"
    assert keys.client not in stream.getvalue()


def test_a_command_without_body_uses_now(client, keys) -> None:
    parcel = post(client, keys.client, "/v1/parcels", parcel_body()).get_json()["id"]
    response = client.post(f"/v1/parcels/{parcel}/deliveries", headers=bearer(keys.client))
    assert response.status_code == 201 and response.get_json()["status"] == "delivered"
