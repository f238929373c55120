"""A crash (SIGKILL) in the middle of an import, then the worker: every line once, none
half-applied, and the outcomes of the lines applied before the crash still say applied."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from application.imports.engine import ImportDesk
from application.ledger import ReturnsLedger
from interfaces.api.catalog import ApiCommands
from tests.conftest import TEST_PERSONAL_DATA_KEY
from tests.imports.conftest import with_address
from tests.imports.support import as_csv, registration, step

PARCELS = 150


def _cli() -> str:
    found = shutil.which("returns-ledger", path=str(Path(sys.executable).parent))
    assert found, "the returns-ledger command is installed in the virtualenv"
    return found


def _applied(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute("SELECT COUNT(*) FROM ledger_import_lines "
                               "WHERE outcome != 'pending'").fetchone()
            return int(row[0])
    except sqlite3.OperationalError:
        return 0


def test_sigkill_mid_import_then_the_worker_resumes_every_line_once(tmp_path):
    db = tmp_path / "ledger.sqlite3"
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(db),
           "PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY,
           "IMPORT_SPOOL_DIR": str(tmp_path / "spool")}
    with_address(ReturnsLedger(env)).close()
    records = []
    for n in range(PARCELS):
        tn = f"TN-CRASH-{n:04d}"
        records += [registration(tn), step("delivery-attempts", 2, tn, reason="not home"),
                    step("delivery-attempts", 3, tn, reason="closed"),
                    step("delivery-failures", 4, tn, reason="refused")]
    file = tmp_path / "scans.csv"
    file.write_bytes(as_csv(records))
    process = subprocess.Popen([_cli(), "import", str(file), "--format", "canonical"],
                               env={**os.environ, **env}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while _applied(db) < 40 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.02)
        assert process.poll() is None, "the import finished before it could be cut"
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()  # type: ignore[union-attr]
        process.stderr.close()  # type: ignore[union-attr]
    cut_at = _applied(db)
    assert 0 < cut_at < len(records)

    resumed = subprocess.run([_cli(), "imports", "worker", "--once"], env={**os.environ, **env},
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert " done" in resumed.stdout

    ledger = ReturnsLedger(env)
    try:
        desk = ImportDesk(ledger, ApiCommands())
        [view] = desk.list_imports(None)[0]
        assert view.status == "done"
        assert view.counts == {"applied": len(records)}, view.counts
        for n in range(PARCELS):
            parcel = ledger.find_parcel(f"TN-CRASH-{n:04d}", "tiktok_shop")
            assert (parcel.version, parcel.attempts, parcel.status) == (
                4, 2, "delivery_failed")
    finally:
        ledger.close()


class Died(BaseException):
    """The process dies (not an error anything catches)."""


def test_a_death_between_a_batchs_commit_and_its_outcomes_still_says_applied(desk,
                                                                            monkeypatch):
    """The batch's commands are recorded, the process dies before their outcomes are
    written: on resume each is answered by its idempotency record, recognised as this
    import's by its events' source, and reported applied (not already_applied)."""
    import io
    from datetime import UTC, datetime

    records = [registration("TN-D-1"), step("delivery-attempts", 2, "TN-D-1", reason="a")]
    view = desk.accept(io.BytesIO(as_csv(records)), "canonical", "s1", "t", "k",
                       datetime.now(UTC))
    settle = desk.store.settle

    def die(*args, **kwargs):
        raise Died

    monkeypatch.setattr(desk.store, "settle", die)
    try:
        desk.run(view.id)
    except Died:
        pass
    assert desk.ledger.find_parcel("TN-D-1", "tiktok_shop").version == 2  # recorded
    assert desk.get(view.id).counts == {"pending": 2}  # but no outcome written
    monkeypatch.setattr(desk.store, "settle", settle)
    desk.resume()
    done = desk.get(view.id)
    assert (done.status, done.counts) == ("done", {"applied": 2})
    assert desk.ledger.find_parcel("TN-D-1", "tiktok_shop").version == 2
