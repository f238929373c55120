"""Bad input: every hostile or malformed request is a clear 4xx problem and stores nothing.

After each request the parcel's version and history and the notification log's last id are
unchanged. Free text that merely looks like SQL or script is data: it is stored verbatim,
never executed, and served back as JSON.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.api.conftest import bearer, issue_keys, make_app, money, parcel_body

SQL = "'; DROP TABLE stored_events; --"
SCRIPT = "<script>alert('x')</script>"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, Any, str]]:
    db = tmp_path_factory.mktemp("bad-input") / "ledger.sqlite3"
    app = make_app({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(db)})
    keys = issue_keys(app)
    answer = app.test_client().post("/v1/parcels", json=parcel_body("BADIN1"),
                                    headers=bearer(keys.client))
    assert answer.status_code == 201
    yield app, keys, answer.get_json()["id"]
    app.extensions["returns_ledger"].close()


def snapshot(app: Flask, client: FlaskClient, keys: Any, parcel: str) -> tuple[Any, ...]:
    ledger = app.extensions["returns_ledger"].get()
    history = client.get(f"/v1/parcels/{parcel}/history", headers=bearer(keys.client))
    return (ledger.recorder.max_notification_id(),
            client.get(f"/v1/parcels/{parcel}", headers=bearer(keys.client)).get_json(),
            history.get_json()["events"])


def with_(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    target = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return changed


REFUND = {"reference": "R-BAD", "components": [{"kind": "item", "amount": money("5.00")}],
          "occurred_at": "2026-03-09T10:00:00+08:00"}
REGISTER = parcel_body("BADIN2")
AMOUNT = ("components", 0, "amount", "amount")
BAD_JSON_BODIES = {
    # money: huge, negative, not a number, not a currency (AM-3 needs exact amounts)
    "huge amount": ("refunds", with_(REFUND, AMOUNT, "9" * 400)),
    "amount with an exponent": ("refunds", with_(REFUND, AMOUNT, "1e400")),
    "negative amount": ("refunds", with_(REFUND, AMOUNT, "-5.00")),
    "too many decimals": ("refunds", with_(REFUND, AMOUNT, "5.001")),
    "NaN amount": ("refunds", with_(REFUND, AMOUNT, "NaN")),
    "Infinity amount": ("refunds", with_(REFUND, AMOUNT, "Infinity")),
    "amount as a JSON number": ("refunds", with_(REFUND, AMOUNT, 5.0)),
    "unknown currency": ("refunds", with_(REFUND, ("components", 0, "amount", "currency"),
                                          "ABC")),
    "SQL as a currency": ("refunds", with_(REFUND, ("components", 0, "amount", "currency"), SQL)),
    "script as a component kind": ("refunds", with_(REFUND, ("components", 0, "kind"), SCRIPT)),
    "huge quantity": ("register", with_(REGISTER, ("lines", 0, "quantity"), 10 ** 30)),
    "negative quantity": ("register", with_(REGISTER, ("lines", 0, "quantity"), -1)),
    "fractional quantity": ("register", with_(REGISTER, ("lines", 0, "quantity"), 1.5)),
    "SQL as a platform": ("register", with_(REGISTER, ("platform",), SQL)),
    "script as a site": ("register", with_(REGISTER, ("site",), SCRIPT)),
    # time: a zone is required; the calendar has limits
    "timestamp without a zone": ("refunds", with_(REFUND, ("occurred_at",),
                                                  "2026-03-09T10:00:00")),
    "date only": ("refunds", with_(REFUND, ("occurred_at",), "2026-03-09")),
    "far past": ("refunds", with_(REFUND, ("occurred_at",), "0001-01-01T00:00:00+14:00")),
    "far future": ("refunds", with_(REFUND, ("occurred_at",), "9999-12-31T23:59:59-14:00")),
    "year 10000": ("refunds", with_(REFUND, ("occurred_at",), "10000-01-01T00:00:00+00:00")),
    "timestamp as a number": ("refunds", with_(REFUND, ("occurred_at",), 1e308)),
    # shape
    "body is a list": ("refunds", [REFUND]),
    "body is a string": ("refunds", SQL),
    "unknown field": ("refunds", {**REFUND, "amount_paid": money("1.00")}),
    "null reference": ("refunds", with_(REFUND, ("reference",), None)),
    "huge reference": ("refunds", with_(REFUND, ("reference",), "R" * 100_000)),
    "control characters": ("refunds", with_(REFUND, ("reference",), "\u0000\u0007")),
}


def refused_storing_nothing(setup: tuple[Flask, Any, str],
                            send: Callable[[FlaskClient, str, dict[str, str]], Any]) -> Any:
    """Send one bad request: it must be a 4xx problem and leave the store as it was."""
    app, keys, parcel = setup
    client = app.test_client()
    before = snapshot(app, client, keys, parcel)
    answer = send(client, parcel, bearer(keys.client))
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.get_data(as_text=True))
    assert answer.mimetype == "application/problem+json"
    assert snapshot(app, client, keys, parcel) == before
    return answer


def target(kind: str, parcel: str) -> str:
    return "/v1/parcels" if kind == "register" else f"/v1/parcels/{parcel}/refunds"


@pytest.mark.parametrize("case", sorted(BAD_JSON_BODIES))
def test_bad_values_are_a_4xx_problem_and_store_nothing(setup, case) -> None:
    kind, body = BAD_JSON_BODIES[case]
    answer = refused_storing_nothing(setup, lambda client, parcel, auth: client.post(
        target(kind, parcel), json=body, headers=auth))
    assert answer.get_json()["status"] == answer.status_code


RAW_BODIES = {
    "oversized body": (b'{"reference": "' + b"x" * (70 * 1024) + b'"}', 413),
    "deeply nested JSON": (b'{"reference": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400),
    "invalid UTF-8": (b'{"reference": "R-\xff\xfe", "components": []}', 400),
    "truncated JSON": (b'{"reference": "R-1", "compo', 400),
    "NaN literal": (b'{"reference": "R-1", "components": [{"kind": "item", "amount": '
                    b'{"amount": NaN, "currency": "MYR"}}]}', 400),
    "Infinity literal": (b'{"reference": "R-1", "components": [{"kind": "item", "amount": '
                         b'{"amount": Infinity, "currency": "MYR"}}]}', 400),
    "duplicate keys": (b'{"reference": "R-1", "reference": "R-2", "components": []}', 400),
}


@pytest.mark.parametrize("case", sorted(RAW_BODIES))
def test_malformed_bodies_are_a_4xx_problem_and_store_nothing(setup, case) -> None:
    raw, status = RAW_BODIES[case]
    answer = refused_storing_nothing(setup, lambda client, parcel, auth: client.post(
        f"/v1/parcels/{parcel}/refunds", data=raw,
        headers={**auth, "Content-Type": "application/json"}))
    assert answer.status_code == status or status == 400


HOSTILE_REQUESTS = {
    "SQL as a parcel id": ("POST", f"/v1/parcels/{SQL}/receipts", {}),
    "script as a parcel id": ("GET", f"/v1/parcels/{SCRIPT}", {}),
    "SQL as an Idempotency-Key": ("POST", "/v1/parcels/{p}/receipts",
                                  {"Idempotency-Key": "a b" + SQL}),
    "SQL as If-Match": ("POST", "/v1/parcels/{p}/receipts", {"If-Match": SQL}),
    "SQL as a history time": ("GET", f"/v1/parcels/{{p}}/history?recorded_before={SQL}", {}),
    "SQL as a platform filter": ("GET", f"/v1/parcels?tracking_number=X&platform={SQL}", {}),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_REQUESTS))
def test_hostile_ids_headers_and_queries_are_a_4xx_problem(setup, case) -> None:
    method, path, headers = HOSTILE_REQUESTS[case]
    refused_storing_nothing(setup, lambda client, parcel, auth: client.open(
        path.replace("{p}", parcel), method=method, json={} if method == "POST" else None,
        headers={**auth, **headers}))


def test_sql_and_script_in_free_text_are_data_never_code(setup) -> None:
    app, keys, parcel = setup
    client = app.test_client()
    body = {"reason": f"{SQL} {SCRIPT}", "occurred_at": "2026-03-05T10:00:00+08:00"}
    answer = client.post(f"/v1/parcels/{parcel}/delivery-attempts", json=body,
                         headers=bearer(keys.client))
    assert answer.status_code == 201, answer.get_json()
    history = client.get(f"/v1/parcels/{parcel}/history", headers=bearer(keys.client))
    assert history.mimetype == "application/json"
    assert history.get_json()["events"][-1]["data"]["reason"] == body["reason"]
    assert app.extensions["returns_ledger"].get().recorder.max_notification_id() > 0
