"""API fixtures: an app on a fresh store, keys of every role, and small request helpers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from interfaces.api import create_app
from tests.conftest import TEST_PERSONAL_DATA_KEY

T0 = "2026-03-02T09:00:00+00:00"
NOW = datetime(2026, 3, 1, tzinfo=UTC)
ADDRESS = {"seller_id": "s1", "platform": "tiktok_shop", "country": "MY",
           "address": {"lines": ["No. 8, Jalan Example"], "city": "Kuala Lumpur",
                       "postcode": "50000"},
           "effective_from": "2026-01-01T00:00:00+08:00", "occurred_at": "2026-01-01T00:00:00Z"}


@dataclass
class Keys:
    """One key per role; clients and finance for seller s1, one client for seller s2.

    `finance` and `finance_twin` are two keys of one person (fin-a), `finance_b` another.
    """

    admin: str
    client: str
    client_b: str
    finance: str
    finance_b: str
    finance_twin: str
    auditor: str
    other_seller: str
    ids: dict[str, str]


def make_app(env: dict[str, str], **config: Any) -> Flask:
    return create_app({"PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY, "TESTING": True,
                       "SECRET_KEY": "api-tests-web-secret", **env, **config})


def issue_keys(app: Flask) -> Keys:
    ledger = app.extensions["returns_ledger"].get()
    made = {}
    owners = {"finance": "fin-a", "finance_twin": "fin-a", "finance_b": "fin-b"}
    for name, role, seller in [("admin", "admin", None), ("client", "client", "s1"),
                               ("client_b", "client", "s1"), ("finance", "finance", "s1"),
                               ("finance_b", "finance", "s1"), ("finance_twin", "finance", "s1"),
                               ("auditor", "auditor", None), ("other_seller", "client", "s2")]:
        made[name] = ledger.issue_api_key(role, seller, NOW, label=name,
                                          owner=owners.get(name))
    return Keys(**{n: k.token for n, k in made.items()},
                ids={n: str(k.key.id) for n, k in made.items()})


@contextlib.contextmanager
def serving(env: dict[str, str]) -> Iterator[Flask]:
    """An app on `env`'s store, its ledger closed afterwards."""
    application = make_app(env)
    try:
        yield application
    finally:
        application.extensions["returns_ledger"].close()


@pytest.fixture
def app(sqlite_env: dict[str, str]) -> Iterator[Flask]:
    with serving(sqlite_env) as application:
        yield application


@pytest.fixture
def store_app(store_env: dict[str, str]) -> Iterator[Flask]:
    """The same app on SQLite and on a fresh PostgreSQL schema."""
    with serving(store_env) as application:
        yield application


@pytest.fixture
def keys(app: Flask) -> Keys:
    return issue_keys(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def money(amount: str, currency: str = "MYR") -> dict[str, str]:
    return {"amount": amount, "currency": currency}


def parcel_body(tracking: str = "TTMY0001", seller: str = "s1", **extra: Any) -> dict[str, Any]:
    body = {"platform": "tiktok_shop", "site": "MY", "seller_id": seller,
            "order_id": f"O-{tracking}", "order_created_at": T0, "tracking_number": tracking,
            "lines": [{"sku": "SKU-MUG", "quantity": 2, "unit_price": money("19.90")}],
            "amount_paid": money("39.80"), "occurred_at": "2026-03-03T09:00:00+00:00"}
    body.update(extra)
    return body


def day(n: int) -> str:
    """T0 plus n days, as the wire shows it."""
    return f"2026-03-{2 + n:02d}T09:00:00+00:00" if n < 30 else f"2026-04-{n - 29:02d}T09:00:00+00:00"


def register(client: FlaskClient, token: str, **body: Any) -> str:
    response = client.post("/v1/parcels", json=parcel_body(**body), headers=bearer(token))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def post(client: FlaskClient, token: str, path: str, body: dict[str, Any] | None = None,
         **headers: str) -> Any:
    return client.post(path, json=body if body is not None else {},
                       headers=bearer(token, **headers))


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, Keys]]:
    """One app and key set for a module's read-mostly tests (keys are slow to issue)."""
    db = tmp_path_factory.mktemp("shared") / "ledger.sqlite3"
    application = make_app({"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                            "SQLITE_DBNAME": str(db)})
    yield application, issue_keys(application)
    application.extensions["returns_ledger"].close()
