"""Complete parcel bundles (format 2): verified offline with only the log's public key, and
every forgery of docs/AUDIT_BUNDLE.md refused, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from application.audit.log import AuditLog, load_signer, new_signing_key
from application.audit.transparency import (
    NoteSigner,
    ProofError,
    b64,
    unb64,
    verify_parcel_bundle,
)
from application.ledger import ReturnsLedger
from demo.scenarios import SCENARIOS

NOW = datetime(2026, 4, 1, tzinfo=UTC)
Lines = list[dict[str, Any]]


@pytest.fixture
def scene(store_env) -> Any:
    ledger = ReturnsLedger(store_env)
    parcels = {name: SCENARIOS[name](ledger, "") for name in ("amazon", "cdiscount")}
    log = AuditLog(ledger)
    kept = log.checkpoint(NOW)[0].note
    SCENARIOS["lazada"](ledger, "")
    log.checkpoint(NOW)
    yield ledger, log, parcels, kept
    ledger.close()


def _verify(log: AuditLog, lines: Lines, **options: Any) -> Any:
    return verify_parcel_bundle([json.dumps(line) for line in lines],
                                options.pop("keys", [log.signer.verifier]), **options)


def test_a_complete_bundle_verifies_with_only_the_public_key(scene) -> None:
    _, log, parcels, kept = scene
    lines = log.parcel_bundle(parcels["amazon"], NOW)
    checkpoint, events = _verify(log, lines, kept=[kept])
    assert events == 10 and checkpoint.size == log.latest().size
    assert [line["kind"] for line in lines] == ["header", *["event"] * 10, "map", "trailer"]


def _events(lines: Lines) -> Lines:
    return [line for line in lines if line["kind"] == "event"]


def _as_witnesses(lines: Lines) -> Lines:
    """The old trick: the parcel's own event lines turned into witness lines."""
    return [{"kind": "witness", "id": line["position"], "hash": line["hash"]}
            if line["kind"] == "event" else line for line in lines]


def _tail_withheld(lines: Lines) -> Lines:
    last = _events(lines)[-1]
    kept = [line for line in lines if line is not last]
    kept[-1] = {**kept[-1], "events": kept[-1]["events"] - 1}
    return kept


def _all_withheld(lines: Lines) -> Lines:
    return [line for line in lines if line["kind"] != "event"]


def _first_withheld(lines: Lines) -> Lines:
    first = _events(lines)[0]
    kept = [line for line in lines if line is not first]
    kept[-1] = {**kept[-1], "events": kept[-1]["events"] - 1}
    return kept


def _scope_widened(lines: Lines) -> Lines:
    lines[0]["scope"] = {"all": True}
    return lines


def _middle_withheld(lines: Lines) -> Lines:
    middle = _events(lines)[4]
    return [line for line in lines if line is not middle]


def _scope_swapped(other: str) -> Callable[[Lines], Lines]:
    def forge(lines: Lines) -> Lines:
        lines[0]["scope"] = {"parcel": other}
        return lines
    return forge


def _scope_and_events_swapped(other: str) -> Callable[[Lines], Lines]:
    def forge(lines: Lines) -> Lines:
        lines[0]["scope"] = {"parcel": other}
        for line in lines[1:-1]:
            line["originator_id"] = other
        return lines
    return forge


def _proof_node(change: str) -> Callable[[Lines], Lines]:
    def forge(lines: Lines) -> Lines:
        proof = _events(lines)[2]["proof"]
        if change == "dropped":
            proof.pop()
        elif change == "added":
            proof.append(proof[-1])
        else:
            proof[0] = b64(bytes(32))
        return lines
    return forge


def _map_node_dropped(lines: Lines) -> Lines:
    next(line for line in lines if line["kind"] == "map")["proof"].pop()
    return lines


def _edited_state(lines: Lines) -> Lines:
    line = _events(lines)[3]
    state = json.loads(unb64(line["state"]))
    state["actor"] = "someone-else"
    line["state"] = b64(json.dumps(state).encode())
    return lines


FORGERIES: dict[str, Callable[[Lines], Lines]] = {
    "witness lines for in-scope events": _as_witnesses,
    "first withheld": _first_withheld,
    "tail withheld": _tail_withheld,
    "middle withheld": _middle_withheld,
    "every event withheld": _all_withheld,
    "inclusion proof node dropped": _proof_node("dropped"),
    "inclusion proof node added": _proof_node("added"),
    "inclusion proof node replaced": _proof_node("replaced"),
    "map proof node dropped": _map_node_dropped,
    "event state edited": _edited_state,
    "scope rewritten to the whole store": _scope_widened,
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_forged_bundles_are_refused(scene, forgery) -> None:
    _, log, parcels, _ = scene
    lines = copy.deepcopy(log.parcel_bundle(parcels["amazon"], NOW))
    with pytest.raises(ProofError):
        _verify(log, FORGERIES[forgery](lines))


@pytest.mark.parametrize("forge", [_scope_swapped, _scope_and_events_swapped])
def test_a_swapped_scope_is_refused(scene, forge) -> None:
    _, log, parcels, _ = scene
    lines = log.parcel_bundle(parcels["amazon"], NOW)
    with pytest.raises(ProofError):
        _verify(log, forge(str(parcels["cdiscount"]))(lines))


def test_a_proof_for_another_tree_size_is_refused(scene) -> None:
    _, log, parcels, kept = scene
    old_size = int(kept.split("\n")[1])
    older = log.parcel_bundle(parcels["amazon"], NOW, size=old_size)
    newer = log.parcel_bundle(parcels["amazon"], NOW)
    assert older[1]["proof"] != newer[1]["proof"]
    older[0]["checkpoint"] = newer[0]["checkpoint"]  # proofs of size N, checkpoint of M
    with pytest.raises(ProofError, match="inclusion proof"):
        _verify(log, older)


def test_a_checkpoint_signed_by_another_key_is_refused(scene) -> None:
    _, log, parcels, _ = scene
    lines = log.parcel_bundle(parcels["amazon"], NOW)
    stranger = NoteSigner(log.origin, load_signer({"AUDIT_SIGNING_KEY": new_signing_key()}
                                                  )._key)
    note = lines[0]["checkpoint"]
    lines[0]["checkpoint"] = stranger.sign(note[:note.index("\n\n") + 1])
    with pytest.raises(ProofError, match="no signature of a log key you trust"):
        _verify(log, lines)
    _verify(log, lines, keys=[stranger.verifier])  # ... which is only as good as that key


def test_a_checkpoint_older_than_a_kept_one_is_refused(scene) -> None:
    _, log, parcels, kept = scene
    old_size = int(kept.split("\n")[1])
    older = log.parcel_bundle(parcels["amazon"], NOW, size=old_size)
    latest = log.latest().note
    _verify(log, older, kept=[kept])  # as old as the kept one: fine
    with pytest.raises(ProofError, match="smaller than the one you kept"):
        _verify(log, older, kept=[latest])


def test_a_bundle_needs_the_witnesses_demanded(scene) -> None:
    _, log, parcels, _ = scene
    lines = log.parcel_bundle(parcels["amazon"], NOW)
    witness = load_signer({"AUDIT_SIGNING_KEY": new_signing_key(),
                           "AUDIT_ORIGIN": "witness.example"})
    with pytest.raises(ProofError, match="witness"):
        _verify(log, lines, witnesses=[witness.verifier], witnesses_needed=1)
    note = lines[0]["checkpoint"]
    text = note[:note.index("\n\n") + 1]
    lines[0]["checkpoint"] = note + witness.signature_line(text)
    _verify(log, lines, witnesses=[witness.verifier], witnesses_needed=1)


def test_a_bundle_of_a_parcel_without_events_cannot_be_made(scene) -> None:
    from uuid import uuid4

    from application.audit.log import LogNotFoundError
    from domain.errors import ParcelNotFoundError

    _, log, _, _ = scene
    with pytest.raises((LogNotFoundError, ParcelNotFoundError)):
        log.parcel_bundle(uuid4(), NOW)
