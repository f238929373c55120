"""Helpers of the import tests: canonical files, an app with keys, waiting for an import."""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any

from flask.testing import FlaskClient

from tests.api.conftest import bearer

SELLER = "s1"
TN = "TTMY-IMP-1"
ADDRESS = {"seller_id": SELLER, "platform": "tiktok_shop", "country": "MY",
           "address": {"lines": ["No. 8, Jalan Example"], "city": "Kuala Lumpur",
                       "postcode": "50000"},
           "effective_from": "2026-01-01T00:00:00+08:00",
           "occurred_at": "2026-01-01T00:00:00Z"}
COLUMNS = ("id", "command", "parcel_tracking_number", "parcel_platform", "occurred_at",
           "platform", "site", "seller_id", "order_id", "order_created_at", "tracking_number",
           "lines", "amount_paid", "reason", "reported_by", "location", "carrier")


def registration(tn: str = TN, seller: str = SELLER, line_id: str | None = None
                 ) -> dict[str, Any]:
    price = {"amount": "39.80", "currency": "MYR"}
    return {"id": line_id or f"reg-{tn}", "command": "parcels",
            "occurred_at": "2026-03-02T09:00:00+00:00", "platform": "tiktok_shop",
            "site": "MY", "seller_id": seller, "order_id": f"O-{tn}",
            "order_created_at": "2026-03-01T09:00:00+00:00", "tracking_number": tn,
            "lines": [{"sku": "SKU-MUG", "quantity": 1, "unit_price": price}],
            "amount_paid": price}


def step(command: str, day: int, tn: str = TN, line_id: str | None = None, **body: Any
         ) -> dict[str, Any]:
    """A command on the parcel with this tracking number, on 2026-03-(02 + day)."""
    return {"id": line_id or f"{command}-{tn}-{day}", "command": command,
            "parcel_tracking_number": tn, "parcel_platform": "tiktok_shop",
            "occurred_at": f"2026-03-{2 + day:02d}T09:00:00+00:00", **body}


def lifecycle(tn: str = TN) -> list[dict[str, Any]]:
    """A parcel's true sequence: two failed attempts, a failure, routed back, received."""
    return [registration(tn), step("delivery-attempts", 2, tn, reason="nobody home"),
            step("delivery-attempts", 3, tn, reason="shop closed"),
            step("delivery-failures", 4, tn, reason="refused"),
            step("routes", 5, tn), step("receipts", 9, tn, location="seller")]


def as_csv(records: list[dict[str, Any]], columns: tuple[str, ...] = COLUMNS,
           line_end: str = "\r\n") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=line_end)
    writer.writerow(columns)
    for record in records:
        writer.writerow([_cell(record.get(c)) for c in columns])
    return out.getvalue().encode()


def as_jsonl(records: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def upload(client: FlaskClient, token: str, data: bytes, fmt: str = "canonical",
           mimetype: str = "text/csv") -> Any:
    return client.post(f"/v1/imports?format={fmt}", data=data, content_type=mimetype,
                       headers=bearer(token))


def wait_done(client: FlaskClient, token: str, location: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get(location, headers=bearer(token))
        assert answer.status_code == 200, answer.get_json()
        body = answer.get_json()
        if body["status"] in ("done", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def imported(client: FlaskClient, token: str, data: bytes, **kwargs: Any) -> Any:
    """Upload and wait: the import's final report."""
    answer = upload(client, token, data, **kwargs)
    assert answer.status_code in (200, 202), answer.get_json()
    return wait_done(client, token, answer.headers["Location"])
