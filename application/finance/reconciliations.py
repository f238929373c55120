"""Finance: reconcile a platform's settlement file against the refunds the ledger issued.

A run is accepted first (`accept`): the upload is copied into the spool directory while its
SHA-256 is taken, the ledger refunds it is compared with are copied beside it (a scratch
SQLite file, and their digest: the ledger state), and a `Reconciliation` is recorded as
running. Its id is derived from the file's fingerprint, the seller scope and the ledger
state, so the same file against the same refunds is the same run (its report read back,
not recomputed), and the same file after a refund changed is a new run. Then `run` (in a
background thread, the runner or `returns-ledger finance worker`) sums the file's refund
lines per (reference, platform, seller, currency) on disk, matches them with the ledger's,
and records the outcome lines in chunks, then `Completed`; or `Failed`, with the reason.
A run left running by a crash is finished by `resume` from its spooled files, or marked
failed when they are gone. Memory stays flat however long the file is.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import logging
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from application.csv_export import write_csv_chunks
from application.finance.formats import SettlementFile, SettlementFormatError
from domain.comparison import report_chunks
from domain.errors import (
    DomainError,
    DuplicateAggregateError,
    NotFoundError,
    VersionConflictError,
)
from domain.reconciliation import (
    REPORT_COLUMNS,
    LedgerRefund,
    Reconciliation,
    ReconciliationIndex,
    ReportTally,
    RunStatus,
    reconciliation_id,
)

# Another request or worker recorded first (the library's, or the ledger's save path's).
CONFLICTS = (IntegrityError, DuplicateAggregateError, VersionConflictError)
CHUNK_LINES = 5000  # report lines per recorded event
BATCH = 5000  # rows per scratch-database insert
READ_PAGE = 2  # events (of CHUNK_LINES lines each) read at once when the report is read back
SPOOL_ENV = "RECONCILIATION_SPOOL_DIR"
log = logging.getLogger("returns_ledger.finance")

LedgerRefunds = Callable[[], Iterable[LedgerRefund]]
Clock = Callable[[], datetime]


class ReconciliationNotFoundError(NotFoundError):
    """No reconciliation has that id."""

    def __init__(self, key: object) -> None:
        super().__init__(f"reconciliation {key} not found")


class ReconciliationNotDoneError(DomainError):
    """The run's report is not there yet (still running) or never will be (failed)."""

    def __init__(self, key: object, status: str) -> None:
        super().__init__(f"reconciliation {key} is {status}: its report is not available")
        self.status = status


@dataclass(frozen=True)
class ReconciliationView:
    """A recorded reconciliation run: what was read, what came out, per currency."""

    id: UUID
    fingerprint: str
    file_name: str
    source_format: str
    scope: str
    started_at: datetime
    started_by: str
    status: str
    ledger_state: str
    ledger_position: int
    key_id: str = ""
    completed_at: datetime | None = None
    counts: dict[str, int] | None = None
    totals: dict[str, dict[str, str]] | None = None
    digest: str | None = None
    lines_read: int | None = None
    lines_ignored: int | None = None
    ledger_refunds: int | None = None
    attempt: int = 1
    failure: str | None = None
    failed_at: datetime | None = None
    already_recorded: bool = False

    @property
    def done(self) -> bool:
        return self.status == RunStatus.DONE.value

    def as_dict(self) -> dict[str, Any]:
        return {"id": str(self.id), "status": self.status, "fingerprint": self.fingerprint,
                "file_name": self.file_name, "source_format": self.source_format,
                "seller_scope": self.scope or None,
                "started_at": self.started_at.isoformat(), "started_by": self.started_by,
                "started_with_key": self.key_id or None,
                "ledger_state": self.ledger_state or None,
                "ledger_position": self.ledger_position,
                "completed_at": self.completed_at.isoformat() if self.completed_at else None,
                "failed_at": self.failed_at.isoformat() if self.failed_at else None,
                "failure": self.failure,
                "counts": dict(self.counts) if self.counts is not None else None,
                "totals": ({c: dict(t) for c, t in self.totals.items()}
                           if self.totals is not None else None),
                "digest": self.digest, "lines_read": self.lines_read,
                "lines_ignored": self.lines_ignored, "ledger_refunds": self.ledger_refunds,
                "already_recorded": self.already_recorded}


def fingerprint(stream: IO[bytes]) -> str:
    """SHA-256 of the file's bytes, read in blocks; the stream is rewound after."""
    digest = hashlib.sha256()
    for block in iter(lambda: stream.read(1 << 20), b""):
        digest.update(block)
    stream.seek(0)
    return digest.hexdigest()


def spool_directory(env: Mapping[str, str]) -> Path:
    """Where accepted settlement files wait for their run (RECONCILIATION_SPOOL_DIR).

    Default: beside the SQLite ledger file, else in the system's temporary directory. The
    web processes and the worker that runs reconciliations must share it.
    """
    configured = env.get(SPOOL_ENV)
    if configured:
        path = Path(configured)
    elif env.get("SQLITE_DBNAME") and env.get("SQLITE_DBNAME") != ":memory:" and \
            "mode=memory" not in env.get("SQLITE_DBNAME", ""):
        path = Path(env["SQLITE_DBNAME"] + ".reconciliations")
    else:
        path = Path(tempfile.gettempdir()) / "returns-ledger-reconciliations"
    path.mkdir(parents=True, exist_ok=True)
    return path


class FinanceDesk:
    """Reconciliations over one ledger; the ledger's refunds come from `ledger_refunds`."""

    def __init__(self, ledger: Any, ledger_refunds: LedgerRefunds = lambda: [],
                 spool: Path | None = None, clock: Clock = lambda: datetime.now(UTC),
                 ledger_position: Callable[[], int] = lambda: 0) -> None:
        self.ledger = ledger
        self.ledger_refunds = ledger_refunds
        self.ledger_position = ledger_position
        self.spool = spool if spool is not None else spool_directory(
            getattr(ledger, "env", None) or {})
        self.clock = clock

    # -- commands -------------------------------------------------------------------
    def reconcile(self, stream: IO[bytes], file_name: str, occurred_at: datetime,
                  actor: str = "finance", currency: str | None = None,
                  scope: str = "", key_id: str = "") -> ReconciliationView:
        """Accept a settlement file and run it at once (the CLI, the bench, tests)."""
        accepted = self.accept(stream, file_name, occurred_at, actor, currency, scope, key_id)
        if accepted.already_recorded and accepted.status != RunStatus.RUNNING.value:
            return accepted
        done = self.run(accepted.id)
        return replace(done, already_recorded=accepted.already_recorded)

    def accept(self, stream: IO[bytes], file_name: str, occurred_at: datetime,
               actor: str = "finance", currency: str | None = None,
               scope: str = "", key_id: str = "") -> ReconciliationView:
        """Spool the file and the ledger refunds, record the run as running; not yet read.

        `scope` names the seller whose refunds `ledger_refunds` yields (empty: all sellers).
        A layout the ledger does not know is refused here, before anything is recorded.
        """
        work = Path(tempfile.mkdtemp(prefix="accepting-", dir=self.spool))
        try:
            fp, size = _spool(stream, work / "settlement.csv")
            source_format = _layout(work / "settlement.csv", currency)
            position = self.ledger_position()
            state, _ = _snapshot(work / "scratch.sqlite3", self.ledger_refunds())
            run_id = reconciliation_id(fp, scope, state)
            known = self.find(run_id)
            if known is not None:
                return replace(known, already_recorded=True)
            (work / "run.json").write_text(json.dumps({"currency": currency}))
            target = self.spool / str(run_id)
            if not target.exists():  # else the same file and refunds, spooled by another
                work.rename(target)  # request now or before a crash: the same bytes
            for attempt in range(5):  # another run listed at the same moment: list again
                run = Reconciliation(fingerprint=fp, file_name=file_name,
                                     source_format=source_format, scope=scope,
                                     ledger_state=state, ledger_position=position,
                                     file_bytes=size, key_id=key_id, occurred_at=occurred_at,
                                     actor=actor)
                index = self._index()
                index.list_run(run.id)
                try:
                    self.ledger.save(index, run)
                    break
                except CONFLICTS:  # the same file, at the same moment, by another request?
                    known = self.find(run_id)
                    if known is not None:
                        return replace(known, already_recorded=True)
                    if attempt == 4:
                        shutil.rmtree(target, ignore_errors=True)
                        raise
            return self.get_reconciliation(run.id)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def run(self, reconciliation: UUID) -> ReconciliationView:
        """Reconcile an accepted run from its spooled files: done, or failed with the reason."""
        run = self._get(reconciliation)
        if run.status is not RunStatus.RUNNING:
            return self.get_reconciliation(reconciliation)
        work = self.spool / str(reconciliation)
        if not (work / "run.json").exists():
            return self._fail(run, "its spooled settlement file is gone (the spool directory "
                                   "was cleared or is not shared): upload the file again")
        try:
            if run.chunks:  # a run that stopped half-way starts over
                run.restart(self.clock(), run.started_by)
                self.ledger.save(run)
            self._reconcile(run, work)
        except CONFLICTS:
            log.info("reconciliation %s is being run elsewhere", reconciliation)
            return self.get_reconciliation(reconciliation)
        except (UnicodeDecodeError, csv.Error) as error:
            return self._fail(run, f"the file is not UTF-8 CSV text: {error}")
        except DomainError as error:
            return self._fail(run, error.detail)
        except Exception as error:
            log.exception("reconciliation %s failed", reconciliation)
            return self._fail(self._get(reconciliation), f"{type(error).__name__}: {error}")
        shutil.rmtree(work, ignore_errors=True)
        return self.get_reconciliation(reconciliation)

    def resume(self) -> list[UUID]:
        """Finish (or mark failed) every run left running, e.g. by a crash; their ids."""
        resumed = []
        for run_id in self._index().run_ids:
            summary = self.find(run_id)
            if summary is not None and summary.status == RunStatus.RUNNING.value:
                self.run(run_id)
                resumed.append(run_id)
        return resumed

    def _reconcile(self, run: Reconciliation, work: Path) -> None:
        currency = json.loads((work / "run.json").read_text()).get("currency")
        scratch = sqlite3.connect(work / "scratch.sqlite3")
        try:
            scratch.executescript(_SETTLED_DDL)
            with (work / "settlement.csv").open("rb") as raw:
                text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
                settlement = SettlementFile(text, currency)
                _load_settlement(scratch, settlement)
            issued = scratch.execute(
                "SELECT COUNT(*) FROM ledger WHERE status = 'issued'").fetchone()[0]
            tally = self._record_lines(run, scratch, run.started_by)
        finally:
            scratch.close()
        run.complete(tally, settlement.lines_read, settlement.lines_ignored, issued,
                     self.clock(), run.started_by)
        self.ledger.save(run)

    def _fail(self, run: Reconciliation, reason: str) -> ReconciliationView:
        run.fail(reason, self.clock(), run.started_by)
        self.ledger.save(run)
        shutil.rmtree(self.spool / str(run.id), ignore_errors=True)
        return self.get_reconciliation(run.id)

    def _record_lines(self, run: Reconciliation, scratch: sqlite3.Connection,
                      actor: str) -> ReportTally:
        """Compare both sides, sorted by reference, and record the lines chunk by chunk."""
        tally = ReportTally()
        ledger = scratch.execute(_LEDGER_ROWS)
        settled = scratch.cursor().execute(_SETTLED_ROWS)
        unreadable_lines = scratch.cursor().execute(
            "SELECT line_no, reference, detail FROM unreadable ORDER BY line_no")
        for chunk in report_chunks(ledger, settled, unreadable_lines, tally, CHUNK_LINES):
            run.record_outcomes(chunk, self.clock(), actor)
            self.ledger.save(run)
        return tally

    # -- queries ----------------------------------------------------------------------
    def get_reconciliation(self, reconciliation: UUID) -> ReconciliationView:
        """A run's summary: running, done (with its counts and totals) or failed (why)."""
        view = self.find(reconciliation)
        if view is None:
            raise ReconciliationNotFoundError(reconciliation)
        return view

    def list_reconciliations(self, scope: str | None = None, offset: int = 0,
                             limit: int = 20) -> tuple[list[ReconciliationView], bool]:
        """Runs newest first (of one seller scope, when given); and whether more follow."""
        found: list[ReconciliationView] = []
        skipped = 0
        for run_id in reversed(self._index().run_ids):
            view = self.find(run_id)
            if view is None or (scope is not None and view.scope != scope):
                continue
            if skipped < offset:
                skipped += 1
                continue
            if len(found) == limit:
                return found, True
            found.append(view)
        return found, False

    def report_lines(self, reconciliation: UUID) -> Iterator[dict[str, str]]:
        """The run's outcome lines in report order, read back a few events at a time."""
        for values in self.report_rows(reconciliation):
            yield dict(zip(REPORT_COLUMNS, values, strict=True))

    def report_rows(self, reconciliation: UUID) -> Iterator[list[str]]:
        """The outcome lines as lists of values in REPORT_COLUMNS order."""
        for rows in self.report_chunks(reconciliation):
            yield from rows

    def report_chunks(self, reconciliation: UUID) -> Iterator[list[list[str]]]:
        """The outcome lines as recorded, one chunk (one event) at a time."""
        run = self.get_reconciliation(reconciliation)
        if not run.done:
            raise ReconciliationNotDoneError(reconciliation, run.status)
        attempt, version = run.attempt, 0
        while True:
            page = list(self.ledger.events.get(reconciliation, gt=version,
                                               lte=version + READ_PAGE))
            if not page:
                return
            for stored in page:
                if getattr(stored, "attempt", None) != attempt:
                    continue
                if isinstance(stored, Reconciliation.OutcomeRowsRecorded):
                    yield stored.rows
                elif isinstance(stored, Reconciliation.OutcomesRecorded):
                    yield [[line[c] for c in REPORT_COLUMNS] for line in stored.lines]
            version += READ_PAGE

    def verify(self, reconciliation: UUID) -> bool:
        """The stored lines still hash to the digest recorded when the run completed."""
        digest = hashlib.sha256()
        for values in self.report_rows(reconciliation):
            digest.update(("\x1f".join(values) + "\n").encode())
        return digest.hexdigest() == self.get_reconciliation(reconciliation).digest

    def write_report(self, reconciliation: UUID, out: IO[str]) -> None:
        """The report as CSV (RFC 4180, no evaluated cells), one line per outcome."""
        write_csv_chunks(out, self.report_chunks(reconciliation), REPORT_COLUMNS)

    def find(self, reconciliation: UUID) -> ReconciliationView | None:
        """A run's summary from its first and last events (never its lines), or None."""
        first = list(self.ledger.events.get(reconciliation, lte=1))
        if not first or not isinstance(first[0], Reconciliation.Started):
            return None
        started = first[0]
        last = next(iter(self.ledger.events.get(reconciliation, desc=True, limit=1)))
        view = ReconciliationView(
            id=reconciliation, fingerprint=started.fingerprint, file_name=started.file_name,
            source_format=started.source_format, scope=started.scope,
            started_at=started.occurred_at, started_by=started.actor,
            status=RunStatus.RUNNING.value,
            ledger_state=getattr(started, "ledger_state", ""),
            ledger_position=getattr(started, "ledger_position", 0),
            key_id=getattr(started, "key_id", ""),
            attempt=getattr(last, "attempt", 1))
        if isinstance(last, Reconciliation.Completed):
            return replace(view, status=RunStatus.DONE.value, completed_at=last.occurred_at,
                           counts=dict(last.counts), totals=dict(last.totals),
                           digest=last.digest, lines_read=last.lines_read,
                           lines_ignored=last.lines_ignored,
                           ledger_refunds=last.ledger_refunds)
        if isinstance(last, Reconciliation.Failed):
            return replace(view, status=RunStatus.FAILED.value, failure=last.reason,
                           failed_at=last.occurred_at)
        return view

    def _get(self, reconciliation: UUID) -> Reconciliation:
        try:
            run = self.ledger.repository.get(reconciliation)
        except AggregateNotFoundError:
            raise ReconciliationNotFoundError(reconciliation) from None
        if not isinstance(run, Reconciliation):
            raise ReconciliationNotFoundError(reconciliation)
        return run

    def _index(self) -> ReconciliationIndex:
        try:
            index = self.ledger.repository.get(ReconciliationIndex.create_id())
        except AggregateNotFoundError:
            return ReconciliationIndex()
        assert isinstance(index, ReconciliationIndex)
        return index


def _spool(stream: IO[bytes], path: Path) -> tuple[str, int]:
    """Copy the upload to disk in blocks, hashing as it goes: (SHA-256, bytes)."""
    digest, size = hashlib.sha256(), 0
    with path.open("wb") as out:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
            out.write(block)
            size += len(block)
    return digest.hexdigest(), size


def _layout(path: Path, currency: str | None) -> str:
    """The file's settlement layout, from its header; an unknown one is refused now."""
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        try:
            return SettlementFile(text, currency).format.name
        except (UnicodeDecodeError, csv.Error) as error:
            raise SettlementFormatError(f"the file is not UTF-8 CSV text: {error}") from None


# -- the scratch database: the file's refund lines beside the ledger's, on disk ----------
_LEDGER_DDL = """
    PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -8000;
    CREATE TABLE ledger (reference TEXT NOT NULL, parcel_id TEXT, order_id TEXT,
        seller_id TEXT, platform TEXT, currency TEXT, amount INTEGER, status TEXT);
"""
_SETTLED_DDL = """
    PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -8000;
    DROP TABLE IF EXISTS settled; DROP TABLE IF EXISTS unreadable;
    CREATE TABLE settled (reference TEXT NOT NULL, platform TEXT NOT NULL,
        seller_id TEXT NOT NULL, currency TEXT NOT NULL, amount INTEGER NOT NULL,
        lines INTEGER NOT NULL, first_line INTEGER NOT NULL, order_id TEXT NOT NULL,
        PRIMARY KEY (reference, platform, seller_id, currency)) WITHOUT ROWID;
    CREATE TABLE unreadable (line_no INTEGER PRIMARY KEY, reference TEXT, detail TEXT);
"""


def _snapshot(path: Path, refunds: Iterable[LedgerRefund]) -> tuple[str, int]:
    """Copy the ledger's refunds to disk; their digest (the ledger state) and count.

    The digest is over the rows in the order the view yields them (by reference, then
    parcel), so the same refunds in the same states always give the same state.
    """
    db = sqlite3.connect(path)
    try:
        db.executescript(_LEDGER_DDL)
        digest, count, rows = hashlib.sha256(), 0, iter(refunds)
        # Each: reference, parcel, order, seller, platform, currency, amount in minor
        # units, status.
        while batch := list(itertools.islice(rows, BATCH)):
            _insert_ledger(db, digest, batch)
            count += len(batch)
        db.execute("CREATE INDEX ledger_reference ON ledger (reference, parcel_id)")
        db.commit()
    finally:
        db.close()
    return digest.hexdigest(), count


_STATE_LINE = "\x1f".join(["{}"] * len(LedgerRefund._fields)) + "\n"


def _insert_ledger(db: sqlite3.Connection, digest: Any, batch: list[Any]) -> None:
    """One batch of ledger refunds into the scratch file and the ledger state's digest
    (each row: its values as str() writes them, unit-separated, one line per refund)."""
    digest.update("".join(itertools.starmap(_STATE_LINE.format, batch)).encode())
    db.executemany("INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch)


_UPSERT = ("INSERT INTO settled VALUES (?, ?, ?, ?, ?, 1, ?, ?) "
           "ON CONFLICT (reference, platform, seller_id, currency) DO UPDATE SET "
           "amount = amount + excluded.amount, lines = lines + 1, "
           "first_line = MIN(first_line, excluded.first_line), "
           "order_id = CASE WHEN order_id = '' THEN excluded.order_id ELSE order_id END")


def _load_settlement(db: sqlite3.Connection, settlement: SettlementFile) -> None:
    for good, bad in settlement.batches(BATCH):
        db.executemany(_UPSERT, good)
        db.executemany("INSERT INTO unreadable VALUES (?, ?, ?)", bad)


_LEDGER_ROWS = ("SELECT reference, parcel_id, order_id, seller_id, platform, currency, "
                "amount, status FROM ledger ORDER BY reference, parcel_id")
_SETTLED_ROWS = ("SELECT reference, currency, amount, lines, first_line, order_id, platform, "
                 "seller_id FROM settled ORDER BY reference, platform, seller_id, currency")
