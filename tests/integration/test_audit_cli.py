"""The auditor's commands, run as a user runs them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner, Result

from application.ledger import ReturnsLedger
from demo.scenarios import SCENARIOS
from interfaces.cli import main
from tests.integration.audit_tampering import StoreTamperer, edited


@pytest.fixture
def cli(ledger_env, monkeypatch) -> Any:
    for name, value in ledger_env.items():
        monkeypatch.setenv(name, value)

    def run(*args: str) -> Result:
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return run


@pytest.fixture
def parcels(ledger_env) -> dict[str, Any]:
    ledger = ReturnsLedger(ledger_env)
    try:
        return {name: SCENARIOS[name](ledger, "") for name in ("tiktok_shop", "lazada",
                                                                "amazon")}
    finally:
        ledger.close()


def test_history_as_of_a_version_in_json(cli, parcels) -> None:
    result = cli("audit", "history", str(parcels["tiktok_shop"]), "--version", "6", "--json")
    assert result.exit_code == 0
    body = json.loads(result.output)
    assert [e["version"] for e in body["events"]] == [1, 2, 3, 4, 5, 6]
    assert body["state"]["status"] == "returning_to_seller"
    assert body["events"][-1]["data"]["rule"] == "TT-3"


def test_history_json_carries_refunds_in_the_state(cli, parcels) -> None:
    body = json.loads(cli("audit", "history", str(parcels["amazon"]), "--json").output)
    assert body["state"]["refunded_total"] == {"amount": "906.50", "currency": "EUR"}
    assert body["state"]["refunds"][0]["amount"]["currency"] == "EUR"


def test_history_text_shows_rules_and_the_state(cli, parcels) -> None:
    result = cli("audit", "history", str(parcels["tiktok_shop"]))
    assert "[TT-3]" in result.output and "facts:" in result.output
    assert "state (recorded view): closed at version 9" in result.output
    assert cli("audit", "history", str(parcels["tiktok_shop"]), "--as-of",
               "2026-01-01T00:00").exit_code == 2  # a time without a zone is refused


def test_digest_verify_export_and_offline_verification(cli, parcels, tmp_path) -> None:
    token = cli("audit", "digest").output.splitlines()[-1]
    assert cli("audit", "verify", str(parcels["lazada"])).exit_code == 0
    result = cli("audit", "verify", "--all", "--against", token)
    assert result.exit_code == 0 and "matches the digest given" in result.output
    bundle = tmp_path / "seller.jsonl"
    exported = cli("audit", "export", "--seller", "seller-lz", "--out", str(bundle))
    assert exported.output.splitlines()[-1] == token
    offline = cli("audit", "verify-bundle", str(bundle), "--digest", token)
    assert offline.exit_code == 0 and "matches the digest given" in offline.output


def test_a_complete_parcel_bundle_verifies_offline_with_the_public_key(cli, parcels,
                                                                     tmp_path) -> None:
    bundle = tmp_path / "lazada.jsonl"
    exported = cli("audit", "export", "--parcel", str(parcels["lazada"]), "--out", str(bundle))
    assert exported.exit_code == 0 and "complete as of the checkpoint" in exported.output
    vkey = cli("audit", "public-key").output.strip()
    offline = cli("audit", "verify-bundle", str(bundle), "--key", vkey)
    assert offline.exit_code == 0, offline.output
    assert "every event of the parcel in the checkpoint" in offline.output
    lines = bundle.read_text().splitlines()
    withheld = tmp_path / "withheld.jsonl"
    withheld.write_text("\n".join(lines[:-3] + lines[-2:]) + "\n")  # the last event dropped
    refused = cli("audit", "verify-bundle", str(withheld), "--key", vkey)
    assert refused.exit_code == 1 and "BROKEN: bundle_refused" in refused.output
    assert cli("audit", "verify-bundle", str(bundle)).exit_code == 2  # format 2 needs --key


def test_tampering_makes_verify_exit_with_status_one(cli, parcels, ledger_env) -> None:
    parcel = parcels["tiktok_shop"]
    tamper = StoreTamperer(ledger_env)
    tamper.update_state(parcel, 2, edited(tamper.state(parcel, 2), reason="moved"))
    result = cli("audit", "verify", str(parcel))
    assert result.exit_code == 1 and "BROKEN: hash_mismatch" in result.output
    body = json.loads(cli("audit", "verify", "--all", "--json").output)
    assert body["ok"] is False and body["breach"]["version"] == 3


def test_unknown_parcel_is_a_message_not_a_traceback(cli, parcels) -> None:
    for command in ("history", "verify"):
        result = cli("audit", command, "00000000-0000-0000-0000-000000000001")
        assert result.exit_code == 1 and "not found" in result.output


def test_verify_needs_a_parcel_or_all(cli) -> None:
    assert cli("audit", "verify").exit_code == 2
    assert cli("audit", "verify", "--all", "--against", "12:xyz").exit_code == 2


def test_lz1_privacy_erase_from_the_command_line(cli, parcels, ledger_env) -> None:
    subject = cli("privacy", "subject", "--seller", "seller-lz", "--id-number",
                  "ID-0001").output.strip()
    assert cli("privacy", "erase", subject).exit_code == 0
    assert cli("privacy", "erase", subject).exit_code == 1  # already erased
    ledger = ReturnsLedger(ledger_env)
    try:
        address = ledger.list_return_addresses("seller-lz")[0].id
        verified = ledger.get_parcel_history(address)[-1]
        assert set(verified.data["sealed_identity"].values()) == {"erased"}
    finally:
        ledger.close()
    assert cli("audit", "verify", "--all").exit_code == 0
