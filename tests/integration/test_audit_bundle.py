"""The offline bundle verifies with no database, and forged bundles fail."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from application.audit.bundle import verify_bundle, write_bundle
from application.audit.verification import LedgerAudit
from application.ledger import ReturnsLedger
from demo.scenarios import SCENARIOS
from infrastructure.hash_chain import GENESIS, PREV_HASH, event_hash, next_digest
from tests.integration.audit_tampering import StoreTamperer, edited

NOW = datetime(2026, 4, 1, tzinfo=UTC)
Lines = list[dict[str, Any]]


@pytest.fixture
def ledger_with_parcels(ledger) -> tuple[ReturnsLedger, dict[str, Any]]:
    return ledger, {name: SCENARIOS[name](ledger, "") for name in ("amazon", "cdiscount",
                                                                    "lazada")}


def _bundle(ledger: ReturnsLedger, **scope: Any) -> tuple[Lines, str]:
    out = io.StringIO()
    digest = write_bundle(LedgerAudit(ledger), out, NOW, **scope)
    return [json.loads(line) for line in out.getvalue().splitlines()], digest.token


def _verify(lines: Lines, digest: str | None = None) -> Any:
    return verify_bundle([json.dumps(line) for line in lines], digest)


def _events(lines: Lines) -> list[int]:
    return [i for i, line in enumerate(lines) if line["kind"] == "event"]


def _relink(lines: Lines) -> None:
    """A forger's rewrite: recompute every hash, link and the trailer digest."""
    heads: dict[str, str] = {}
    digest = GENESIS
    for line in lines[1:-1]:
        if line["kind"] == "event":
            state = json.loads(base64.b64decode(line["state"]))
            state[PREV_HASH] = line["prev_hash"] = heads.get(line["originator_id"], GENESIS)
            raw = json.dumps(state, separators=(",", ":")).encode()
            line["state"] = base64.b64encode(raw).decode()
            line["hash"] = event_hash(line["originator_id"], line["version"], line["topic"], raw)
            heads[line["originator_id"]] = line["hash"]
        digest = next_digest(digest, line["id"], line["hash"])
    lines[-1]["digest"] = digest


def test_whole_store_bundle_verifies_offline_against_the_ledger_digest(ledger_with_parcels) -> None:
    ledger, _ = ledger_with_parcels
    lines, token = _bundle(ledger)
    assert token == LedgerAudit(ledger).digest().token
    assert lines[0]["format"] == "returns-ledger-audit-bundle" and lines[0]["hash_algorithm"] == "sha256"
    assert {line["kind"] for line in lines[1:-1]} == {"event"}
    result = _verify(lines, token)
    assert result.ok and result.anchored and result.events == len(lines) - 2
    assert not _verify(lines).anchored  # without a trusted digest: self-consistent only


def test_parcel_bundle_has_its_events_in_full_and_witnesses_for_the_rest(ledger_with_parcels) -> None:
    ledger, parcels = ledger_with_parcels
    lines, token = _bundle(ledger, parcel=parcels["amazon"])
    full = [lines[i] for i in _events(lines)]
    assert {line["originator_id"] for line in full} == {str(parcels["amazon"])}
    assert [line["version"] for line in full] == list(range(1, 11))
    witnesses = [line for line in lines if line["kind"] == "witness"]
    assert witnesses and set(witnesses[0]) == {"kind", "id", "hash"}
    assert _verify(lines, token).ok


def test_seller_bundle_holds_only_that_sellers_aggregates(ledger_with_parcels) -> None:
    ledger, parcels = ledger_with_parcels
    lines, token = _bundle(ledger, seller="seller-lz")
    ids = {line["originator_id"] for line in lines if line["kind"] == "event"}
    assert str(parcels["lazada"]) in ids and str(parcels["amazon"]) not in ids
    assert len(ids) >= 3  # the parcel, its return address and the seller's directory
    assert _verify(lines, token).ok


FORGERIES: dict[str, Callable[[Lines], None]] = {
    "edited state": lambda lines: lines[_events(lines)[2]].update(state=base64.b64encode(
        edited(base64.b64decode(lines[_events(lines)[2]]["state"]), actor="x")).decode()),
    "edited state with its own hash recomputed": lambda lines: _edit_and_rehash(lines, 2),
    "dropped event line": lambda lines: lines.pop(_events(lines)[3]),
    "dropped last event line": lambda lines: lines.pop(_events(lines)[-1]),
    "dropped trailer": lambda lines: lines.pop(),
    "reordered lines": lambda lines: lines.insert(3, lines.pop(2)),
    "wrong format version": lambda lines: lines[0].update(format_version=2),
    "wrong hash algorithm": lambda lines: lines[0].update(hash_algorithm="md5"),
    "no header": lambda lines: lines.pop(0),
    "trailer digest replaced": lambda lines: lines[-1].update(digest="0" * 64),
}


def _edit_and_rehash(lines: Lines, n: int) -> None:
    line = lines[_events(lines)[n]]
    raw = edited(base64.b64decode(line["state"]), actor="x")
    line["state"] = base64.b64encode(raw).decode()
    line["hash"] = event_hash(line["originator_id"], line["version"], line["topic"], raw)


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_forged_bundle_fails(ledger_with_parcels, forgery) -> None:
    ledger, _ = ledger_with_parcels
    lines, token = _bundle(ledger)
    assert _verify(lines, token).ok
    FORGERIES[forgery](lines)
    assert not _verify(lines).ok, "even without a trusted digest"
    assert not _verify(lines, token).ok


def test_consistently_recomputed_bundle_fails_only_against_the_right_digest(ledger_with_parcels) -> None:
    ledger, _ = ledger_with_parcels
    lines, token = _bundle(ledger)
    target = lines[_events(lines)[4]]
    target["state"] = base64.b64encode(
        edited(base64.b64decode(target["state"]), actor="someone-else")).decode()
    _relink(lines)
    assert _verify(lines).ok  # a forger can make it self-consistent ...
    result = _verify(lines, token)  # ... but not match the digest the auditor holds
    assert not result.ok and result.breach.reason == "digest_mismatch"


def test_an_earlier_digest_checks_the_prefix_of_a_later_bundle(ledger_with_parcels) -> None:
    ledger, parcels = ledger_with_parcels
    earlier = LedgerAudit(ledger).digest().token
    SCENARIOS["tiktok_shop_hold"](ledger, "-later")
    lines, _ = _bundle(ledger)
    assert _verify(lines, earlier).ok


def test_bundle_exported_after_tampering_fails_against_the_earlier_digest(ledger_with_parcels, ledger_env) -> None:  # noqa: E501
    ledger, parcels = ledger_with_parcels
    token = LedgerAudit(ledger).digest().token
    StoreTamperer(ledger_env).rewrite_from(parcels["cdiscount"], 5, {"actor": "intruder"})
    lines, _ = _bundle(ledger)
    assert _verify(lines).ok
    assert _verify(lines, token).breach.reason == "digest_mismatch"
