"""Web page fixtures: a seeded ledger, its views caught up, a key per role, signed-in clients."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from flask import Flask
from flask.testing import FlaskClient

from application.ledger import ReturnsLedger
from demo.scenarios import DAY, SCENARIOS, T0
from domain.money import Money
from domain.values import Line
from interfaces.api import create_app
from interfaces.web.reads import close_views
from projections.runners import VIEWS, close_runner, projection_env, start_runner
from tests.conftest import TEST_PERSONAL_DATA_KEY

NOW = datetime(2026, 3, 1, tzinfo=UTC)
SECRET = "test-web-secret-key-0123456789abcdef"
ROLES = {"auditor": ("auditor", None), "admin": ("admin", None),
         "finance": ("finance", "seller-am"), "finance_b": ("finance", "seller-am"),
         "seller_tt": ("client", "seller-tt"),
         "seller_th": ("client", "seller-th")}


@dataclass
class Seeded:
    """A ledger with one lifecycle per platform, its views caught up, and one key per role."""

    app: Flask
    env: dict[str, str]
    parcels: dict[str, UUID]
    keys: dict[str, str]

    @property
    def ledger(self) -> ReturnsLedger:
        return self.app.extensions["returns_ledger"].get()


def web_env(directory: Path) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(directory / "ledger.sqlite3"),
            "VIEWS_SQLITE_DBNAME": str(directory / "views.sqlite3"),
            "PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY}


def catch_up(env: Mapping[str, str], ledger: ReturnsLedger) -> None:
    """Run every view's runner until it has applied the ledger's last event."""
    full = projection_env(env)
    head = ledger.recorder.max_notification_id()
    for name in VIEWS:
        runner = start_runner(name, full)
        try:
            runner.wait(head, timeout=30)
        finally:
            error = close_runner(runner)
        if error is not None:
            raise error


def held_at_warehouse(ledger: ReturnsLedger) -> UUID:
    """TT-2: refused, no eligible address, still held at the provider's warehouse."""
    parcel = ledger.register_parcel(
        platform="tiktok_shop", site="TH", seller_id="seller-th", order_id="TT-ORDER-3",
        order_created_at=T0, tracking_number="TTTH0003",
        lines=[Line("SKU-LAMP", 1, Money.of("450.00", "THB"))],
        amount_paid=Money.of("450.00", "THB"), occurred_at=T0 + DAY).id
    ledger.record_failed_delivery(parcel, "refused", T0 + 4 * DAY)
    ledger.route_return(parcel, T0 + 5 * DAY)
    return parcel


def seed(directory: Path, **config: Any) -> Seeded:
    env = web_env(directory)
    app = create_app({**env, "SECRET_KEY": SECRET, "TESTING": True, **config})
    ledger = app.extensions["returns_ledger"].get()
    parcels = {name: scenario(ledger, "") for name, scenario in SCENARIOS.items()}
    parcels["held"] = held_at_warehouse(ledger)
    keys = {name: ledger.issue_api_key(role, seller, NOW, label=f"{name} key",
                                       owner=name if role == "finance" else None).token
            for name, (role, seller) in ROLES.items()}
    catch_up(env, ledger)
    return Seeded(app, env, parcels, keys)


def close(seeded: Seeded) -> None:
    close_views(seeded.app)
    seeded.app.extensions["returns_ledger"].close()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """Read-only tests share one seeded ledger per module."""
    made = seed(tmp_path_factory.mktemp("web"))
    yield made
    close(made)


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Seeded]:
    """A seeded ledger of this test's own (for tests that change or tamper with it)."""
    made = seed(tmp_path)
    yield made
    close(made)


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def signed_in(app: Flask, token: str) -> FlaskClient:
    """A test client signed in through the form, as a browser would."""
    client = app.test_client()
    page = client.get("/web/sign-in")
    answer = client.post("/web/sign-in", data={"api_key": token,
                                               "csrf_token": csrf_of(page.get_data(True))})
    assert answer.status_code == 303, answer.get_data(True)
    return client


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    from tests.web.browser import missing_browser

    if missing_browser():
        terminalreporter.write_sep("!", "BROWSER TESTS SKIPPED", red=True, bold=True)
        terminalreporter.write_line(missing_browser()[0], red=True)
