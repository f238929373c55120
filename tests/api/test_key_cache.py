"""Authenticated keys are remembered briefly; a revocation still shuts the next request out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from application import access
from application.ledger import ReturnsLedger

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _count_key_reads(ledger: ReturnsLedger) -> list[int]:
    original, reads = ledger._get_key, [0]

    def counting(key_id: Any) -> Any:
        reads[0] += 1
        return original(key_id)

    ledger._get_key = counting  # type: ignore[method-assign]
    return reads


def test_a_key_is_read_from_the_store_once_per_ttl(ledger: ReturnsLedger) -> None:
    issued = ledger.issue_api_key("client", "s1", NOW)
    reads = _count_key_reads(ledger)
    for _ in range(5):
        assert ledger.authenticate(issued.token) == issued.key
    assert reads[0] == 1


def test_a_wrong_secret_for_a_remembered_key_is_refused(ledger: ReturnsLedger) -> None:
    issued = ledger.issue_api_key("client", "s1", NOW)
    assert ledger.authenticate(issued.token) is not None
    forged = issued.token[:-4] + ("AAAA" if not issued.token.endswith("AAAA") else "BBBB")
    assert ledger.authenticate(forged) is None


def test_revocation_in_the_same_process_takes_effect_at_once(ledger: ReturnsLedger) -> None:
    issued = ledger.issue_api_key("client", "s1", NOW)
    assert ledger.authenticate(issued.token) is not None
    ledger.revoke_api_key(issued.key.id, NOW)
    assert ledger.authenticate(issued.token) is None


def test_revocation_in_another_process_takes_effect_when_the_entry_expires(
        ledger: ReturnsLedger, ledger_env: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    issued = ledger.issue_api_key("client", "s1", NOW)
    clock = [1000.0]
    monkeypatch.setattr(access.time, "monotonic", lambda: clock[0])
    assert ledger.authenticate(issued.token) is not None
    other = ReturnsLedger(ledger_env)  # another worker on the same store
    try:
        other.revoke_api_key(issued.key.id, NOW)
    finally:
        other.close()
    clock[0] += access.KEY_CACHE_MAX_SECONDS
    assert ledger.authenticate(issued.token) is None


@pytest.mark.parametrize(("setting", "ttl"), [("60", 2.0), ("0", 0.0), ("0.5", 0.5)])
def test_the_cache_lifetime_is_at_most_two_seconds(ledger_env: dict[str, str], setting: str,
                                                   ttl: float) -> None:
    ledger = ReturnsLedger({**ledger_env, "API_KEY_CACHE_SECONDS": setting})
    try:
        issued = ledger.issue_api_key("client", "s1", NOW)
        reads = _count_key_reads(ledger)
        ledger.authenticate(issued.token)
        ledger.authenticate(issued.token)
        assert ledger._key_cache_ttl == ttl
        assert reads[0] == (2 if ttl == 0 else 1)
    finally:
        ledger.close()
