"""The transparency log on SQLite and PostgreSQL: the tree follows the stored events,
checkpoints are signed and stored, proofs verify, and tampering shows against a checkpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from uuid import UUID

import pytest

from application.audit.log import AuditLog, CheckpointTimer, load_signer, new_signing_key
from application.audit.transparency import (
    CompactRange,
    NoteSigner,
    NoteVerifier,
    event_leaf,
    open_checkpoint,
    unb64,
    verify_consistency,
    verify_inclusion,
    verify_parcel_bundle,
)
from application.audit.verification import LedgerAudit
from application.ledger import ReturnsLedger
from demo.scenarios import SCENARIOS
from tests.integration.audit_tampering import StoreTamperer

NOW = datetime(2026, 4, 1, tzinfo=UTC)


@pytest.fixture
def store(store_env) -> Iterator[tuple[ReturnsLedger, UUID, UUID, StoreTamperer, AuditLog]]:
    ledger = ReturnsLedger(store_env)
    first = SCENARIOS["amazon"](ledger, "")
    second = SCENARIOS["cdiscount"](ledger, "")
    yield ledger, first, second, StoreTamperer(store_env), AuditLog(ledger)
    ledger.close()


def _opened(log: AuditLog, note: str):
    return open_checkpoint(note, [log.signer.verifier], log.origin)


def test_the_tree_is_every_stored_event_in_position_order(store) -> None:
    ledger, _, _, _, log = store
    size = log.update()
    events = list(LedgerAudit(ledger).events())
    assert size == len(events)
    compact = CompactRange()
    for event in events:
        compact.append(event_leaf(event.position, event.hash))
    assert log.root(size) == compact.root()
    assert log.update() == size  # nothing new: nothing appended


def test_a_checkpoint_is_signed_and_only_taken_when_the_log_grew(store) -> None:
    ledger, parcel, _, _, log = store
    taken, new = log.checkpoint(NOW)
    assert new and taken.size == log.store.state()[0]
    assert _opened(log, taken.note).root == taken.root
    again, new = log.checkpoint(NOW)
    assert not new and again == taken
    ledger.close_parcel(parcel, ledger.get_parcel(parcel).modified_at)
    later, new = log.checkpoint(NOW)
    assert new and later.size == taken.size + 1
    assert [c.size for c in log.store.checkpoints()] == [later.size, taken.size]


def test_inclusion_proofs_of_every_event_verify_against_the_signed_root(store) -> None:
    ledger, parcel, _, _, log = store
    taken, _ = log.checkpoint(NOW)
    root = _opened(log, taken.note).root
    for event in LedgerAudit(ledger).events():
        proof = log.inclusion(position=event.position)
        verify_inclusion(event_leaf(event.position, event.hash), proof.leaf_index,
                         taken.size, proof.hashes, root)
    by_version = log.inclusion(originator_id=parcel, version=3)
    assert (by_version.originator_id, by_version.version) == (str(parcel), 3)


def test_gaps_in_positions_are_not_tampering(store) -> None:
    """Positions a failed transaction consumed (a PostgreSQL sequence after a conflict) never
    appear: the tree's leaves stay 0, 1, 2, ... over the positions there are, and every
    check, proof and bundle still verifies."""
    ledger, parcel, _, tamper, log = store
    first, _ = log.checkpoint(NOW)
    if tamper.postgres:
        tamper.run(f"SELECT setval(pg_get_serial_sequence('{tamper.table}', "
                   "'notification_id'), (SELECT MAX(notification_id) FROM "
                   f"{tamper.table}) + 7)")
    else:
        tamper.run("UPDATE sqlite_sequence SET seq = seq + 7 WHERE name = 'stored_events'")
    before = tamper.max_position()
    ledger.close_parcel(parcel, ledger.get_parcel(parcel).modified_at)
    assert tamper.positions(parcel)[-1] == before + 8  # seven positions never used
    taken, new = log.checkpoint(NOW)
    assert new and taken.size == first.size + 1
    proof = log.inclusion(position=before + 8)
    assert proof.leaf_index == first.size
    verify_inclusion(proof.leaf_hash, proof.leaf_index, taken.size, proof.hashes,
                     _opened(log, taken.note).root)
    assert log.verify_all(first.note).ok and log.verify_all(taken.note).ok
    assert log.verify_stored().ok and log.verify_parcel(parcel).ok
    lines = [json.dumps(line) for line in log.parcel_bundle(parcel, NOW)]
    assert verify_parcel_bundle(lines, [log.signer.verifier], kept=[first.note])[1] == 11


def test_consistency_between_any_two_checkpoints(store) -> None:
    ledger, parcel, _, _, log = store
    first, _ = log.checkpoint(NOW)
    SCENARIOS["lazada"](ledger, "")
    second, _ = log.checkpoint(NOW)
    proof = log.consistency(first.size, second.size)
    verify_consistency(first.size, second.size, proof.hashes, _opened(log, first.note).root,
                       _opened(log, second.note).root)
    assert log.consistency(first.size).second == second.size  # default: the latest


def test_rotation_keeps_old_checkpoints_verifiable(store, store_env) -> None:
    ledger, parcel, _, _, log = store
    old, _ = log.checkpoint(NOW)
    old_key = log.signer.verifier
    ledger.close_parcel(parcel, ledger.get_parcel(parcel).modified_at)
    rotated = AuditLog(ledger, load_signer({"AUDIT_SIGNING_KEY": new_signing_key()}))
    new, _ = rotated.checkpoint(NOW)
    assert new.key_id != old.key_id
    keys = rotated.verifiers()
    assert {k.vkey for k in keys} == {old_key.vkey, rotated.signer.verifier.vkey}
    assert open_checkpoint(old.note, keys).size == old.size
    assert open_checkpoint(new.note, keys).size == new.size


def test_the_timer_checkpoints_only_when_the_log_grew(store) -> None:
    ledger, parcel, _, _, _ = store
    timer = CheckpointTimer(ledger, 3600, clock=lambda: NOW)
    assert timer.tick() is not None
    assert timer.tick() is None
    ledger.close_parcel(parcel, ledger.get_parcel(parcel).modified_at)
    assert timer.tick() is not None


def test_the_key_file_is_made_once_and_private(tmp_path) -> None:
    path = tmp_path / "var" / "audit.key"
    first = load_signer({"AUDIT_SIGNING_KEY_FILE": str(path)})
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert load_signer({"AUDIT_SIGNING_KEY_FILE": str(path)}).verifier == first.verifier
    assert [p.name for p in path.parent.iterdir()] == ["audit.key"]
    with pytest.raises(ValueError, match="AUDIT_SIGNING_KEY"):
        load_signer({"AUDIT_SIGNING_KEY": "too-short"})


# -- tampering against a kept checkpoint ----------------------------------------------------
def _kept(log: AuditLog) -> str:
    return log.checkpoint(NOW)[0].note


def test_untouched_store_verifies_against_its_checkpoint(store) -> None:
    _, _, _, _, log = store
    result = log.verify_all(_kept(log))
    assert result.ok and result.anchored


def test_a_consistent_rewrite_fails_against_the_checkpoint(store) -> None:
    _, parcel, _, tamper, log = store
    kept = _kept(log)
    tamper.rewrite_from(parcel, 8, {"actor": "someone-else"})
    assert LedgerAudit(log.audit.ledger).verify_all().ok  # chains re-linked: passes alone
    breach = log.verify_all(kept).breach
    assert breach.reason == "checkpoint_mismatch"
    assert breach.position == tamper.positions(parcel)[7] and breach.version == 8
    # The per-parcel check sees it too, against the leaves the log recorded.
    assert log.verify_parcel(parcel).breach.reason == "read_mismatch"


def test_a_removed_tail_then_a_new_event_fails_against_the_checkpoint(store, store_env) -> None:
    ledger, parcel, second, tamper, log = store
    kept = _kept(log)
    tamper.delete_last()
    worker = ReturnsLedger(store_env)
    try:
        worker.close_parcel(parcel, worker.get_parcel(parcel).modified_at)
    finally:
        worker.close()
    breach = log.verify_all(kept).breach
    assert breach.reason == "checkpoint_mismatch"
    assert log.verify_parcel(second).breach.reason == "read_mismatch"


def test_a_forged_event_after_the_checkpoint_passes_it_but_not_the_next(store) -> None:
    ledger, parcel, _, tamper, log = store
    kept = _kept(log)
    tamper.forge_next(parcel, 9, actor="forger")  # correctly chained, after the checkpoint
    assert log.verify_all(kept).ok  # the kept checkpoint says nothing of later events
    taken, _ = log.checkpoint(NOW)  # ... but the forged event is now a leaf for good
    tamper.delete(parcel, 11)
    assert log.verify_all(taken.note).breach.reason == "truncated"


def test_a_checkpoint_signed_by_another_key_is_refused(store) -> None:
    _, _, _, _, log = store
    kept = _kept(log)
    stranger = NoteSigner(log.origin, load_signer({"AUDIT_SIGNING_KEY": new_signing_key()}
                                                  )._key)
    forged = stranger.sign(kept[:kept.index("\n\n") + 1])
    assert log.verify_all(forged).breach.reason == "bad_checkpoint"
    assert log.verify_all(forged, [NoteVerifier.parse(stranger.verifier.vkey)]).ok
    assert unb64(kept.split("\n")[2]) == log.latest().root


def test_the_map_kept_between_checkpoints_is_the_map_built_afresh(store, store_env) -> None:
    ledger, parcel, second, _, log = store
    log.checkpoint(NOW)
    SCENARIOS["lazada"](ledger, "")  # a new aggregate and new versions of old ones
    ledger.close_parcel(parcel, ledger.get_parcel(parcel).modified_at)
    taken, _ = log.checkpoint(NOW)
    fresh = log.map(taken.size)
    assert f"map {len(fresh.entries)} " in taken.note
    assert taken.note.split("\n")[3].split(" ")[2] == __import__("base64").b64encode(
        fresh.root()).decode()
    key = parcel.bytes
    assert fresh.entries[fresh.index[key]][1] == ledger.get_parcel(parcel).version
