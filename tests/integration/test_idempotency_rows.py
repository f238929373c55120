"""Idempotency keys as rows of their own table, written in the events' transaction.

A retry still answers the first result and records nothing; the row and the command's
events are stored together or not at all (SQLite, PostgreSQL by its one-call function
and by the library's pipeline, memory); a store that kept its keys as events before the
table existed is honoured after the upgrade, and one not yet initialised again keeps
writing them as events.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from application.idempotency import Idempotency
from application.ledger import ReturnsLedger
from demo.scenarios import DAY, T0
from domain.idempotency import IdempotencyKeyReusedError, idempotency_record_id
from domain.money import Money
from domain.values import Line
from infrastructure.idempotency_store import IdempotencyRow
from tests.conftest import TEST_PERSONAL_DATA_KEY

RECORD_TOPIC = "IdempotencyRecord"


@pytest.fixture
def any_ledger(any_store_env) -> Iterator[ReturnsLedger]:
    ledger = ReturnsLedger(any_store_env)
    yield ledger
    ledger.close()


def _register(ledger: ReturnsLedger, n: int) -> Any:
    return ledger.register_parcel(
        platform="tiktok_shop", site="TH", seller_id="s-rows", order_id=f"O-{n}",
        order_created_at=T0, tracking_number=f"TTROWS{n:04d}",
        lines=[Line("SKU", 1, Money.of("450.00", "THB"))],
        amount_paid=Money.of("450.00", "THB"), occurred_at=T0 + DAY)


def _topics(ledger: ReturnsLedger) -> list[str]:
    return [n.topic for n in ledger.recorder.select_notifications(None, 10_000)]


def _attempt(ledger: ReturnsLedger, parcel: Any, key: Idempotency) -> Any:
    """TT-7: a delivery attempt, which a second run would record a second time."""
    return ledger.run_once(key, lambda: ledger.record_delivery_attempt(
        parcel, "nobody home", T0 + 2 * DAY))


def _row(record_id: uuid.UUID, key: str = "k") -> IdempotencyRow:
    return IdempotencyRow(record_id, "scope", key, "fp", '{"id": "x"}', 0)


def test_a_keyed_command_records_its_events_and_no_event_of_its_key(any_ledger) -> None:
    key = Idempotency("client:a", "attempt-1", "fingerprint")
    parcel = _register(any_ledger, 1).id
    first = _attempt(any_ledger, parcel, key)
    assert not any(RECORD_TOPIC in topic for topic in _topics(any_ledger))
    assert any_ledger.recorder.idempotency_row(
        idempotency_record_id("client:a", "attempt-1")) is not None
    again = _attempt(any_ledger, parcel, key)  # TT-7: once, not twice
    assert again == first and again.version == 2
    assert [e.originator_version for e in any_ledger.events.get(parcel)] == [1, 2]
    with pytest.raises(IdempotencyKeyReusedError):
        _attempt(any_ledger, parcel, Idempotency("client:a", "attempt-1", "another body"))


@pytest.mark.parametrize("way", ["function", "library"])
def test_the_row_and_the_events_are_stored_together_or_not_at_all(any_ledger, way) -> None:
    recorder = any_ledger.recorder
    if way == "library":  # PostgreSQL's pipeline of the library (the others have one way)
        if not hasattr(recorder, "use_insert_function"):
            pytest.skip("one insert path on this store")
        recorder.use_insert_function = False
    taken, fresh = uuid.uuid4(), uuid.uuid4()
    recorder.insert_events([StoredEvent(taken, 1, "t", b"{}")])
    with pytest.raises(IntegrityError):  # the events fail: no row either
        recorder.insert_events([StoredEvent(taken, 1, "t", b"{}")],
                               idempotency=[_row(uuid.UUID(int=1))])
    assert recorder.idempotency_row(uuid.UUID(int=1)) is None
    recorder.insert_events([StoredEvent(fresh, 1, "t", b"{}")],
                           idempotency=[_row(uuid.UUID(int=2))])
    assert recorder.idempotency_row(uuid.UUID(int=2)) is not None
    with pytest.raises(IntegrityError):  # the key was used: no events either
        recorder.insert_events([StoredEvent(fresh, 2, "t", b"{}")],
                               idempotency=[_row(uuid.UUID(int=2), key="again")])
    assert [e.originator_version for e in recorder.select_events(fresh)] == [1]
    assert recorder.idempotency_row(uuid.UUID(int=2)).key == "k"


def test_a_key_kept_as_an_event_by_an_older_store_is_still_honoured(store_env) -> None:
    """Before the table existed a key was an IdempotencyRecord event: after the upgrade a
    retry answers its first result, runs nothing again (TT-7's attempt stays one), and
    the key still refuses another request."""
    older = ReturnsLedger(store_env)
    try:
        older.idempotency_rows = False  # as the version before the table saved keys
        key = Idempotency("client:a", "attempt-old", "fingerprint")
        parcel = _register(older, 2).id
        first = _attempt(older, parcel, key)
        assert any(RECORD_TOPIC in topic for topic in _topics(older))
    finally:
        older.close()
    upgraded = ReturnsLedger(store_env)
    try:
        assert upgraded.idempotency_rows
        again = _attempt(upgraded, parcel, key)
        assert (again.id, again.version, again.position) == (
            first.id, first.version, first.position)
        assert [e.originator_version for e in upgraded.events.get(parcel)] == [1, 2]
        with pytest.raises(IdempotencyKeyReusedError):
            _attempt(upgraded, parcel, Idempotency("client:a", "attempt-old", "other"))
        with pytest.raises(IntegrityError):  # no row may take a key an event holds
            upgraded.recorder.insert_events(
                [StoredEvent(uuid.uuid4(), 1, "t", b"{}")],
                idempotency=[_row(idempotency_record_id("client:a", "attempt-old"))])
    finally:
        upgraded.close()


def test_a_store_not_initialised_again_keeps_its_keys_as_events(sqlite_env) -> None:
    """A process of this version on a store whose `db init` was of the version before
    (no keys' table, CREATE_TABLE=no) saves keys as it did: retries still answer once."""
    env = {**sqlite_env, "PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY}
    ReturnsLedger(env).close()
    with sqlite3.connect(env["SQLITE_DBNAME"]) as db:
        db.execute("DROP TABLE idempotency_keys")
    ledger = ReturnsLedger({**env, "CREATE_TABLE": "no"})
    try:
        assert not ledger.idempotency_rows
        key = Idempotency("client:a", "attempt-1", "fingerprint")
        parcel = _register(ledger, 3).id
        first = _attempt(ledger, parcel, key)
        assert _attempt(ledger, parcel, key) == first
        assert sum(RECORD_TOPIC in topic for topic in _topics(ledger)) == 1
        assert [e.originator_version for e in ledger.events.get(parcel)] == [1, 2]
    finally:
        ledger.close()


def test_keyed_commands_of_two_processes_at_once_never_find_the_store_busy(
        sqlite_env) -> None:
    """Two ledgers on one SQLite file (two processes' connections), keyed commands from
    threads of both at once: the key's row is the transaction's first write, so a
    transaction never starts as a reader that cannot become the writer (SQLITE_BUSY
    without waiting: a 503 under load)."""
    env = {**sqlite_env, "PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY}
    ledgers = [ReturnsLedger(env), ReturnsLedger(env)]
    try:
        errors: list[BaseException] = []

        def work(n: int) -> None:
            ledger = ledgers[n % 2]
            try:
                for step in range(15):
                    key = Idempotency("c", f"k-{n}-{step}", "f")
                    ledger.run_once(key, lambda s=step: _register(ledger, 1000 + 100 * n + s))
            except BaseException as error:  # noqa: BLE001 - collected, then asserted
                errors.append(error)
        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        assert sum(t.endswith("ParcelRegistered") for t in _topics(ledgers[0])) == 8 * 15
    finally:
        for ledger in ledgers:
            ledger.close()


def test_with_the_librarys_db_functions_the_keys_rows_are_still_written(pg_schema) -> None:
    """POSTGRES_ENABLE_DB_FUNCTIONS routes inserts to the library's own function, which
    knows nothing of the keys' rows: a keyed insert takes the ledger's function instead,
    so a retry still answers its first result and runs nothing again (TT-7)."""
    env = {**pg_schema, "PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY,
           "POSTGRES_ENABLE_DB_FUNCTIONS": "y"}
    ledger = ReturnsLedger(env)
    try:
        assert ledger.recorder.datastore.enable_db_functions
        key = Idempotency("client:a", "attempt-db-functions", "fingerprint")
        parcel = _register(ledger, 4).id
        first = _attempt(ledger, parcel, key)
        assert ledger.recorder.idempotency_row(
            idempotency_record_id("client:a", "attempt-db-functions")) is not None
        assert _attempt(ledger, parcel, key) == first
        assert [e.originator_version for e in ledger.events.get(parcel)] == [1, 2]
    finally:
        ledger.close()
