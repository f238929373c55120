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
    assert CliRunner().invoke(main, ["db", "init"]).exit_code == 0  # only db init makes a store
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


def test_a_command_on_a_missing_store_names_the_path_and_creates_nothing(
        tmp_path, monkeypatch) -> None:
    """Run from another directory, a command used to make a new empty store and key."""
    monkeypatch.chdir(tmp_path)
    for name in ("SQLITE_DBNAME", "PERSONAL_DATA_KEY", "PERSONAL_DATA_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PERSISTENCE_MODULE", "eventsourcing.sqlite")
    (tmp_path / "settlement.csv").write_text("reference,amount,currency\nR-1,5.00,EUR\n")
    for command in (["keys", "list"], ["audit", "verify", "--all"], ["db", "info"],
                    ["keys", "create", "--role", "admin"],
                    # these opened the views first, which made a store, a key and views
                    # (reconcile then reported every line as not in the ledger, exit 0)
                    ["finance", "reconcile", "settlement.csv"], ["finance", "refunds"],
                    ["project", "status"], ["project", "rebuild", "tracking"],
                    ["customs", "work-list"], ["deadlines", "run"],
                    # and these retried for ever on a file that is not there
                    ["project"], ["webhooks", "run"], ["serve"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 2, (command, result.output)
        assert "var/ledger.sqlite3" in result.output and "db init" in result.output
        assert not (tmp_path / "var").exists(), command  # no store, no key file, no views
    assert sorted(p.name for p in tmp_path.iterdir()) == ["settlement.csv"]


def test_db_info_says_which_store_and_its_identity(env) -> None:
    result = CliRunner().invoke(main, ["db", "info"])
    assert result.exit_code == 0, result.output
    assert env["SQLITE_DBNAME"] in result.output and "identity: " in result.output
    again = CliRunner().invoke(main, ["db", "init"])
    assert result.output.split("identity: ")[1].split()[0] in again.output  # kept, not new


def test_a_configuration_mistake_is_one_line_naming_the_variable(env, monkeypatch) -> None:
    monkeypatch.setenv("PERSISTENCE_MODULE", "eventsourcing.sqlit")
    result = CliRunner().invoke(main, ["keys", "list"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "PERSISTENCE_MODULE" in result.output and "eventsourcing.sqlite" in result.output


def test_gunicorn_with_a_bad_setting_says_so_in_one_line(tmp_path) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "GROUP_COMMIT": "perhaps", "SQLITE_DBNAME": str(tmp_path / "l.db")}
    done = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 3
    assert done.stderr.strip() == ("returns-ledger: configuration: GROUP_COMMIT: 'perhaps' "
                                   "is not a boolean (yes/no, true/false, 1/0)")


def test_a_missing_postgres_database_is_named_with_the_fix(monkeypatch) -> None:
    from tests.conftest import PG, require_postgres

    require_postgres()
    for name, value in {**PG, "PERSISTENCE_MODULE": "eventsourcing.postgres",
                        "POSTGRES_DBNAME": "no_such_ledger_db",
                        "PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY}.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["keys", "list"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "'no_such_ledger_db' does not exist" in result.output
    assert "db init --create-database" in result.output


def test_serve_runs_an_app_that_imports_from_any_directory(tmp_path) -> None:
    """`returns-ledger serve` started outside the checkout: gunicorn imports the app module
    from the working directory's path, so the module it names must be the package's."""
    import os
    import subprocess
    import sys

    from interfaces.cli.serve import gunicorn_args

    module = gunicorn_args("127.0.0.1", 8000, 1)[-1].split(":")[0]
    env = {**os.environ, "SQLITE_DBNAME": str(tmp_path / "l.db"), "PYTHONPATH": ""}
    done = subprocess.run([sys.executable, "-c", f"import {module}; print({module}.app.name)"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("command", [["project"], ["webhooks", "run"], ["finance", "worker"],
                                     ["imports", "worker"]])
def test_a_long_running_process_waits_for_a_postgresql_server_that_does_not_answer(
        tmp_path, command) -> None:
    """`project`, `webhooks run` and the workers started while PostgreSQL is down (restarting, or up
    later than they are) wait for it, saying so once, instead of exiting: a crash-restart
    run's projector exited and its views never caught up. A missing store still exits."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cli = Path(sys.executable).with_name("returns-ledger")
    env = {**os.environ, "PERSISTENCE_MODULE": "eventsourcing.postgres",
           "POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": str(port), "POSTGRES_DBNAME": "x",
           "POSTGRES_USER": "postgres", "POSTGRES_CONNECT_TIMEOUT": "1",
           "PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY, "SECRET_KEY": "s" * 32}
    process = subprocess.Popen([str(cli), *command], env=env, cwd=tmp_path, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(4)
        assert process.poll() is None, process.communicate()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert "cannot reach" in err and "waiting for it" in err and err.count("waiting") == 1
    assert "Traceback" not in err
    assert not list(tmp_path.iterdir())  # nothing made beside it
