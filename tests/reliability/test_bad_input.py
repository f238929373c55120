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
    # only ASCII digits: Decimal() would read these as 10.00
    "amount in Arabic-Indic digits": ("refunds", with_(REFUND, AMOUNT, "\u0661\u0660.\u0660\u0660")),
    "amount in fullwidth digits": ("refunds", with_(REFUND, AMOUNT, "\uff11\uff10.\uff10\uff10")),
    "price in Arabic-Indic digits": ("register", with_(REGISTER, ("amount_paid", "amount"),
                                                       "\u0663\u0669.\u0668\u0660")),
    "negative zero paid": ("register", with_(REGISTER, ("amount_paid", "amount"), "-0.00")),
    "negative zero price": ("register", with_(REGISTER, ("lines", 0, "unit_price", "amount"),
                                              "-0.00")),
    "amount with a trailing line break": ("refunds", with_(REFUND, AMOUNT, "5.00\n")),
    "amount with a plus sign": ("refunds", with_(REFUND, AMOUNT, "+5.00")),
    "amount with underscores": ("refunds", with_(REFUND, AMOUNT, "5_000.00")),
    "time in Arabic-Indic digits": ("refunds", with_(REFUND, ("occurred_at",),
                                                     "\u0662\u0660\u0662\u0666-03-09T10:00:00+08:00")),
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
    "deeply nested JSON beyond the size limit": (
        b'{"reference": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 413),
    "invalid UTF-8": (b'{"reference": "R-\xff\xfe", "components": []}', 400),
    "truncated JSON": (b'{"reference": "R-1", "compo', 400),
    "NaN literal": (b'{"reference": "R-1", "components": [{"kind": "item", "amount": '
                    b'{"amount": NaN, "currency": "MYR"}}]}', 400),
    "Infinity literal": (b'{"reference": "R-1", "components": [{"kind": "item", "amount": '
                         b'{"amount": Infinity, "currency": "MYR"}}]}', 400),
    # otherwise a valid refund request: only the repeated key is wrong
    "duplicate keys": (b'{"reference": "R-1", "reference": "R-2", "components": [{"kind": '
                       b'"item", "amount": {"amount": "5.00", "currency": "MYR"}}], '
                       b'"occurred_at": "2026-03-09T10:00:00+08:00"}', 400),
    "duplicate keys in a nested object": (
        b'{"reference": "R-1", "components": [{"kind": "item", "amount": {"amount": "5.00", '
        b'"amount": "500.00", "currency": "MYR"}}], "occurred_at": "2026-03-09T10:00:00+08:00"}',
        400),
    "lone surrogate": (b'{"reference": "R-\\ud800", "components": [{"kind": "item", '
                       b'"amount": {"amount": "5.00", "currency": "MYR"}}]}', 400),
    "lone low surrogate in a key": (b'{"\\udc00": 1}', 400),
    "nested 2,000 deep inside the size limit": (b"[" * 2000 + b"]" * 2000, 400),
    "nested objects 1,500 deep": (b'{"a": ' * 1500 + b"1" + b"}" * 1500, 400),
    "integer of 5,000 digits": (b'{"reference": ' + b"9" * 5000 + b"}", 400),
}


@pytest.mark.parametrize("case", sorted(RAW_BODIES))
def test_malformed_bodies_are_a_4xx_problem_and_store_nothing(setup, case) -> None:
    raw, status = RAW_BODIES[case]
    answer = refused_storing_nothing(setup, lambda client, parcel, auth: client.post(
        f"/v1/parcels/{parcel}/refunds", data=raw,
        headers={**auth, "Content-Type": "application/json"}))
    assert answer.status_code == status
    assert answer.get_json()["status"] == status


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


UNPARSEABLE = {
    "lone surrogate": b'{"reason": "x\\ud800y"}',
    "nested 2,000 deep": b"[" * 2000 + b"]" * 2000,
    "duplicate keys": b'{"reason": "a", "reason": "b"}',
}


def json_operations(app: Flask) -> list[tuple[str, str]]:
    """Every operation of the published document that takes a JSON body."""
    spec = app.test_client().get("/openapi.json").get_json()
    return [(method.upper(), path) for path, item in spec["paths"].items()
            for method, operation in item.items()
            if isinstance(operation, dict)
            and "application/json" in operation.get("requestBody", {}).get("content", {})]


def test_every_json_operation_refuses_what_does_not_parse_with_a_400(setup) -> None:
    """One parsing layer for every endpoint: a lone surrogate (the old answer: a 500 from
    UnicodeEncodeError), JSON nested 2,000 deep in 4 KB (RecursionError, a 500) and a
    repeated key (silently last-wins) are each a 400 problem, and nothing is stored."""
    app, _, parcel = setup
    operations = json_operations(app)
    assert len(operations) >= 25
    for method, path in operations:
        url = (path.replace("{parcel_id}", parcel).replace("{reference}", "R-1")
               .replace("{investigation_id}", "I-1")
               .replace("{address_id}", "00000000-0000-4000-8000-000000000000"))
        for name, raw in UNPARSEABLE.items():
            answer = refused_storing_nothing(
                setup, lambda client, _p, auth, url=url, method=method, raw=raw: client.open(
                    url, method=method, data=raw,
                    headers={**auth, "Content-Type": "application/json"}))
            assert answer.status_code == 400, (method, path, name, answer.get_json())


def test_the_reason_with_a_lone_surrogate_on_delivery_attempts_is_a_400(setup) -> None:
    app, keys, parcel = setup
    answer = refused_storing_nothing(setup, lambda client, _p, auth: client.post(
        f"/v1/parcels/{parcel}/delivery-attempts", data=b'{"reason": "x\\ud800y"}',
        headers={**auth, "Content-Type": "application/json"}))
    assert answer.status_code == 400
    assert "surrogate" in answer.get_json()["detail"]


def test_a_surrogate_pair_is_text_and_accepted(setup) -> None:
    """Only a lone half is refused: an escaped pair is one character (U+1F4E6)."""
    app, keys, parcel = setup
    answer = app.test_client().post(
        f"/v1/parcels/{parcel}/delivery-attempts",
        data=b'{"reason": "box \\ud83d\\udce6", "occurred_at": "2026-03-05T11:00:00+08:00"}',
        headers={**bearer(keys.client), "Content-Type": "application/json"})
    assert answer.status_code == 201, answer.get_json()
    history = app.test_client().get(f"/v1/parcels/{parcel}/history",
                                    headers=bearer(keys.client)).get_json()
    assert history["events"][-1]["data"]["reason"] == "box \U0001f4e6"


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, "on", None])
def test_a_boolean_is_json_true_or_false_only(setup, value) -> None:
    """marshmallow's Boolean reads "yes", 1 and "on" as true: the schema says boolean."""
    body = with_(REGISTER, ("tracked_shipping",), value)
    refused_storing_nothing(setup, lambda client, _p, auth: client.post(
        "/v1/parcels", json=body, headers=auth))


HUGE = str(2**64 * 10**20)  # far past what a 64-bit column holds


def test_every_integer_query_parameter_is_bounded_in_the_document(setup) -> None:
    """A position, version or offset past a 64-bit column overflowed in SQL: a 500."""
    app, _, _ = setup
    spec = app.test_client().get("/openapi.json").get_json()
    unbounded = [(method, path, parameter["name"])
                 for path, item in spec["paths"].items() for method, operation in item.items()
                 if isinstance(operation, dict)
                 for parameter in operation.get("parameters", [])
                 if parameter["in"] == "query"
                 and parameter["schema"].get("type") == "integer"
                 and not parameter["schema"].get("maximum", 2**64) < 2**63]
    assert unbounded == []


@pytest.mark.parametrize("url", [
    "/v1/events?after={huge}&parcel_id={parcel}",  # found by fuzzing: a 500
    "/v1/events?after={huge}",
    "/v1/parcels/{parcel}/history?version={huge}",
    "/v1/parcels/{parcel}?min_position={huge}",
    "/v1/reconciliations?offset={huge}",
    "/v1/refunds?min_position={huge}",
])
def test_integers_past_a_64_bit_column_are_a_4xx_problem(setup, url) -> None:
    app, keys, parcel = setup
    answer = app.test_client().get(url.format(huge=HUGE, parcel=parcel),
                                   headers=bearer(keys.admin))
    assert 400 <= answer.status_code < 500, answer.get_data(as_text=True)
    assert answer.mimetype == "application/problem+json"


@pytest.mark.parametrize("types", ["0" * 4000, "RefundIssued;DROP", "Refund\u00e9Issued"])
def test_event_types_are_names_and_commas_short_enough_for_a_request_line(setup,
                                                                          types) -> None:
    """4,000 characters were schema-valid, and their URL past gunicorn's request line."""
    app, keys, _ = setup
    answer = app.test_client().get("/v1/events", query_string={"types": types},
                                   headers=bearer(keys.admin))
    assert answer.status_code in (400, 422) and answer.mimetype == "application/problem+json"
    spec = app.test_client().get("/openapi.json").get_json()
    [schema] = [p["schema"] for p in spec["paths"]["/v1/events"]["get"]["parameters"]
                if p["name"] == "types"]
    assert schema["maxLength"] * 3 < 4094 - 200  # percent-encoded, with the other values
