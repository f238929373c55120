"""The hashing rules an outside auditor reimplements (docs/AUDIT_BUNDLE.md)."""

from __future__ import annotations

import base64
import hashlib
import json
from uuid import UUID

from application.audit.bundle import verify_bundle
from infrastructure.hash_chain import GENESIS, ChainHeads, event_hash, next_digest

AGGREGATE = UUID("12345678-1234-5678-1234-567812345678")
TOPIC = "domain.parcel:ReturnParcel.ParcelRegistered"


def test_event_hash_is_sha256_over_id_version_topic_and_state() -> None:
    state = b'{"prev_hash":"' + GENESIS.encode() + b'"}'
    expected = hashlib.sha256(b"12345678-1234-5678-1234-567812345678\x001\x00" +
                              TOPIC.encode() + b"\x00" + state).hexdigest()
    assert event_hash(AGGREGATE, 1, TOPIC, state) == expected
    assert event_hash(AGGREGATE, 2, TOPIC, state) != expected  # the version is bound in


def test_digest_step_binds_the_notification_id() -> None:
    h = "ab" * 32
    expected = hashlib.sha256(bytes(32) + (7).to_bytes(8, "big") + bytes.fromhex(h)).hexdigest()
    assert next_digest(GENESIS, 7, h) == expected
    assert next_digest(GENESIS, 8, h) != expected


def _hand_made_bundle(ids: list[int]) -> tuple[list[str], str]:
    """A bundle built from the documented rules only, as an outside auditor would."""
    lines = [json.dumps({"kind": "header", "format": "returns-ledger-audit-bundle",
                         "format_version": 1, "hash_algorithm": "sha256", "genesis": GENESIS,
                         "state_encoding": "json"})]
    prev, digest = GENESIS, GENESIS
    for version, n_id in enumerate(ids, start=1):
        state = json.dumps({"prev_hash": prev, "n": version}).encode()
        h = event_hash(AGGREGATE, version, TOPIC, state)
        lines.append(json.dumps({"kind": "event", "id": n_id, "originator_id": str(AGGREGATE),
                                 "version": version, "topic": TOPIC, "prev_hash": prev,
                                 "state": base64.b64encode(state).decode(), "hash": h}))
        prev, digest = h, next_digest(digest, n_id, h)
    lines.append(json.dumps({"kind": "trailer", "position": ids[-1], "digest": digest}))
    return lines, f"{ids[-1]}:{digest}"


def test_gaps_in_notification_ids_are_not_tampering() -> None:
    lines, token = _hand_made_bundle([3, 7, 20])  # e.g. a PostgreSQL sequence after rollbacks
    result = verify_bundle(lines, token)
    assert result.ok and result.events == 3


def test_a_digest_with_another_position_does_not_match() -> None:
    lines, token = _hand_made_bundle([1, 2, 3])
    _, other = _hand_made_bundle([1, 2, 4])
    assert not verify_bundle(lines, other).ok
    assert verify_bundle(lines, token).ok


def test_chain_heads_are_keyed_by_aggregate_and_version_and_bounded() -> None:
    heads = ChainHeads(maxsize=2)
    heads.advance({"a": (3, "h3"), "b": (1, "hb")})
    assert heads.get("a", 3) == "h3"
    assert heads.get("a", 2) is None  # a stale version is a miss, never a wrong link
    heads.advance({"a": (2, "old")})  # never moves back
    assert heads.get("a", 3) == "h3"
    heads.advance({"c": (1, "hc")})  # evicts the least recently used: b
    assert heads.get("b", 1) is None and heads.get("c", 1) == "hc"
