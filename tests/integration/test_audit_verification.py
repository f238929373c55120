"""Tampering directly in SQLite and PostgreSQL is detected by the hash chain and the digest."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID

import pytest

from application.audit.report import LedgerDigest
from application.audit.verification import LedgerAudit
from application.ledger import ReturnsLedger
from demo.scenarios import SCENARIOS
from domain.errors import VersionConflictError
from infrastructure.hash_chain import GENESIS, PREV_HASH, embedded_prev_hash, event_hash
from tests.integration.audit_tampering import StoreTamperer, edited


@pytest.fixture
def store(store_env) -> Iterator[tuple[ReturnsLedger, UUID, UUID, StoreTamperer]]:
    """Two full lifecycles in a fresh store; the first parcel is the one we tamper with."""
    ledger = ReturnsLedger(store_env)
    first = SCENARIOS["amazon"](ledger, "")
    second = SCENARIOS["cdiscount"](ledger, "")
    yield ledger, first, second, StoreTamperer(store_env)
    ledger.close()


def test_every_stored_event_carries_its_predecessors_hash(store) -> None:
    ledger, parcel, _, tamper = store
    rows = tamper.rows(parcel)
    assert [v for v, _, _ in rows] == list(range(1, 11))
    prev = GENESIS
    for version, topic, state in rows:
        assert embedded_prev_hash(state) == prev
        prev = event_hash(parcel, version, topic, state)
    # ... and the domain events read back without it.
    assert all(PREV_HASH not in vars(e) for e in ledger.events.get(parcel))


def test_untouched_store_verifies(store) -> None:
    ledger, parcel, _, _ = store
    audit = LedgerAudit(ledger)
    assert audit.verify_parcel(parcel).ok
    taken = audit.digest()
    result = audit.verify_all(taken.token)
    assert result.ok and result.anchored and result.events == taken.events


def test_updated_state_bytes_are_detected(store) -> None:
    ledger, parcel, _, tamper = store
    tamper.update_state(parcel, 3, edited(tamper.state(parcel, 3), reason="changed my mind"))
    breach = LedgerAudit(ledger).verify_parcel(parcel).breach
    assert breach is not None and breach.reason == "hash_mismatch"
    assert breach.version == 4  # v4 recorded the hash of the original v3
    assert LedgerAudit(ledger).verify_all().breach.reason == "hash_mismatch"


def test_deleted_middle_event_is_detected(store) -> None:
    ledger, parcel, _, tamper = store
    tamper.delete(parcel, 5)
    breach = LedgerAudit(ledger).verify_parcel(parcel).breach
    assert (breach.reason, breach.version) == ("missing_version", 5)
    assert LedgerAudit(ledger).verify_all().breach.reason == "missing_version"


def test_swapped_versions_are_detected_as_out_of_order(store) -> None:
    ledger, parcel, _, tamper = store
    tamper.swap_versions(parcel, 2, 3)
    breach = LedgerAudit(ledger).verify_parcel(parcel).breach
    assert breach.reason == "out_of_order"
    assert "stored as v3 was recorded as v2" in breach.detail
    assert LedgerAudit(ledger).verify_all().breach.reason == "out_of_order"


def test_deleted_last_event_is_detected_only_through_an_earlier_digest(store) -> None:
    ledger, _, second, tamper = store
    audit = LedgerAudit(ledger)
    taken = audit.digest()
    tamper.delete_last()
    assert audit.verify_parcel(second).ok  # a shorter chain is still a chain
    assert audit.verify_all().ok
    breach = audit.verify_all(taken.token).breach
    assert breach is not None and breach.reason == "truncated"
    assert breach.position == taken.position - 1


def test_consistent_rewrite_is_detected_only_through_an_earlier_digest(store) -> None:
    ledger, parcel, _, tamper = store
    audit = LedgerAudit(ledger)
    taken = audit.digest()
    tamper.rewrite_from(parcel, 8, {"actor": "someone-else"})
    assert audit.verify_parcel(parcel).ok  # the intruder re-linked every successor
    assert audit.verify_all().ok
    breach = audit.verify_all(taken.token).breach
    assert breach is not None and breach.reason == "digest_mismatch"
    assert breach.position == taken.position


def test_a_later_digest_still_matches_an_earlier_one_on_an_untouched_store(store) -> None:
    ledger, parcel, _, _ = store
    audit = LedgerAudit(ledger)
    earlier = audit.digest()
    ledger.close_parcel(parcel, occurred_at=ledger.get_parcel(parcel).modified_at)
    later = audit.digest()
    assert later.position > earlier.position
    assert audit.digest(earlier.position) == earlier
    assert audit.verify_all(earlier.token).ok


def test_chain_head_is_not_advanced_by_a_conflicting_save(store, store_env) -> None:
    ledger, _, _, _ = store
    parcel = SCENARIOS["lazada"](ledger, "")  # ends received: inspection and closing remain
    at = ledger.get_parcel(parcel).modified_at
    stale = ledger.repository.get(parcel)
    head = stale.version
    other = ReturnsLedger(store_env)
    try:
        other.inspect(parcel, "resellable", at)  # another process stores head + 1 first
    finally:
        other.close()
    stale.close(at, "late writer")
    with pytest.raises(VersionConflictError):
        ledger.save(stale)  # our head + 1 loses
    assert ledger.events.heads.get(parcel, head + 1) is None
    misses = ledger.events.head_misses
    ledger.close_parcel(parcel, at)  # links to the head + 1 really stored, read on a miss
    assert ledger.events.head_misses == misses + 1
    assert LedgerAudit(ledger).verify_parcel(parcel).ok
    assert LedgerAudit(ledger).verify_all().ok


def test_warm_chain_cache_needs_no_extra_read(ledger) -> None:
    parcel = SCENARIOS["amazon"](ledger, "")
    assert ledger.events.head_misses == 0
    assert LedgerAudit(ledger).verify_parcel(parcel).ok


def test_cold_chain_cache_reads_the_last_stored_event(ledger_env) -> None:
    first = ReturnsLedger(ledger_env)
    parcel = SCENARIOS["lazada"](first, "")
    first.close()
    second = ReturnsLedger(ledger_env)  # a new process: nothing cached
    try:
        at = second.get_parcel(parcel).modified_at
        second.inspect(parcel, "resellable", at)
        second.close_parcel(parcel, at)
        assert second.events.head_misses == 1  # one read for the first command only
        assert LedgerAudit(second).verify_parcel(parcel).ok
    finally:
        second.close()


def test_digest_token_round_trips() -> None:
    digest = LedgerDigest(42, "ab" * 32, 40)
    assert LedgerDigest.parse(digest.token) == (42, "ab" * 32)
    with pytest.raises(ValueError):
        LedgerDigest.parse("42:nothex")


def test_chains_hold_under_concurrent_grouped_commands(store_env) -> None:
    """Threads racing on their own and on one shared parcel, saves grouped in transactions."""
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, datetime, timedelta

    from domain.money import Money
    from domain.values import Line

    t0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
    ledger = ReturnsLedger({**store_env, "GROUP_COMMIT": "yes"})
    try:
        def register(n: int) -> UUID:
            return ledger.register_parcel(
                platform="lazada", site="PH", seller_id="s", order_id=f"O-{n}",
                order_created_at=t0, tracking_number=f"LZ-RACE-{n}",
                lines=[Line("SKU", 1, Money.of("10.00", "PHP"))],
                amount_paid=Money.of("10.00", "PHP"), occurred_at=t0).id

        parcels = [register(n) for n in range(6)]

        def work(n: int) -> None:
            for target in (parcels[n], parcels[0], parcels[n]):
                try:
                    ledger.record_delivery_attempt(target, "not at home", t0 + timedelta(hours=n))
                except Exception:  # noqa: BLE001 - conflicts and TT-7 caps are expected here
                    continue

        with ThreadPoolExecutor(6) as pool:
            list(pool.map(work, range(6)))
        audit = LedgerAudit(ledger)
        assert all(audit.verify_parcel(p).ok for p in parcels)
        assert audit.verify_all().ok
    finally:
        ledger.close()
