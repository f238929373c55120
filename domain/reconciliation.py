"""Reconciliation: every refund the ledger issued against what the platform settled."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidValueError
from domain.money import MINOR_UNITS, currency_code

RECONCILIATION_NAMESPACE = uuid5(NAMESPACE_URL, "https://returns-ledger.invalid/reconciliation")


class Outcome(StrEnum):
    """What one refund reference turned out to be."""

    MATCHED = "matched"
    AMOUNT_MISMATCH = "amount_mismatch"
    CURRENCY_MISMATCH = "currency_mismatch"
    NOT_SETTLED = "in_ledger_not_settled"
    NOT_IN_LEDGER = "settled_not_in_ledger"
    UNREADABLE = "unreadable_line"


# The columns of a report line, in order: the CSV header and the digest's input.
REPORT_COLUMNS = (
    "outcome", "reference", "parcel_id", "order_id", "seller_id", "platform",
    "ledger_status", "ledger_currency", "ledger_amount", "settled_currency",
    "settled_amount", "difference", "settlement_lines", "first_line", "detail",
)


def reconciliation_id(fingerprint: str, scope: str = "") -> UUID:
    """The same settlement file (same SHA-256) always names the same reconciliation.

    `scope` is the seller a finance key works for (empty: every seller), so two sellers
    reconciling the same file never share a run.
    """
    return uuid5(RECONCILIATION_NAMESPACE, f"{scope}:{fingerprint}" if scope else fingerprint)


def minor(amount: Decimal, currency: str) -> int:
    """An exact amount in the currency's minor units (12.30 MYR -> 1230); finer is refused."""
    units = MINOR_UNITS[currency_code(currency)]
    scaled = amount.scaleb(units)
    if scaled != scaled.to_integral_value():
        raise InvalidValueError(
            "amount", f"{amount} has more decimals than {currency} allows ({units})")
    return int(scaled)


def major(units: int, currency: str) -> str:
    """Minor units back to an exact decimal string (1230 MYR -> '12.30', 1500 JPY -> '1500')."""
    return str(Decimal(units).scaleb(-MINOR_UNITS[currency_code(currency)]))


@dataclass(frozen=True)
class LedgerRefund:
    """A refund as the ledger recorded it; only an issued one is expected in a settlement."""

    reference: str
    parcel_id: str
    order_id: str
    seller_id: str
    platform: str
    currency: str
    amount_minor: int
    status: str


@dataclass(frozen=True)
class SettledRefund:
    """The settlement's lines for one reference and currency, summed (minor units)."""

    reference: str
    currency: str
    amount_minor: int
    lines: int
    first_line: int
    order_id: str


def classify(ledger: LedgerRefund | None,
             settled: SettledRefund | None) -> dict[str, str] | None:
    """Decide the outcome of one reference: both sides, or one of them, to a report line.

    A ledger refund that was never issued (waiting, rejected, failed, reversed) and is not
    in the settlement needs no line: nothing was to be settled.
    """
    if ledger is not None and ledger.status != "issued":
        if settled is None:
            return None
        note = f"the ledger's refund is {ledger.status}, not issued"
        return _line(Outcome.NOT_IN_LEDGER, ledger, settled, note)
    if settled is None:
        return _line(Outcome.NOT_SETTLED, ledger, None, "no settlement line")
    if ledger is None:
        return _line(Outcome.NOT_IN_LEDGER, None, settled, "no issued refund has this reference")
    if ledger.currency != settled.currency:
        return _line(Outcome.CURRENCY_MISMATCH, ledger, settled,
                     f"ledger in {ledger.currency}, settled in {settled.currency}")
    if ledger.amount_minor != settled.amount_minor:
        return _line(Outcome.AMOUNT_MISMATCH, ledger, settled, "amounts differ")
    return _line(Outcome.MATCHED, ledger, settled, "")


def unreadable(line_no: int, reference: str, detail: str) -> dict[str, str]:
    """A settlement line the ledger could not read: shown, never silently dropped."""
    row = dict.fromkeys(REPORT_COLUMNS, "")
    row.update(outcome=Outcome.UNREADABLE.value, reference=reference,
               settlement_lines="1", first_line=str(line_no), detail=detail)
    return row


def _line(outcome: Outcome, ledger: LedgerRefund | None, settled: SettledRefund | None,
          detail: str) -> dict[str, str]:
    row = dict.fromkeys(REPORT_COLUMNS, "")
    row["outcome"], row["detail"] = outcome.value, detail
    if ledger is not None:
        row.update(reference=ledger.reference, parcel_id=ledger.parcel_id,
                   order_id=ledger.order_id, seller_id=ledger.seller_id,
                   platform=ledger.platform, ledger_status=ledger.status,
                   ledger_currency=ledger.currency,
                   ledger_amount=major(ledger.amount_minor, ledger.currency))
    if settled is not None:
        row.update(reference=settled.reference, settled_currency=settled.currency,
                   settled_amount=major(settled.amount_minor, settled.currency),
                   settlement_lines=str(settled.lines), first_line=str(settled.first_line))
        row["order_id"] = row["order_id"] or settled.order_id
    if outcome is Outcome.AMOUNT_MISMATCH and ledger is not None and settled is not None:
        row["difference"] = major(settled.amount_minor - ledger.amount_minor, ledger.currency)
    return row


class ReportTally:
    """Counts per outcome, totals per currency and the digest of the report's lines."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {o.value: 0 for o in Outcome}
        self.totals: dict[str, dict[str, int]] = {}
        self._digest = hashlib.sha256()

    def add(self, row: dict[str, str], ledger: LedgerRefund | None = None,
            settled: SettledRefund | None = None) -> None:
        """Count one report line in, with the minor units of the two sides it compared."""
        self.counts[row["outcome"]] += 1
        self._digest.update(line_bytes(row))
        if ledger is not None and ledger.status == "issued":  # only these were due
            self._sums(ledger.currency)["ledger"] += ledger.amount_minor
            if row["outcome"] == Outcome.MATCHED.value:
                self._sums(ledger.currency)["matched"] += ledger.amount_minor
        if settled is not None:
            self._sums(settled.currency)["settled"] += settled.amount_minor

    def _sums(self, currency: str) -> dict[str, int]:
        return self.totals.setdefault(currency, {"ledger": 0, "settled": 0, "matched": 0})

    @property
    def digest(self) -> str:
        return self._digest.hexdigest()

    def totals_as_money(self) -> dict[str, dict[str, str]]:
        """Totals per currency as exact decimal strings, with the settled minus ledger gap."""
        return {cur: {"ledger": major(s["ledger"], cur), "settled": major(s["settled"], cur),
                      "matched": major(s["matched"], cur),
                      "difference": major(s["settled"] - s["ledger"], cur)}
                for cur, s in sorted(self.totals.items())}


def line_bytes(row: dict[str, str]) -> bytes:
    """One report line as the digest reads it: the columns in order, unit-separated."""
    return ("\x1f".join(row[c] for c in REPORT_COLUMNS) + "\n").encode()


class Reconciliation(Aggregate):
    """One run of a settlement file against the ledger's refunds, and its outcome lines."""

    class Event(Aggregate.Event):
        occurred_at: datetime
        actor: str

    class Started(Event, Aggregate.Created):
        fingerprint: str
        file_name: str
        source_format: str
        scope: str

    class Restarted(Event):
        attempt: int

    class OutcomesRecorded(Event):
        attempt: int
        chunk: int
        lines: list[dict[str, str]]

    class Completed(Event):
        counts: dict[str, int]
        totals: dict[str, dict[str, str]]
        digest: str
        lines_read: int
        lines_ignored: int
        ledger_refunds: int
        attempt: int

    @staticmethod
    def create_id(fingerprint: str, scope: str = "", **kwargs: Any) -> UUID:
        return reconciliation_id(fingerprint, scope)

    @event(Started)
    def __init__(self, *, fingerprint: str, file_name: str, source_format: str,
                 scope: str, occurred_at: datetime, actor: str) -> None:
        self.fingerprint = fingerprint
        self.scope = scope
        self.file_name = file_name
        self.source_format = source_format
        self.started_at = occurred_at
        self.started_by = actor
        self.attempt = 1
        self.chunks = 0
        self.completed: dict[str, Any] | None = None

    def restart(self, occurred_at: datetime, actor: str) -> None:
        """A run that stopped half-way starts over; earlier chunks no longer count."""
        self._restarted(attempt=self.attempt + 1, occurred_at=occurred_at, actor=actor)

    @event(Restarted)
    def _restarted(self, attempt: int, occurred_at: datetime, actor: str) -> None:
        self.attempt, self.chunks = attempt, 0

    def record_outcomes(self, lines: list[dict[str, str]], occurred_at: datetime,
                        actor: str) -> None:
        """Keep one chunk of report lines (the state keeps only the count: memory stays flat)."""
        self._outcomes_recorded(attempt=self.attempt, chunk=self.chunks + 1, lines=lines,
                                occurred_at=occurred_at, actor=actor)

    @event(OutcomesRecorded)
    def _outcomes_recorded(self, attempt: int, chunk: int, lines: list[dict[str, str]],
                           occurred_at: datetime, actor: str) -> None:
        self.chunks = chunk

    def complete(self, tally: ReportTally, lines_read: int, lines_ignored: int,
                 ledger_refunds: int, occurred_at: datetime, actor: str) -> None:
        """Close the run with its counts, totals per currency and the lines' digest."""
        self._completed(counts=dict(tally.counts), totals=tally.totals_as_money(),
                        digest=tally.digest, lines_read=lines_read,
                        lines_ignored=lines_ignored, ledger_refunds=ledger_refunds,
                        attempt=self.attempt, occurred_at=occurred_at, actor=actor)

    @event(Completed)
    def _completed(self, counts: dict[str, int], totals: dict[str, dict[str, str]],
                   digest: str, lines_read: int, lines_ignored: int, ledger_refunds: int,
                   attempt: int, occurred_at: datetime, actor: str) -> None:
        self.completed = {"counts": counts, "totals": totals, "digest": digest,
                          "lines_read": lines_read, "lines_ignored": lines_ignored,
                          "ledger_refunds": ledger_refunds, "completed_at": occurred_at}
