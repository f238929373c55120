"""Optimistic concurrency: two writers of the same parcel, on SQLite and on PostgreSQL.

Whoever saves second, from the same version, gets a VersionConflictError; the stored
history keeps every event of the winner, none of the loser, versions 1..n contiguous.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

import pytest

from application.ledger import ReturnsLedger
from domain.errors import DomainError, TransitionError, VersionConflictError
from domain.money import Money
from domain.values import Line
from tests.integration.rules.conftest import DAY, T0

THREADS = 4


@pytest.fixture
def ledgers(store_env: dict[str, str]) -> Iterator[tuple[ReturnsLedger, ReturnsLedger]]:
    """Two applications on the same store, each with its own connections and cache."""
    first = ReturnsLedger(store_env)
    second = ReturnsLedger(store_env)
    yield first, second
    first.close()
    second.close()


def held_parcel(ledger: ReturnsLedger) -> UUID:
    """A TikTok parcel held at the warehouse whose hold ends at T0 + 20 days."""
    parcel = ledger.register_parcel(
        platform="tiktok_shop", site="TH", seller_id="seller-1", order_id="ORDER-1",
        order_created_at=T0, tracking_number="TRK-RACE",
        lines=[Line("SKU-1", 1, Money.of("450.00", "THB"))],
        amount_paid=Money.of("450.00", "THB"), occurred_at=T0 + DAY).id
    ledger.record_failed_delivery(parcel, "refused", T0 + 5 * DAY)
    ledger.route_return(parcel, T0 + 6 * DAY)
    return parcel


def versions(ledger: ReturnsLedger, parcel: UUID) -> list[int]:
    return [e.originator_version for e in ledger.recorder.select_events(parcel)]


def forget(ledger: ReturnsLedger, parcel: UUID) -> None:
    """Drop the parcel from the ledger's cache: its next command reads it from the store."""
    try:
        ledger.repository.cache.get(parcel, evict=True)
    except KeyError:
        pass


def after_load(ledger: ReturnsLedger, hook: Callable[[], None]) -> None:
    """Run `hook` once, right after this ledger loads a parcel for a command, before it saves."""
    load = ledger._parcel_for_command
    pending = [hook]

    def loaded(*args: Any, **kwargs: Any) -> Any:
        aggregate = load(*args, **kwargs)
        if pending:
            pending.pop()()
        return aggregate

    ledger._parcel_for_command = loaded  # type: ignore[method-assign]


def test_second_writer_from_the_same_version_gets_a_version_conflict(ledgers) -> None:
    first, second = ledgers
    parcel = held_parcel(first)
    before = versions(first, parcel)
    forget(first, parcel)  # the first ledger reads the parcel from the store
    # The second ledger loads and saves a redelivery request while the first ledger
    # holds the same version in hand and is about to record the disposal.
    after_load(first, lambda: second.request_redelivery(parcel, T0 + 10 * DAY))
    with pytest.raises(VersionConflictError) as err:
        first.dispose(parcel, "destroyed", T0 + 21 * DAY)
    assert err.value.aggregate_id == parcel

    assert versions(first, parcel) == list(range(1, len(before) + 2))
    types = [entry.type for entry in second.get_parcel_history(parcel)]
    assert types.count("RedeliveryRequested") == 1 and "Destroyed" not in types
    # Both applications now read the winner's state, the loser's cache included.
    for ledger in (first, second):
        state = ledger.get_parcel(parcel)
        assert (state.status, state.version) == ("redelivering", len(before) + 1)
    # The loser retries on the new version: the state now refuses the disposal.
    with pytest.raises(TransitionError):
        first.dispose(parcel, "destroyed", T0 + 21 * DAY)


def test_a_cached_copy_that_lost_the_race_is_decided_again_on_the_stored_state(
        ledgers) -> None:
    """The first ledger acts on the copy in its cache (no read); its save conflicts, so
    the command is decided again on the parcel as stored, which refuses the disposal."""
    first, second = ledgers
    parcel = held_parcel(first)
    before = versions(first, parcel)
    after_load(first, lambda: second.request_redelivery(parcel, T0 + 10 * DAY))
    with pytest.raises(TransitionError):
        first.dispose(parcel, "destroyed", T0 + 21 * DAY)
    assert versions(first, parcel) == list(range(1, len(before) + 2))
    assert first.get_parcel(parcel).status == "redelivering"


def test_stale_expected_version_is_refused_without_writing(ledgers) -> None:
    first, second = ledgers
    parcel = held_parcel(first)
    seen = second.get_parcel(parcel).version
    first.request_redelivery(parcel, T0 + 10 * DAY, expected_version=seen)
    with pytest.raises(VersionConflictError) as err:
        second.dispose(parcel, "abandoned", T0 + 21 * DAY, expected_version=seen)
    assert (err.value.expected, err.value.actual) == (seen, seen + 1)
    assert versions(second, parcel) == list(range(1, seen + 2))


def race(ledgers: list[ReturnsLedger], command: Callable[[ReturnsLedger], Any],
         barrier: threading.Barrier | None) -> list[Any]:
    """Run the command on every ledger in its own thread; the outcome of each."""
    outcomes: list[Any] = [None] * len(ledgers)

    def run(index: int, ledger: ReturnsLedger) -> None:
        try:
            outcomes[index] = command(ledger)
        except DomainError as error:
            outcomes[index] = error

    if barrier is not None:  # every thread holds the same version before anyone saves
        for ledger in set(ledgers):
            ledger._parcel_for_command = _first_load_waits(  # type: ignore[method-assign]
                ledger._parcel_for_command, barrier)
    threads = [threading.Thread(target=run, args=(i, ledger)) for i, ledger in
               enumerate(ledgers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a writer is stuck"
    return outcomes


def _first_load_waits(get: Callable[..., Any], barrier: threading.Barrier,
                      ) -> Callable[..., Any]:
    """Each thread's first load waits at the barrier after reading the parcel."""
    waited = threading.local()

    def wait_after_load(*args: Any, **kwargs: Any) -> Any:
        aggregate = get(*args, **kwargs)
        if not getattr(waited, "done", False):
            waited.done = True
            barrier.wait()
        return aggregate

    return wait_after_load


@pytest.mark.parametrize(("shared", "group_commit"), [(True, "no"), (True, "yes"),
                                                     (False, "no")],
                         ids=["one-app", "one-app-group-commit", "app-per-thread"])
def test_threads_loading_the_same_version_one_wins_the_rest_conflict(
        store_env: dict[str, str], shared: bool, group_commit: str) -> None:
    env = {**store_env, "GROUP_COMMIT": group_commit}
    apps = [ReturnsLedger(env) for _ in range(1 if shared else THREADS)]
    try:
        parcel = held_parcel(apps[0])
        before = len(versions(apps[0], parcel))
        for app in apps:
            forget(app, parcel)
        writers = apps * THREADS if shared else apps
        outcomes = race(writers, lambda ledger: ledger.dispose(
            parcel, "destroyed", T0 + 21 * DAY), threading.Barrier(THREADS, timeout=30))
        winners = [o for o in outcomes if not isinstance(o, Exception)]
        assert len(winners) == 1, outcomes
        losers = [o for o in outcomes if o not in winners]
        if shared:  # a thread may act on the copy another cached: decided again, refused
            assert all(isinstance(o, (VersionConflictError, TransitionError)) for o in losers)
        else:  # every thread read the stored parcel: the save is what refuses them
            assert all(isinstance(o, VersionConflictError) for o in losers), losers
        assert versions(apps[0], parcel) == list(range(1, before + 2))
        fresh = ReturnsLedger(store_env)
        assert fresh.get_parcel(parcel).status == "destroyed"
        fresh.close()
    finally:
        for app in apps:
            app.close()


@pytest.mark.parametrize("group_commit", ["no", "yes"])
def test_free_race_records_the_command_exactly_once(store_env: dict[str, str],
                                                    group_commit: str) -> None:
    first = ReturnsLedger({**store_env, "GROUP_COMMIT": group_commit})
    # Grouped saves happen inside one application; otherwise each thread has its own.
    apps = [first] * THREADS if group_commit == "yes" else [first] + [
        ReturnsLedger(store_env) for _ in range(THREADS - 1)]
    try:
        parcel = held_parcel(apps[0])
        before = len(versions(apps[0], parcel))
        outcomes = race(apps, lambda ledger: ledger.dispose(parcel, "abandoned",
                                                            T0 + 21 * DAY), None)
        winners = [o for o in outcomes if not isinstance(o, Exception)]
        assert len(winners) == 1, outcomes
        # Losers either saved from the same version or loaded the abandoned parcel.
        assert all(isinstance(o, (VersionConflictError, TransitionError))
                   for o in outcomes if o not in winners)
        history = [e.type for e in apps[0].get_parcel_history(parcel)]
        assert history.count("Abandoned") == 1
        assert versions(apps[0], parcel) == list(range(1, before + 2))
    finally:
        for app in set(apps):
            app.close()


def _failed_parcel(ledger: ReturnsLedger, n: int) -> UUID:
    parcel = ledger.register_parcel(
        platform="tiktok_shop", site="MY", seller_id="seller-addr", order_id=f"ORDER-A{n}",
        order_created_at=T0, tracking_number=f"TRK-ADDR-{n}",
        lines=[Line("SKU-1", 1, Money.of("50.00", "MYR"))],
        amount_paid=Money.of("50.00", "MYR"), occurred_at=T0 + DAY).id
    ledger.record_failed_delivery(parcel, "unreachable", T0 + 5 * DAY)
    return parcel


def _routed_to(ledger: ReturnsLedger, parcel: UUID) -> str | None:
    return ledger.route_return(parcel, T0 + 6 * DAY).extra["decision"].address_id


def test_tt1_routing_never_chooses_an_address_another_worker_deactivated(ledgers) -> None:
    """Routing takes the seller's directory and addresses from the cache only when one
    query shows they are the last stored versions: one query, no event read, while
    nothing changed; an address deactivated by another worker is seen at once."""
    first, second = ledgers

    def address(country_day: int) -> UUID:
        return first.register_return_address(
            seller_id="seller-addr", platform="tiktok_shop", country="MY",
            address={"lines": [f"{country_day} Jalan Example"], "city": "Kuala Lumpur",
                     "postcode": "50000"}, effective_from=T0 - 30 * DAY,
            occurred_at=T0 - country_day * DAY).id

    old = address(30)
    assert _routed_to(second, _failed_parcel(second, 1)) == str(old)  # second now holds them
    reads: list[UUID] = []
    select_events = second.recorder.select_events

    def counting(originator_id: Any, *args: Any, **kwargs: Any) -> Any:
        reads.append(UUID(str(originator_id)))
        return select_events(originator_id, *args, **kwargs)

    second.recorder.select_events = counting  # type: ignore[method-assign]
    assert _routed_to(second, _failed_parcel(second, 2)) == str(old)
    assert old not in reads and not reads  # nothing changed: no events read

    first.deactivate_return_address(old, "moved", T0 - DAY)  # the address alone changed
    assert _routed_to(second, _failed_parcel(second, 3)) is None  # TT-2: held, no address
    assert old in reads  # the stale copy was read afresh
    new = address(20)  # the directory changed
    assert _routed_to(second, _failed_parcel(second, 4)) == str(new)  # TT-1: the current one
