"""Every CLI command on a damaged store: a message and a non-zero exit, never a traceback.

The store is damaged the way an intruder or a bad restore damages it (tests/integration/
audit_tampering.py): one stored event's state edited into invalid JSON, into plain text,
into bytes that are not UTF-8, or a middle event deleted. Then the commands a user runs
are run on it. A command the damage does not concern may succeed; one that reads the
damaged events must fail with exit status 1 and one line saying what is wrong.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from eventsourcing.persistence import OperationalError

from application.ledger import ReturnsLedger
from demo.scenarios import SCENARIOS
from interfaces.cli import main
from interfaces.cli.errors import EXIT_FAILED, LedgerGroup, explain
from tests.integration.audit_tampering import StoreTamperer

DAMAGE: dict[str, Callable[[StoreTamperer, Any], None]] = {
    "state edited to invalid JSON": lambda t, p: t.update_state(p, 3, b"{not json"),
    "state edited to text": lambda t, p: t.update_state(p, 3, b"just some text"),
    "state edited to bytes that are not UTF-8": lambda t, p: t.update_state(p, 3, b"\xff\xfe"),
    "a middle event deleted": lambda t, p: t.delete(p, 4),
}


@pytest.fixture
def damaged(request: pytest.FixtureRequest, ledger_env: dict[str, str], tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    env = {**ledger_env, "VIEWS_SQLITE_DBNAME": str(tmp_path / "views.sqlite3")}
    ledger = ReturnsLedger(env)
    try:
        parcel = SCENARIOS["tiktok_shop"](ledger, "")
        healthy = SCENARIOS["amazon"](ledger, "")
    finally:
        ledger.close()
    DAMAGE[request.param](StoreTamperer(env), parcel)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    settlement = tmp_path / "settlement.csv"
    settlement.write_text("reference,currency,amount\nAMZ-REF-1,EUR,906.50\n")
    return {"damage": request.param, "env": env, "parcel": str(parcel), "healthy": str(healthy),
            "settlement": str(settlement), "tmp": tmp_path}


def run(*args: str) -> Result:
    # catch_exceptions=False: an exception escaping the CLI fails the test, as it would
    # print a traceback to the user.
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def commands(d: dict[str, Any]) -> dict[str, list[str]]:
    return {
        "audit history": ["audit", "history", d["parcel"]],
        "audit history --json": ["audit", "history", d["parcel"], "--json"],
        "audit verify --all": ["audit", "verify", "--all"],
        "audit verify parcel": ["audit", "verify", d["parcel"]],
        "audit digest": ["audit", "digest"],
        "audit export": ["audit", "export", "--all", "--out", str(d["tmp"] / "bundle.zip")],
        "finance refunds": ["finance", "refunds"],
        "finance reconcile": ["finance", "reconcile", d["settlement"]],
        "deadlines run": ["deadlines", "run", "--now", "2026-06-01T00:00:00+00:00"],
        "project rebuild": ["project", "rebuild", "tracking"],
        "project status": ["project", "status"],
        "keys list": ["keys", "list"],
        "audit history of a healthy parcel": ["audit", "history", d["healthy"]],
    }


# The commands that must read the damaged events, so must fail.
MUST_FAIL = {"audit history", "audit history --json", "audit verify --all",
             "audit verify parcel", "finance refunds", "project rebuild"}


@pytest.mark.parametrize("damaged", sorted(DAMAGE), indirect=True)
def test_every_command_on_a_damaged_store_answers_a_message_and_an_exit_status(
        damaged: dict[str, Any]) -> None:
    failed = set()
    for name, args in commands(damaged).items():
        result = run(*args)
        assert "Traceback" not in result.output, (name, result.output)
        if result.exit_code != 0:
            failed.add(name)
            assert result.stderr.strip() or result.stdout.strip(), f"{name}: no message"
    # A missing version shows when the parcel is loaded; the views read events one by one.
    gap = damaged["damage"] == "a middle event deleted"
    must = MUST_FAIL - ({"finance refunds", "project rebuild"} if gap else set())
    assert must <= failed, f"{sorted(must - failed)} exited 0 on a damaged store"
    assert "audit history of a healthy parcel" not in failed
    assert "keys list" not in failed


@pytest.mark.parametrize("damaged", ["state edited to invalid JSON"], indirect=True)
def test_audit_history_of_a_damaged_parcel_says_so_in_one_line(damaged: dict[str, Any]) -> None:
    """Run as the user runs it: the installed command in its own process."""
    script = Path(sys.executable).with_name("returns-ledger")
    answer = subprocess.run([str(script), "audit", "history", damaged["parcel"]],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, **damaged["env"]}, cwd=damaged["tmp"])
    assert answer.returncode == EXIT_FAILED, answer
    assert "Traceback" not in answer.stderr
    lines = [line for line in answer.stderr.splitlines() if line.strip()
             and not line.startswith("{")]  # the JSON log lines of the service, if any
    assert len(lines) == 1, answer.stderr
    assert lines[0].startswith("returns-ledger audit history: ")
    assert "damaged" in lines[0] and "audit verify --all" in lines[0]


def test_an_unexpected_error_is_one_line_and_exit_1_and_usage_errors_stay_click_s(
        monkeypatch: pytest.MonkeyPatch) -> None:
    @click.group(cls=LedgerGroup)
    def cli() -> None:
        pass

    @cli.group()
    def inner() -> None:
        pass

    @inner.command()
    def boom() -> None:
        raise KeyError("no such thing")

    @inner.command()
    def refuse() -> None:
        raise click.ClickException("refused on purpose")

    result = CliRunner().invoke(cli, ["inner", "boom"], prog_name="returns-ledger",
                                catch_exceptions=False)
    assert result.exit_code == EXIT_FAILED
    assert result.stderr.strip().splitlines() == [
        "returns-ledger inner boom: unexpected error: 'no such thing' (KeyError)"]
    refused = CliRunner().invoke(cli, ["inner", "refuse"], catch_exceptions=False)
    assert refused.exit_code == 1 and "refused on purpose" in refused.stderr
    assert CliRunner().invoke(cli, ["inner", "nope"]).exit_code == 2  # usage: click's own
    monkeypatch.setenv("RETURNS_LEDGER_DEBUG", "1")
    debug = CliRunner().invoke(cli, ["inner", "boom"], catch_exceptions=False)
    assert "Traceback" in debug.stderr and debug.exit_code == EXIT_FAILED
    assert "not reachable" in explain(OperationalError("connection refused"))
