"""PostgreSQL: the ledger's events go in as one call of a database function that keeps
the library's guarantees (exclusive table lock, NOTIFY, a version stored once)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import psycopg
import pytest

from application.ledger import ReturnsLedger
from domain.errors import DuplicateParcelError
from domain.money import Money
from domain.values import Line
from infrastructure.persistence import LOCKED_INSERT_FUNCTION
from tests.conftest import TEST_PERSONAL_DATA_KEY

pytestmark = pytest.mark.postgres
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _register(ledger: ReturnsLedger, tracking: str) -> int:
    return ledger.register_parcel(
        platform="tiktok_shop", site="MY", seller_id="s1", order_id=f"O-{tracking}",
        order_created_at=T0, tracking_number=tracking,
        lines=[Line("SKU", 1, Money.of("9.90", "MYR"))], amount_paid=Money.of("9.90", "MYR"),
        occurred_at=T0).position or 0


@pytest.fixture
def ledger(pg_schema: dict[str, str]):
    app = ReturnsLedger({**pg_schema, "PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY})
    yield app
    app.close()


def _connect(env: dict[str, str]) -> psycopg.Connection:
    return psycopg.connect(host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"],
                           dbname=env["POSTGRES_DBNAME"], user=env["POSTGRES_USER"],
                           password=env["POSTGRES_PASSWORD"] or None)


def test_insert_goes_through_the_function(ledger: ReturnsLedger, pg_schema) -> None:
    first, second = _register(ledger, "TT-F1"), _register(ledger, "TT-F2")
    assert second == first + 1 and ledger.recorder.use_insert_function is True
    with _connect(pg_schema) as conn:
        found = conn.execute("SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON "
                             "n.oid = p.pronamespace WHERE n.nspname = %s AND p.proname = %s",
                             (pg_schema["POSTGRES_SCHEMA"],
                              LOCKED_INSERT_FUNCTION.format(id_type="uuid"))).fetchone()
    assert found == (1,)


def test_insert_waits_for_the_exclusive_table_lock(ledger: ReturnsLedger, pg_schema) -> None:
    """Another transaction holding ROW EXCLUSIVE (an insert not yet committed) lets a
    plain INSERT through but not LOCK TABLE ... IN EXCLUSIVE MODE: the ledger's insert
    must wait for it, so notification ids are issued in commit order."""
    _register(ledger, "TT-L0")  # tables and function exist, adapters registered
    table = f'"{pg_schema["POSTGRES_SCHEMA"]}"."{ledger.recorder.events_table_name}"'
    done = threading.Event()
    with _connect(pg_schema) as conn:
        conn.execute(f"LOCK TABLE {table} IN ROW EXCLUSIVE MODE")
        worker = threading.Thread(target=lambda: (_register(ledger, "TT-L1"), done.set()))
        worker.start()
        time.sleep(0.8)
        assert not done.is_set(), "inserted while another insert was uncommitted"
        conn.rollback()
    worker.join(10)
    assert done.is_set()


def test_a_version_stored_twice_is_still_refused(ledger: ReturnsLedger) -> None:
    _register(ledger, "TT-D1")
    with pytest.raises(DuplicateParcelError):
        _register(ledger, "TT-D1")


def test_a_database_without_the_function_falls_back_to_the_library(ledger, pg_schema) -> None:
    """A store initialised before the function existed still takes commands."""
    _register(ledger, "TT-B0")
    with _connect(pg_schema) as conn:
        conn.execute(f'DROP FUNCTION "{pg_schema["POSTGRES_SCHEMA"]}".'
                     f'"{LOCKED_INSERT_FUNCTION.format(id_type="uuid")}"')
    first = _register(ledger, "TT-B1")
    assert ledger.recorder.use_insert_function is False
    assert _register(ledger, "TT-B2") == first + 1
