"""Group commit: concurrent commands share a transaction, each keeps its own outcome."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from application.ledger import ReturnsLedger
from demo.scenarios import DAY, T0
from domain.errors import VersionConflictError
from domain.money import Money
from domain.values import Line


@pytest.fixture
def grouped(store_env) -> Iterator[ReturnsLedger]:
    ledger = ReturnsLedger({**store_env, "GROUP_COMMIT": "yes"})
    yield ledger
    ledger.close()


def _register(ledger: ReturnsLedger, n: int) -> Any:
    return ledger.register_parcel(
        platform="tiktok_shop", site="TH", seller_id="s-group", order_id=f"O-{n}",
        order_created_at=T0, tracking_number=f"TTGROUP{n:04d}",
        lines=[Line("SKU", 1, Money.of("450.00", "THB"))],
        amount_paid=Money.of("450.00", "THB"), occurred_at=T0 + DAY).id


class Gate:
    """Holds the first transaction open until the other saves have queued behind it."""

    def __init__(self, ledger: ReturnsLedger) -> None:
        self.committer = ledger.group_commit
        self.open, self.entered = threading.Event(), threading.Event()
        real = self.committer._store

        def gated(processing_event: Any) -> Any:
            if not self.entered.is_set():
                self.entered.set()
                self.open.wait(20)
            return real(processing_event)
        self.committer._store = gated

    def run(self, first: Callable[[], Any], queued: list[Callable[[], Any]]) -> list[Any]:
        """Run `first` (held in its transaction), queue the others, then let all go."""
        outcomes: list[Any] = [None] * (1 + len(queued))

        def call(i: int, fn: Callable[[], Any]) -> None:
            try:
                outcomes[i] = fn()
            except Exception as error:  # noqa: BLE001 - the outcome is what we check
                outcomes[i] = error
        threads = [threading.Thread(target=call, args=(0, first))]
        threads[0].start()
        assert self.entered.wait(20)
        for i, fn in enumerate(queued, start=1):
            threads.append(threading.Thread(target=call, args=(i, fn)))
            threads[-1].start()
        deadline = time.monotonic() + 20
        while len(self.committer._queue) < len(queued) and time.monotonic() < deadline:
            time.sleep(0.01)
        self.open.set()
        for t in threads:
            t.join(30)
        return outcomes


def test_waiting_commands_are_saved_in_one_transaction(grouped) -> None:
    parcels = [_register(grouped, n) for n in range(4)]
    results = Gate(grouped).run(
        lambda: grouped.record_failed_delivery(parcels[0], "refused", T0 + 4 * DAY),
        [lambda p=p: grouped.record_failed_delivery(p, "refused", T0 + 4 * DAY)
         for p in parcels[1:]])
    assert [r.status for r in results] == ["delivery_failed"] * 4
    assert [r.version for r in results] == [2, 2, 2, 2]
    assert 3 in grouped.group_commit.groups  # the three that waited went together
    positions = [r.position for r in results]
    assert len(set(positions)) == 4 and all(p is not None for p in positions)
    for parcel, result in zip(parcels, results, strict=True):
        events = list(grouped.events.get(parcel))
        assert [e.originator_version for e in events] == [1, 2]
        assert grouped.get_parcel(parcel).version == result.version


def test_a_conflict_fails_only_its_own_command(grouped) -> None:
    parcels = [_register(grouped, n) for n in range(3)]
    stale = grouped.repository.get(parcels[2])  # version 1, about to be outdated
    grouped.record_failed_delivery(parcels[2], "refused", T0 + 3 * DAY)
    stale.record_delivery(T0 + 3 * DAY)
    results = Gate(grouped).run(
        lambda: grouped.record_failed_delivery(parcels[0], "refused", T0 + 4 * DAY),
        [lambda: grouped.record_failed_delivery(parcels[1], "refused", T0 + 4 * DAY),
         lambda: grouped.group_commit.save([stale])])
    assert results[0].version == 2 and results[1].version == 2
    assert isinstance(results[2], IntegrityError)
    assert grouped.get_parcel(parcels[1]).status == "delivery_failed"
    assert grouped.get_parcel(parcels[2]).status == "delivery_failed"  # not "delivered"


def test_two_commands_on_one_parcel_keep_optimistic_concurrency(grouped) -> None:
    parcel = _register(grouped, 0)
    other = _register(grouped, 1)
    first_copy = grouped.repository.get(parcel)
    second_copy = grouped.repository.get(parcel)
    first_copy.record_delivery_failure("refused", grouped._policy(first_copy), T0 + 3 * DAY,
                                       "carrier", "t")
    second_copy.record_delivery(T0 + 3 * DAY)
    results = Gate(grouped).run(
        lambda: grouped.record_failed_delivery(other, "refused", T0 + 4 * DAY),
        [lambda: grouped.group_commit.save([first_copy]),
         lambda: grouped.group_commit.save([second_copy])])
    assert results[0].version == 2
    assert [r.domain_event.originator_version for r in results[1]] == [2]
    assert isinstance(results[2], IntegrityError)  # the later one lost, as without grouping
    assert grouped.get_parcel(parcel).status == "delivery_failed"


def test_idempotent_retries_in_one_group_record_once(grouped) -> None:
    from application.idempotency import Idempotency

    parcels = [_register(grouped, n) for n in range(2)]
    key = Idempotency("client:k1", "retry-1", "fingerprint-1")

    def fail_once() -> Any:
        return grouped.run_once(key, lambda: grouped.record_failed_delivery(
            parcels[1], "refused", T0 + 4 * DAY))
    results = Gate(grouped).run(
        lambda: grouped.record_failed_delivery(parcels[0], "refused", T0 + 4 * DAY),
        [fail_once, fail_once])
    assert not any(isinstance(r, Exception) for r in results), results
    assert results[1].version == results[2].version == 2
    assert [e.originator_version for e in grouped.events.get(parcels[1])] == [1, 2]


def test_without_the_setting_saves_are_not_grouped(store_env) -> None:
    ledger = ReturnsLedger(store_env)
    try:
        assert ledger.group_commit is None
        with pytest.raises(VersionConflictError):
            ledger.record_failed_delivery(_register(ledger, 0), "refused", T0 + 3 * DAY,
                                          expected_version=5)
    finally:
        ledger.close()


def test_keys_of_grouped_commands_are_rows_of_their_one_transaction(grouped) -> None:
    """Two keyed commands in one group: both keys' rows go in the group's transaction,
    no key is an event, and each key answers its own first result again."""
    from application.idempotency import Idempotency
    from domain.idempotency import idempotency_record_id

    parcels = [_register(grouped, n) for n in range(3)]
    keys = [Idempotency("client:k1", f"group-{n}", "fp") for n in range(2)]

    def attempt(n: int) -> Callable[[], Any]:
        return lambda: grouped.run_once(keys[n], lambda: grouped.record_delivery_attempt(
            parcels[n + 1], "nobody home", T0 + 2 * DAY))
    groups_before = len(grouped.group_commit.groups)
    results = Gate(grouped).run(
        lambda: grouped.record_failed_delivery(parcels[0], "refused", T0 + 4 * DAY),
        [attempt(0), attempt(1)])
    assert not any(isinstance(r, Exception) for r in results), results
    assert list(grouped.group_commit.groups)[groups_before:] == [1, 2]
    for n in range(2):
        assert grouped.recorder.idempotency_row(
            idempotency_record_id("client:k1", f"group-{n}")) is not None
        assert attempt(n)() == results[n + 1]
    topics = [x.topic for x in grouped.recorder.select_notifications(None, 1000)]
    assert not any("IdempotencyRecord" in t for t in topics)
