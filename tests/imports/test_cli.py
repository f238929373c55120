"""`returns-ledger import FILE --format F` and `returns-ledger imports ...`, on SQLite and
PostgreSQL: the summary, the same file twice, the outcomes CSV, the raw record."""

from __future__ import annotations

import csv
import io

import pytest
from click.testing import CliRunner

from application.ledger import ReturnsLedger
from interfaces.cli import main
from tests.imports.conftest import with_address
from tests.imports.support import as_csv, lifecycle


@pytest.fixture
def cli_env(store_env, monkeypatch, tmp_path) -> dict[str, str]:
    env = {**store_env, "IMPORT_SPOOL_DIR": str(tmp_path / "spool")}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert CliRunner().invoke(main, ["db", "init"]).exit_code == 0
    with_address(ReturnsLedger({**env, "CREATE_TABLE": "no"})).close()
    return env


def test_import_a_canonical_file_twice_then_read_its_outcomes_and_raw_record(cli_env,
                                                                            tmp_path):
    file = tmp_path / "scans.csv"
    file.write_bytes(as_csv(lifecycle()))
    runner = CliRunner()
    first = runner.invoke(main, ["import", str(file), "--format", "canonical", "--seller", "s1"])
    assert first.exit_code == 0, first.output
    import_id = first.output.split()[1]
    assert "status done, 6 records read" in first.output
    assert "applied                 6" in first.output
    again = runner.invoke(main, ["import", str(file), "--format", "canonical", "--seller",
                                 "s1"])
    assert again.exit_code == 0 and "imported already" in again.output
    assert again.output.split()[1] == import_id
    shown = runner.invoke(main, ["imports", "show", import_id, "--csv"])
    rows = list(csv.DictReader(io.StringIO(shown.output)))
    assert [r["outcome"] for r in rows] == ["applied"] * 6
    raw = runner.invoke(main, ["imports", "raw", import_id, "3"])
    assert raw.output.rstrip("\n").encode() == file.read_bytes().split(b"\r\n")[2]
    listed = runner.invoke(main, ["imports", "formats"]).output.splitlines()
    assert any(line.startswith("canonical ") for line in listed)


def test_a_file_the_format_cannot_read_exits_1_and_an_unknown_format_is_refused(cli_env,
                                                                               tmp_path):
    file = tmp_path / "bad.csv"
    file.write_bytes(b"not,a,header\r\n")
    runner = CliRunner()
    failed = runner.invoke(main, ["import", str(file), "--format", "canonical"])
    assert failed.exit_code == 1 and "lacks the column" in failed.output
    unknown = runner.invoke(main, ["import", str(file), "--format", "nope"])
    assert unknown.exit_code == 2 and "no import format 'nope'" in unknown.output


def test_no_wait_only_accepts_and_the_worker_runs_it(cli_env, tmp_path):
    file = tmp_path / "scans.csv"
    file.write_bytes(as_csv(lifecycle()))
    runner = CliRunner()
    accepted = runner.invoke(main, ["import", str(file), "--format", "canonical",
                                    "--no-wait"])
    assert "status accepted" in accepted.output
    worked = runner.invoke(main, ["imports", "worker", "--once"])
    assert worked.exit_code == 0 and worked.output.strip().endswith("done")
    made = runner.invoke(main, ["imports", "intake-secret", "canonical", "--seller", "s1"])
    assert made.exit_code == 0 and made.output.splitlines()[-1].startswith("secret: ")
