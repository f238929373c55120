"""One save path for every aggregate: idempotency records, group commit, conflicts."""

from __future__ import annotations

import contextlib
import json
import threading
import tracemalloc
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from application.idempotency import Idempotency
from application.ledger import ReturnsLedger
from domain.api_key import KeyRing
from domain.errors import DuplicateAggregateError, VersionConflictError
from domain.idempotency import IdempotencyRecord, idempotency_record_id
from domain.money import Money
from domain.reconciliation import Reconciliation
from domain.values import Line
from tests.conftest import TEST_PERSONAL_DATA_KEY

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def any_ledger(any_store_env) -> Any:
    """A ledger on the in-memory store, on SQLite and on PostgreSQL."""
    ledger = ReturnsLedger(any_store_env)
    yield ledger
    ledger.close()


def _run(fingerprint: str, scope: str = "") -> Reconciliation:
    """A reconciliation run as an upload starts it."""
    return Reconciliation(fingerprint=fingerprint, file_name="s.csv", source_format="generic",
                          scope=scope, occurred_at=T0, actor="person:ana",
                          ledger_state="0" * 64, ledger_position=0, file_bytes=10,
                          key_id=str(uuid.uuid4()))


def _positions(ledger: ReturnsLedger, *ids: Any) -> list[int]:
    wanted = {str(i) for i in ids}
    return [n.id for n in ledger.recorder.select_notifications(None, 1000)
            if str(n.originator_id) in wanted]


def _first_result(ledger: ReturnsLedger, scope: str, key: str) -> dict[str, Any]:
    """The answer the key's row holds; the key is no event of the log."""
    record_id = idempotency_record_id(scope, key)
    row = ledger.recorder.idempotency_row(record_id)
    assert row is not None and row.scope == scope and row.key == key
    assert ledger.recorder.select_events(record_id) == []
    return json.loads(row.result)


def test_an_api_key_is_saved_with_its_idempotency_row_in_one_transaction(any_ledger):
    idem = Idempotency("caller", "key-1", "fingerprint")
    issued = any_ledger.run_once(idem, lambda: any_ledger.issue_api_key(
        "finance", "seller-1", T0, label="desk", owner="ana"))
    assert _first_result(any_ledger, "caller", "key-1")["id"] == str(issued.key.id)
    positions = _positions(any_ledger, KeyRing.create_id(), issued.key.id)
    assert positions == list(range(positions[0], positions[0] + len(positions)))  # one insert


def test_a_reconciliation_is_saved_with_its_idempotency_row(any_ledger):
    run = _run("f" * 64)
    idem = Idempotency("caller", "key-2", "fingerprint")
    any_ledger.run_once(idem, lambda: any_ledger.save(run))
    assert _first_result(any_ledger, "caller", "key-2")["id"] == str(run.id)
    assert not any(isinstance(any_ledger.repository.get(n.originator_id), IdempotencyRecord)
                   for n in any_ledger.recorder.select_notifications(None, 1000))


def test_a_second_new_aggregate_with_the_same_id_is_a_duplicate_not_a_crash(any_ledger):
    any_ledger.save(_run("e" * 64))
    with pytest.raises(DuplicateAggregateError):
        any_ledger.save(_run("e" * 64))  # a concurrent twin of the same upload


def test_two_key_issues_at_once_are_one_success_and_one_conflict(any_ledger, monkeypatch):
    """Both read the key ring before either saves it: the second save conflicts (409),
    it never escapes as an IntegrityError (500)."""
    any_ledger.issue_api_key("admin", None, T0)  # the key ring exists
    real = any_ledger._key_ring
    both_read = threading.Barrier(2, timeout=10)

    def ring_read_together() -> Any:
        ring = real()
        both_read.wait()
        return ring
    monkeypatch.setattr(any_ledger, "_key_ring", ring_read_together)
    outcomes: list[Any] = []

    def issue() -> None:
        try:
            outcomes.append(any_ledger.issue_api_key("admin", None, T0))
        except Exception as error:  # noqa: BLE001 - the outcome is what we check
            outcomes.append(error)
    threads = [threading.Thread(target=issue) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert len(outcomes) == 2 and len(errors) == 1
    assert isinstance(errors[0], VersionConflictError)


def test_a_parcel_registers_and_acts_on_the_in_memory_store() -> None:
    ledger = ReturnsLedger({"PERSISTENCE_MODULE": "eventsourcing.popo",
                            "PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY})
    parcel = ledger.register_parcel(
        platform="tiktok_shop", site="MY", seller_id="s", order_id="O-1",
        order_created_at=T0, tracking_number="MEM-1",
        lines=[Line("SKU", 1, Money.of("10.00", "MYR"))],
        amount_paid=Money.of("10.00", "MYR"), occurred_at=T0)
    result = ledger.record_failed_delivery(parcel.id, "refused", T0)
    assert (result.version, result.status) == (2, "delivery_failed")
    assert ledger.recorder.max_versions([parcel.id]) == {parcel.id: 2}


@contextlib.contextmanager
def _two_workers(cache: str, tmp_path: Any) -> Iterator[tuple[ReturnsLedger, Any]]:
    """Two ledgers on one store (two workers): a parcel registered by the first, then
    moved to version 2 by the second, so the first holds a stale copy when it caches."""
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "COMMAND_CACHE": cache,
           "SQLITE_DBNAME": str(tmp_path / "l.sqlite3"),
           "PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY}
    first, second = ReturnsLedger(env), ReturnsLedger(env)
    try:
        parcel = first.register_parcel(
            platform="tiktok_shop", site="MY", seller_id="s", order_id="O-1",
            order_created_at=T0, tracking_number="CACHE-1",
            lines=[Line("SKU", 1, Money.of("10.00", "MYR"))],
            amount_paid=Money.of("10.00", "MYR"), occurred_at=T0).id
        second.record_delivery_attempt(parcel, "nobody home", T0)
        yield first, parcel
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("cache", ["yes", "no"])
def test_command_cache_switch_gives_the_same_answers(cache, tmp_path) -> None:
    with _two_workers(cache, tmp_path) as (first, parcel):
        # `first` holds version 1 (when the cache is on): a stale copy costs a retry only.
        assert first.record_delivery_attempt(parcel, "nobody home", T0).version == 3
        assert first.command_cache is (cache == "yes")
        assert (first.repository.cache is not None and first._held_copy(parcel) is not None
                ) is (cache == "yes")


@pytest.mark.parametrize(("cache", "runs"), [("yes", 2), ("no", 1)])
def test_command_cache_off_runs_a_command_once_on_the_parcel_as_stored(cache, runs, tmp_path,
                                                                       monkeypatch) -> None:
    """COMMAND_CACHE=no: the library's plain repository.get, no cached copy, no second run
    (on a stale copy the cached path decides twice: why commands have no outside effect)."""
    with _two_workers(cache, tmp_path) as (first, parcel):  # `first` is now stale
        gets: list[Any] = []
        real_get = first.repository.get
        monkeypatch.setattr(first.repository, "get",
                            lambda *a, **k: gets.append(k) or real_get(*a, **k))
        seen: list[int] = []

        def attempt(p: Any) -> None:
            seen.append(p.version)
            p.record_delivery_attempt("nobody home", first._policy(p), T0, "system")
        assert first._act(parcel, attempt).version == 3
        assert len(seen) == runs and seen[-1] == 2  # decided last on the parcel as stored
        assert gets == ([{"deepcopy_from_cache": False}] if cache == "yes" else [{}])


def test_group_commit_memory_stays_bounded_over_many_groups(tmp_path) -> None:
    """The committer keeps a window of recent group sizes, not one entry per transaction."""
    ledger = ReturnsLedger({"PERSISTENCE_MODULE": "eventsourcing.popo",
                            "PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY,
                            "GROUP_COMMIT": "yes", "AGGREGATE_CACHE_MAXSIZE": "10"})
    committer = ledger.group_commit
    assert committer is not None

    def save_many(n: int) -> None:
        for _ in range(n):
            ledger.save(_run("a" * 64, scope=uuid.uuid4().hex))

    save_many(3000)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    save_many(3000)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename")
                if s.traceback[0].filename.endswith("group_commit.py"))
    assert committer.transactions == 6000 and len(committer.groups) <= 1024
    assert grown < 64 * 1024  # bytes: flat, whatever the uptime
