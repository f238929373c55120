"""Finance: reconcile a platform's settlement file against the refunds the ledger issued.

The file is streamed twice (once for its SHA-256 fingerprint, once for its lines) and its
refund lines are summed per reference in a scratch SQLite file on disk, beside the ledger's
refunds, so memory stays flat however long the file is. The outcome lines are recorded in
chunks on a `Reconciliation` aggregate whose id is derived from the fingerprint: the same
file twice is the same reconciliation, and its report is read back, not recomputed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from application.csv_export import write_csv
from application.finance.formats import (
    SettlementFile,
    SettlementFormatError,
    SettlementLine,
    Unreadable,
)
from domain.errors import NotFoundError
from domain.reconciliation import (
    REPORT_COLUMNS,
    LedgerRefund,
    Reconciliation,
    ReportTally,
    SettledRefund,
    classify,
    line_bytes,
    reconciliation_id,
    unreadable,
)

CHUNK_LINES = 1000  # report lines per recorded event
BATCH = 2000  # rows per scratch-database insert
READ_PAGE = 2  # events (of CHUNK_LINES lines each) read at once when the report is read back

LedgerRefunds = Callable[[], Iterable[LedgerRefund]]
Compared = tuple[dict[str, str], LedgerRefund | None, SettledRefund | None]


class ReconciliationNotFoundError(NotFoundError):
    """No reconciliation has that id."""

    def __init__(self, key: object) -> None:
        super().__init__(f"reconciliation {key} not found")


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
    completed_at: datetime
    counts: dict[str, int]
    totals: dict[str, dict[str, str]]
    digest: str
    lines_read: int
    lines_ignored: int
    ledger_refunds: int
    attempt: int
    already_recorded: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"id": str(self.id), "fingerprint": self.fingerprint,
                "file_name": self.file_name, "source_format": self.source_format,
                "seller_scope": self.scope or None,
                "started_at": self.started_at.isoformat(), "started_by": self.started_by,
                "completed_at": self.completed_at.isoformat(), "counts": dict(self.counts),
                "totals": {c: dict(t) for c, t in self.totals.items()},
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


class FinanceDesk:
    """Reconciliations over one ledger; the ledger's refunds come from `ledger_refunds`."""

    def __init__(self, ledger: Any, ledger_refunds: LedgerRefunds) -> None:
        self.ledger = ledger
        self.ledger_refunds = ledger_refunds

    # -- commands -------------------------------------------------------------------
    def reconcile(self, stream: IO[bytes], file_name: str, occurred_at: datetime,
                  actor: str = "finance", currency: str | None = None,
                  scope: str = "") -> ReconciliationView:
        """Match a settlement file against the issued refunds; the same file twice is one run.

        `scope` names the seller whose refunds `ledger_refunds` yields (empty: all sellers).
        """
        fp = fingerprint(stream)
        done = self._completed(reconciliation_id(fp, scope))
        if done is not None:
            return done
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        try:
            return self._run(text, fp, scope, file_name, occurred_at, actor, currency)
        except (UnicodeDecodeError, csv.Error) as error:
            raise SettlementFormatError(f"the file is not UTF-8 CSV text: {error}") from None
        finally:
            text.detach()

    def _run(self, text: IO[str], fp: str, scope: str, file_name: str,
             occurred_at: datetime, actor: str, currency: str | None) -> ReconciliationView:
        settlement = SettlementFile(text, currency)
        run = self._start(fp, scope, file_name, settlement.format.name, occurred_at,
                          actor)
        with tempfile.TemporaryDirectory(prefix="reconcile-") as scratch_dir:
            scratch = _scratch(Path(scratch_dir) / "scratch.sqlite3")
            try:
                _load_settlement(scratch, settlement)
                issued = _load_ledger(scratch, self.ledger_refunds())
                tally = self._record_lines(run, _outcomes(scratch), occurred_at, actor)
            finally:
                scratch.close()
        run.complete(tally, settlement.lines_read, settlement.lines_ignored, issued,
                     occurred_at, actor)
        self.ledger.save(run)
        return replace(self.get_reconciliation(run.id), already_recorded=False)

    def _start(self, fp: str, scope: str, file_name: str, source_format: str,
               occurred_at: datetime, actor: str) -> Reconciliation:
        try:
            run = self.ledger.repository.get(reconciliation_id(fp, scope))
        except AggregateNotFoundError:
            run = Reconciliation(fingerprint=fp, file_name=file_name,
                                 source_format=source_format, scope=scope,
                                 occurred_at=occurred_at, actor=actor)
        else:
            run.restart(occurred_at, actor)  # a run that stopped half-way
        self.ledger.save(run)
        return run

    def _record_lines(self, run: Reconciliation, rows: Iterator[Compared],
                      occurred_at: datetime, actor: str) -> ReportTally:
        tally, chunk = ReportTally(), []
        for row, ledger, settled in rows:
            tally.add(row, ledger, settled)
            chunk.append(row)
            if len(chunk) == CHUNK_LINES:
                run.record_outcomes(chunk, occurred_at, actor)
                self.ledger.save(run)
                chunk = []
        if chunk:
            run.record_outcomes(chunk, occurred_at, actor)
            self.ledger.save(run)
        return tally

    # -- queries ----------------------------------------------------------------------
    def get_reconciliation(self, reconciliation: UUID) -> ReconciliationView:
        """A recorded run's summary."""
        view = self._completed(reconciliation)
        if view is None:
            raise ReconciliationNotFoundError(reconciliation)
        return view

    def report_lines(self, reconciliation: UUID) -> Iterator[dict[str, str]]:
        """The run's outcome lines in report order, read back a few events at a time."""
        attempt = self.get_reconciliation(reconciliation).attempt
        version = 0
        while True:
            page = list(self.ledger.events.get(reconciliation, gt=version,
                                               lte=version + READ_PAGE))
            if not page:
                return
            for stored in page:
                if isinstance(stored, Reconciliation.OutcomesRecorded) and (
                        stored.attempt == attempt):
                    yield from stored.lines
            version += READ_PAGE

    def verify(self, reconciliation: UUID) -> bool:
        """The stored lines still hash to the digest recorded when the run completed."""
        digest = hashlib.sha256()
        for row in self.report_lines(reconciliation):
            digest.update(line_bytes(row))
        return digest.hexdigest() == self.get_reconciliation(reconciliation).digest

    def write_report(self, reconciliation: UUID, out: IO[str]) -> None:
        """The report as CSV (RFC 4180: comma, double quotes, CRLF), one line per outcome."""
        write_csv(out, self.report_lines(reconciliation), REPORT_COLUMNS)

    def _completed(self, reconciliation: UUID) -> ReconciliationView | None:
        last = list(self.ledger.events.get(reconciliation, desc=True, limit=1))
        if not last or not isinstance(last[0], Reconciliation.Completed):
            return None
        done = last[0]
        first = next(iter(self.ledger.events.get(reconciliation, lte=1)))
        return ReconciliationView(
            id=reconciliation, fingerprint=first.fingerprint, file_name=first.file_name,
            source_format=first.source_format, scope=first.scope,
            started_at=first.occurred_at,
            started_by=first.actor, completed_at=done.occurred_at, counts=dict(done.counts),
            totals=dict(done.totals), digest=done.digest, lines_read=done.lines_read,
            lines_ignored=done.lines_ignored, ledger_refunds=done.ledger_refunds,
            attempt=done.attempt, already_recorded=True)


# -- the scratch database: the file's refund lines beside the ledger's, on disk ----------
def _scratch(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    db.executescript("""
        PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -8000;
        CREATE TABLE settled (reference TEXT NOT NULL, currency TEXT NOT NULL,
            amount INTEGER NOT NULL, lines INTEGER NOT NULL, first_line INTEGER NOT NULL,
            order_id TEXT NOT NULL, PRIMARY KEY (reference, currency));
        CREATE TABLE unreadable (line_no INTEGER PRIMARY KEY, reference TEXT, detail TEXT);
        CREATE TABLE ledger (reference TEXT NOT NULL, parcel_id TEXT, order_id TEXT,
            seller_id TEXT, platform TEXT, currency TEXT, amount INTEGER, status TEXT);
    """)
    return db


_UPSERT = ("INSERT INTO settled VALUES (?, ?, ?, 1, ?, ?) "
           "ON CONFLICT (reference, currency) DO UPDATE SET "
           "amount = amount + excluded.amount, lines = lines + 1, "
           "first_line = MIN(first_line, excluded.first_line), "
           "order_id = CASE WHEN order_id = '' THEN excluded.order_id ELSE order_id END")


def _load_settlement(db: sqlite3.Connection, lines: Iterable[SettlementLine | Unreadable],
                     ) -> None:
    good: list[tuple[Any, ...]] = []
    bad: list[tuple[Any, ...]] = []
    for line in lines:
        if isinstance(line, Unreadable):
            bad.append((line.line_no, line.reference, line.detail))
        else:
            good.append((line.reference, line.currency, line.amount_minor, line.line_no,
                         line.order_id))
        if len(good) >= BATCH:
            db.executemany(_UPSERT, good)
            good = []
        if len(bad) >= BATCH:
            db.executemany("INSERT INTO unreadable VALUES (?, ?, ?)", bad)
            bad = []
    db.executemany(_UPSERT, good)
    db.executemany("INSERT INTO unreadable VALUES (?, ?, ?)", bad)


def _load_ledger(db: sqlite3.Connection, refunds: Iterable[LedgerRefund]) -> int:
    """Copy the ledger's refunds in; answer how many were issued."""
    batch: list[tuple[Any, ...]] = []
    issued = 0
    for r in refunds:
        issued += r.status == "issued"
        batch.append((r.reference, r.parcel_id, r.order_id, r.seller_id, r.platform,
                      r.currency, r.amount_minor, r.status))
        if len(batch) >= BATCH:
            db.executemany("INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch)
            batch = []
    db.executemany("INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch)
    db.execute("CREATE INDEX ledger_reference ON ledger (reference)")
    return issued


_JOIN = """
    SELECT l.reference, l.parcel_id, l.order_id, l.seller_id, l.platform, l.currency,
           l.amount, l.status, s.reference, s.currency, s.amount, s.lines, s.first_line,
           s.order_id
    FROM ledger AS l FULL OUTER JOIN settled AS s ON s.reference = l.reference
    ORDER BY COALESCE(l.reference, s.reference), s.currency, l.parcel_id
"""


def _outcomes(db: sqlite3.Connection) -> Iterator[Compared]:
    """Every outcome line, in a stable order: by reference, then the unreadable lines."""
    for row in db.execute(_JOIN):
        ledger = LedgerRefund(*row[:8]) if row[0] is not None else None
        settled = SettledRefund(*row[8:]) if row[8] is not None else None
        line = classify(ledger, settled)
        if line is not None:
            yield line, ledger, settled
    for line_no, reference, detail in db.execute(
            "SELECT line_no, reference, detail FROM unreadable ORDER BY line_no"):
        yield unreadable(line_no, reference, detail), None, None
