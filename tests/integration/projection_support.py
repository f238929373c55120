"""Helpers for the projection tests: a fresh view store per test, catch-up, dumps, flows."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest

from application.ledger import ReturnsLedger
from domain.money import Money
from domain.values import Line
from infrastructure.view_store import ViewRecorder
from projections.runners import VIEWS, close_runner, open_view, projection_env, start_runner
from tests.conftest import PG

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
ADDRESS = {"lines": ["No. 8, Jalan Example"], "city": "Kuala Lumpur", "postcode": "50000"}
CURRENCY = {"MY": "MYR", "TH": "THB", "PH": "PHP", "SG": "SGD"}


def drop_pg_schema(schema: str) -> None:
    with psycopg.connect(host=PG["POSTGRES_HOST"], port=PG["POSTGRES_PORT"],
                         dbname=PG["POSTGRES_DBNAME"], user=PG["POSTGRES_USER"],
                         password=PG["POSTGRES_PASSWORD"] or None, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def view_env(store_env: dict[str, str], tmp_path: Any) -> Iterator[dict[str, str]]:
    """The ledger's store (SQLite or PostgreSQL) and a fresh view store beside it."""
    env = dict(store_env)
    if env["PERSISTENCE_MODULE"] == "eventsourcing.postgres":
        env["VIEWS_POSTGRES_SCHEMA"] = f"{env['POSTGRES_SCHEMA']}_views"
        try:
            yield env
        finally:
            _close_opened()
            drop_pg_schema(env["VIEWS_POSTGRES_SCHEMA"])
    else:
        env["VIEWS_SQLITE_DBNAME"] = str(tmp_path / "views.sqlite3")
        yield env
        _close_opened()


@pytest.fixture
def app(view_env: dict[str, str]) -> Iterator[ReturnsLedger]:
    ledger = ReturnsLedger(view_env)
    yield ledger
    ledger.close()


def catch_up(env: Mapping[str, str], ledger: ReturnsLedger,
             names: tuple[str, ...] = tuple(VIEWS)) -> None:
    """Run each view's batching runner until it has applied the ledger's last event."""
    full = projection_env(env)
    head = ledger.recorder.max_notification_id()
    for name in names:
        runner = start_runner(name, full)
        try:
            runner.wait(head, timeout=30)
        finally:
            error = close_runner(runner)
        assert error is None, error


_opened: list[Any] = []  # views opened by a test, closed when its view_env ends


def view(env: Mapping[str, str], name: str) -> Any:
    opened = open_view(name, projection_env(env))
    _opened.append(opened)
    return opened


def _close_opened() -> None:
    while _opened:
        _opened.pop().datastore.close()


def dump(recorder: ViewRecorder) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of a view, in a stable order."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with recorder.reading() as tx:
        for table in recorder.tables:
            rows = tx.all(f"SELECT * FROM {{p}}{table}")
            out[table] = sorted((tuple(sorted(r.items())) for r in rows), key=repr)
    return out


def tt_parcel(ledger: ReturnsLedger, suffix: str, site: str = "MY",
              eligible_address: bool = True, price: str = "100.00",
              seller: str | None = None) -> UUID:
    """A TikTok Shop parcel whose delivery failed, routed back (TT-1/TT-3 or TT-2)."""
    seller = seller or f"seller-{suffix}"
    if eligible_address:
        ledger.register_return_address(seller_id=seller, platform="tiktok_shop", country=site,
                                       address=ADDRESS, effective_from=T0 - 30 * DAY,
                                       occurred_at=T0 - 30 * DAY)
    currency = CURRENCY[site]
    parcel = ledger.register_parcel(
        platform="tiktok_shop", site=site, seller_id=seller, order_id=f"ORDER-{suffix}",
        order_created_at=T0, tracking_number=f"TN-{suffix}",
        lines=[Line("SKU-1", 1, Money.of(price, currency))],
        amount_paid=Money.of(price, currency), occurred_at=T0 + DAY).id
    ledger.record_delivery_attempt(parcel, "not at home", T0 + 3 * DAY)
    ledger.record_failed_delivery(parcel, "unreachable", T0 + 4 * DAY)
    ledger.route_return(parcel, T0 + 5 * DAY)
    return parcel
