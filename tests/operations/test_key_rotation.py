"""Rotating the personal-data master key, the web secret and the audit log's checkpoint
signing key without downtime: processes on the old and the new settings side by side read
(or sign) everything; pseudonyms (subject ids) stay; old checkpoints stay verifiable; the
old key is no longer needed afterwards; the events and their chains do not change.
(Webhook secret rotation: tests/integration/test_webhooks.py.)"""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from application.audit.log import AuditLog, load_signer, new_signing_key
from application.audit.transparency import NoteVerifier, ProofError, open_checkpoint
from application.audit.verification import LedgerAudit
from application.ledger import ReturnsLedger
from application.privacy import RotationError, SealedUnderAnotherKeyError
from domain.money import Money
from domain.values import Line
from interfaces.api import create_app
from interfaces.cli import main
from tests.web.conftest import csrf_of

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _verified(ledger, seller: str, id_number: str, name: str):
    address = ledger.register_return_address(
        seller_id=seller, platform="lazada", country="CN", seller_country="CN",
        address={"lines": ["88 Example Road"], "city": "Shenzhen", "postcode": "518000"},
        effective_from=T0, occurred_at=T0)
    ledger.verify_real_name(address.id, {"name": name, "id_number": id_number}, T0)
    return address.id


def _name(ledger, address_id) -> str:
    for entry in ledger.get_parcel_history(address_id):
        if entry.data.get("sealed_identity"):
            if entry.data["sealed_identity"]["name"] == "erased":  # the history says so
                return "erased"
            return ledger.vault.open(entry.data["subject_id"],
                                     entry.data["sealed_identity"])["name"]
    raise AssertionError("no identity")


def _cli(env, monkeypatch, *args):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return CliRunner().invoke(main, list(args))


def test_personal_data_master_key_rotation_without_downtime(store_env, monkeypatch):
    old, new = store_env["PERSONAL_DATA_KEY"], _key()
    base = {**store_env, "CREATE_TABLE": "yes"}
    first = ReturnsLedger(base)
    before = _verified(first, "seller-a", "ID-1", "Ada")
    subject = f"seller-a:{first.vault.pseudonym('seller-a', 'ID-1')}"
    digest = LedgerAudit(first).digest()

    # 1: with the old key: keep the pseudonym key; 2: every process also accepts the new key
    begun = _cli(base, monkeypatch, "privacy", "rotate-key", "--begin")
    assert begun.exit_code == 0 and "kept in the key table" in begun.output, begun.output
    accepting = ReturnsLedger({**base, "PERSONAL_DATA_PREVIOUS_KEYS": new})
    # 3: rolling restart onto the new key, the old one still accepted; old processes run on
    rolled = ReturnsLedger({**base, "PERSONAL_DATA_KEY": new,
                            "PERSONAL_DATA_PREVIOUS_KEYS": old})
    during = _verified(rolled, "seller-b", "ID-2", "Bao")  # wrapped under the new key
    for process in (first, accepting, rolled):
        assert process.vault.pseudonym("seller-a", "ID-1") == subject.split(":")[1]
    assert _name(accepting, during) == "Bao" and _name(accepting, before) == "Ada"
    assert _name(rolled, before) == "Ada"

    # 4: re-wrap every key under the new one (twice: the second finds nothing to do)
    rotating = {**base, "PERSONAL_DATA_KEY": new, "PERSONAL_DATA_PREVIOUS_KEYS": old}
    done = _cli(rotating, monkeypatch, "privacy", "rotate-key")
    assert done.exit_code == 0 and "re-wrapped 2 keys" in done.output, done.output
    again = _cli(rotating, monkeypatch, "privacy", "rotate-key")
    assert "re-wrapped 0 keys" in again.output

    # 5: the old key is gone everywhere: everything still reads, the pseudonym is the same
    after = ReturnsLedger({**base, "PERSONAL_DATA_KEY": new})
    assert (_name(after, before), _name(after, during)) == ("Ada", "Bao")
    assert after.vault.pseudonym("seller-a", "ID-1") == subject.split(":")[1]
    assert after.vault.erase(subject)  # erasure still finds the person's key
    assert _name(after, before) == "erased"
    old_only = ReturnsLedger(base)  # a process left on the old key alone cannot read
    with pytest.raises(SealedUnderAnotherKeyError):
        _name(old_only, during)
    verified = LedgerAudit(after).verify_all(digest.token)  # the events did not change
    assert verified.ok, verified.breach
    for process in (first, accepting, rolled, after, old_only):
        process.close()


def test_rotation_refuses_steps_out_of_order(store_env, monkeypatch):
    new = _key()
    ledger = ReturnsLedger({**store_env, "CREATE_TABLE": "yes"})
    _verified(ledger, "seller-c", "ID-3", "Cai")
    ledger.close()
    skipped = {**store_env, "PERSONAL_DATA_KEY": new,
               "PERSONAL_DATA_PREVIOUS_KEYS": store_env["PERSONAL_DATA_KEY"]}
    out = _cli(skipped, monkeypatch, "privacy", "rotate-key")
    assert out.exit_code == 1 and "--begin" in out.output
    early = ReturnsLedger(skipped)
    with pytest.raises(RotationError):  # a pseudonym from the new key would be another person
        early.vault.pseudonym("seller-c", "ID-3")
    early.close()


def test_web_secret_rotation_keeps_sessions_for_one_session_lifetime(tmp_path, monkeypatch):
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
           "SQLITE_DBNAME": str(tmp_path / "ledger.sqlite3"),
           "WEB_SECRET_KEY_FILE": str(tmp_path / "web-secret.key"),
           "PERSONAL_DATA_KEY": _key(), "PROJECTIONS_IN_PROCESS": "no"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    config = {"TESTING": True, "WEB_INSECURE_COOKIE": "yes"}
    assert CliRunner().invoke(main, ["db", "init"]).exit_code == 0
    token = CliRunner().invoke(main, ["keys", "create", "--role", "auditor"]
                               ).output.strip().splitlines()[-1]
    app = create_app(config)
    client = app.test_client()
    form = client.get("/web/sign-in").get_data(True)
    assert client.post("/web/sign-in", data={"api_key": token, "csrf_token": csrf_of(form)}
                       ).status_code == 303
    assert client.get("/web/parcels").status_code == 200
    old_secret = (tmp_path / "web-secret.key").read_text().strip()

    rotated = CliRunner().invoke(main, ["keys", "rotate-web-secret"])
    assert rotated.exit_code == 0, rotated.output
    assert (tmp_path / "web-secret.key").read_text().strip() != old_secret
    restarted = create_app(config)  # the API restarted on the new secret
    survivor = restarted.test_client()
    survivor.set_cookie("returns_ledger_web", client.get_cookie(
        "returns_ledger_web", path="/web").value, path="/web")
    assert survivor.get("/web/parcels").status_code == 200  # the old session still works

    # after one session lifetime the old secret verifies nothing
    previous = tmp_path / "web-secret.key.previous"
    when, secret = previous.read_text().split()
    stale = (datetime.fromisoformat(when) - timedelta(hours=9)).isoformat()
    previous.write_text(f"{stale} {secret}\n")
    later = create_app(config).test_client()
    later.set_cookie("returns_ledger_web", client.get_cookie(
        "returns_ledger_web", path="/web").value, path="/web")
    assert later.get("/web/parcels").status_code == 302  # signed out: sign in again


def _register(ledger, n: int) -> None:
    ledger.register_parcel(
        platform="amazon", site="DE", seller_id="seller-rot", order_id=f"ROT-{n}",
        order_created_at=T0, tracking_number=f"ROT{n:06d}",
        lines=[Line("SKU-1", 1, Money.of("10.00", "EUR"))],
        amount_paid=Money.of("10.00", "EUR"), occurred_at=T0)


def test_audit_signing_key_rotation_keeps_old_checkpoints_verifiable(tmp_path, monkeypatch):
    """`audit rotate-key` with the key in its file: the old key signs a last checkpoint, the
    file gets the new key; a process not yet restarted still signs with the old key, the
    restarted ones with the new; every checkpoint verifies with its own public key (and
    not with the other), the store lists both, and the log verifies against each."""
    key_file = tmp_path / "audit-signing.key"
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
           "SQLITE_DBNAME": str(tmp_path / "ledger.sqlite3"),
           "AUDIT_SIGNING_KEY_FILE": str(key_file), "PERSONAL_DATA_KEY": _key()}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    assert runner.invoke(main, ["db", "init"]).exit_code == 0
    not_restarted = ReturnsLedger({**env, "CREATE_TABLE": "no"})
    old_process = AuditLog(not_restarted)
    _register(not_restarted, 1)
    old_vkey = old_process.signer.verifier.vkey  # the key file is made here, on first use
    old_seed = key_file.read_text()

    rotated = runner.invoke(main, ["audit", "rotate-key"])
    assert rotated.exit_code == 0, rotated.output + rotated.stderr
    assert "signed with the old key: the checkpoint of 1 events" in rotated.stderr
    assert f"old public key: {old_vkey}" in rotated.output
    new_vkey = rotated.output.split("new public key: ")[1].split()[0]
    assert new_vkey != old_vkey and key_file.read_text() != old_seed
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"

    _register(not_restarted, 2)
    by_old, _ = old_process.checkpoint(datetime.now(UTC))  # not restarted yet: the old key
    restarted = ReturnsLedger({**env, "CREATE_TABLE": "no"})
    _register(restarted, 3)
    by_new, _ = AuditLog(restarted).checkpoint(datetime.now(UTC))
    old_key, new_key = NoteVerifier.parse(old_vkey), NoteVerifier.parse(new_vkey)
    assert open_checkpoint(by_old.note, [old_key]).size == 2
    assert open_checkpoint(by_new.note, [new_key]).size == 3
    with pytest.raises(ProofError):
        open_checkpoint(by_new.note, [old_key])
    not_restarted.close()
    restarted.close()

    listed = runner.invoke(main, ["audit", "public-key", "--all"])
    assert set(listed.stdout.split()) == {old_vkey, new_vkey}
    for name, note, vkey in (("old", by_old.note, old_vkey), ("new", by_new.note, new_vkey)):
        kept = tmp_path / f"kept-{name}.note"  # not named after the key: base64 has "/"
        kept.write_text(note)
        verified = runner.invoke(main, ["audit", "verify", "--all", "--against", str(kept),
                                        "--key", vkey])
        assert verified.exit_code == 0 and "ok: all" in verified.output, verified.output
    wrong = runner.invoke(main, ["audit", "verify", "--all", "--against", str(kept),
                                 "--key", old_vkey])
    assert wrong.exit_code == 1


def test_audit_signing_key_rotation_with_the_key_in_the_environment(tmp_path, monkeypatch):
    """With AUDIT_SIGNING_KEY set, `audit rotate-key` prints a new key and writes no file."""
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
           "SQLITE_DBNAME": str(tmp_path / "ledger.sqlite3"),
           "AUDIT_SIGNING_KEY_FILE": str(tmp_path / "audit-signing.key"),
           "AUDIT_SIGNING_KEY": new_signing_key(), "PERSONAL_DATA_KEY": _key()}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    assert runner.invoke(main, ["db", "init"]).exit_code == 0
    rotated = runner.invoke(main, ["audit", "rotate-key"])
    assert rotated.exit_code == 0, rotated.stderr
    seed = rotated.stdout.strip()
    assert seed != env["AUDIT_SIGNING_KEY"] and not (tmp_path / "audit-signing.key").exists()
    new_vkey = rotated.stderr.split("new public key: ")[1].split()[0]
    assert load_signer({"AUDIT_SIGNING_KEY": seed}).verifier.vkey == new_vkey
