"""`returns-ledger keys`: the key alone on the last line, listed without secrets, revoked."""

from __future__ import annotations

import hashlib

import pytest
from click.testing import CliRunner

from application.ledger import ReturnsLedger
from interfaces.cli import main
from tests.conftest import TEST_PERSONAL_DATA_KEY


@pytest.fixture
def env(sqlite_env, monkeypatch) -> dict[str, str]:
    for name, value in {**sqlite_env, "PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY}.items():
        monkeypatch.setenv(name, value)
    return sqlite_env


def test_create_list_and_revoke(env) -> None:
    runner = CliRunner()
    created = runner.invoke(main, ["keys", "create", "--role", "client", "--seller", "s1",
                                   "--label", "erp"])
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    assert token.startswith("rlk_") and " " not in token
    ledger = ReturnsLedger(env)
    try:
        key = ledger.authenticate(token)
        assert key is not None and key.role == "client" and key.seller_id == "s1"
        stored = [e for e in ledger.events.get(key.id)][0]
        assert stored.secret_hash == hashlib.sha256(token.encode()).hexdigest()
    finally:
        ledger.close()
    listed = runner.invoke(main, ["keys", "list"])
    assert str(key.id) in listed.output and "client" in listed.output
    assert token not in listed.output and token.split("_", 2)[2] not in listed.output
    revoked = runner.invoke(main, ["keys", "revoke", str(key.id)])
    assert revoked.exit_code == 0 and f"revoked {key.id}" in revoked.output
    ledger = ReturnsLedger(env)
    try:
        assert ledger.authenticate(token) is None
    finally:
        ledger.close()
    again = runner.invoke(main, ["keys", "revoke", str(key.id)])
    assert again.exit_code == 1 and "already revoked" in again.output


def test_scope_rules_for_new_keys(env) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["keys", "create", "--role", "client"]).exit_code == 2
    assert runner.invoke(main, ["keys", "create", "--role", "admin",
                                "--seller", "s1"]).exit_code == 2
    assert runner.invoke(main, ["keys", "create", "--role", "root"]).exit_code == 2
    admin = runner.invoke(main, ["keys", "create", "--role", "admin"])
    assert admin.exit_code == 0 and admin.output.strip().splitlines()[-1].startswith("rlk_")


def test_am4_a_finance_key_names_its_owner(env) -> None:
    runner = CliRunner()
    refused = runner.invoke(main, ["keys", "create", "--role", "finance", "--seller", "s1"])
    assert refused.exit_code == 2 and "owner" in refused.output
    made = runner.invoke(main, ["keys", "create", "--role", "finance", "--seller", "s1",
                                "--owner", "Alice@Example.com", "--label", "laptop"])
    assert made.exit_code == 0, made.output
    assert "owner=alice@example.com" in made.output
    client = runner.invoke(main, ["keys", "create", "--role", "client", "--seller", "s1"])
    assert client.exit_code == 0
    listed = runner.invoke(main, ["keys", "list"]).output.splitlines()
    assert any("alice@example.com" in line and "laptop" in line for line in listed)
    assert any(" client " in line and "unowned" in line for line in listed)
