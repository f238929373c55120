"""Reconciliation: every refund the ledger issued against what the platform settled."""

from __future__ import annotations

import functools
import hashlib
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple
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
    AMBIGUOUS = "ambiguous_reference"
    UNREADABLE = "unreadable_line"


class RunStatus(StrEnum):
    """Where a reconciliation run is: reconciling in the background, done, or failed."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


# The columns of a report line, in order: the CSV header and the digest's input.
REPORT_COLUMNS = (
    "outcome", "reference", "parcel_id", "order_id", "seller_id", "platform",
    "ledger_status", "ledger_currency", "ledger_amount", "settled_currency",
    "settled_amount", "difference", "settlement_lines", "first_line", "detail",
)


def reconciliation_id(fingerprint: str, scope: str = "", ledger_state: str = "") -> UUID:
    """The same settlement file (same SHA-256) against the same ledger refunds is one run.

    `scope` is the seller a finance key works for (empty: every seller), so two sellers
    reconciling the same file never share a run. `ledger_state` is the digest of the
    ledger refunds the file is compared with: once a refund changes, the same file makes
    a new run. (Runs recorded before the ledger state was part of the id have none.)
    """
    name = f"{scope}:{fingerprint}" if scope else fingerprint
    return uuid5(RECONCILIATION_NAMESPACE, f"{name}@{ledger_state}" if ledger_state else name)


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
    places = _places(currency)
    if not places:
        return str(units)
    whole, fraction = divmod(abs(units), 10 ** places)
    return f"{'-' if units < 0 else ''}{whole}.{fraction:0{places}d}"


@functools.lru_cache(maxsize=256)
def _places(currency: str) -> int:
    return MINOR_UNITS[currency_code(currency)]


class LedgerRefund(NamedTuple):
    """A refund as the ledger recorded it; only an issued one is expected in a settlement."""

    reference: str
    parcel_id: str
    order_id: str
    seller_id: str
    platform: str
    currency: str
    amount_minor: int
    status: str


class SettledRefund(NamedTuple):
    """The settlement's lines for one reference and currency, summed (minor units).

    `platform` and `seller_id` are what the file says (its layout names the platform; our
    own layout may carry both columns); empty when it does not say.
    """

    reference: str
    currency: str
    amount_minor: int
    lines: int
    first_line: int
    order_id: str
    platform: str = ""
    seller_id: str = ""

    def could_be(self, ledger: LedgerRefund) -> bool:
        """The ledger refund has this reference on the platform and seller the file names."""
        return (ledger.reference == self.reference
                and self.platform in ("", ledger.platform)
                and self.seller_id in ("", ledger.seller_id))


Row = list[str]  # one report line: its values in REPORT_COLUMNS order
Compared = tuple[Row, LedgerRefund | None, SettledRefund | None]
MATCHED, AMOUNT_MISMATCH, CURRENCY_MISMATCH = "matched", "amount_mismatch", "currency_mismatch"
NOT_SETTLED, NOT_IN_LEDGER = "in_ledger_not_settled", "settled_not_in_ledger"
AMBIGUOUS, UNREADABLE = "ambiguous_reference", "unreadable_line"


def as_line(row: Row) -> dict[str, str]:
    """A report line by column name."""
    return dict(zip(REPORT_COLUMNS, row, strict=True))


def match_reference(ledger: list[LedgerRefund], settled: list[SettledRefund]
                    ) -> list[Compared]:
    """The report lines of one reference: a refund reference is unique only per parcel.

    Each settled sum is matched to the one ledger refund with that (platform, seller,
    reference), an issued one first; two or more such refunds make the settled sum an
    `ambiguous_reference` line, and so each of those refunds that nothing else settled.
    Each ledger refund's amount is counted once in the totals (third item set only once).
    """
    if len(ledger) == 1 and len(settled) == 1 and settled[0].could_be(ledger[0]):
        line = classify(ledger[0], settled[0])  # the common case: one refund, one sum
        return [(line, ledger[0], settled[0])] if line is not None else []
    lines: list[Compared] = []
    claimed: dict[int, int] = {}  # ledger index -> times paired
    contested: set[int] = set()
    for found in settled:
        candidates = [i for i, refund in enumerate(ledger) if found.could_be(refund)]
        issued = [i for i in candidates if ledger[i].status == "issued"]
        chosen = issued or candidates
        if len(chosen) == 1:
            i = chosen[0]
            line = classify(ledger[i], found)
            if line is not None:
                lines.append((line, ledger[i] if i not in claimed else None, found))
            claimed[i] = claimed.get(i, 0) + 1
        elif not chosen:
            lines.append((_line(NOT_IN_LEDGER, None, found,
                                "no issued refund has this reference"), None, found))
        else:
            contested.update(chosen)
            parcels = ", ".join(sorted(ledger[i].parcel_id for i in chosen))
            lines.append((_line(AMBIGUOUS, None, found,
                                f"{len(chosen)} ledger refunds have this reference "
                                f"(parcels {parcels}): name the platform and seller"),
                          None, found))
    for i, refund in enumerate(ledger):
        if i in claimed:
            continue
        if i in contested and refund.status == "issued":
            lines.append((_line(AMBIGUOUS, refund, None,
                                "settled under a reference other refunds share"), refund, None))
            continue
        line = classify(refund, None)
        if line is not None:
            lines.append((line, refund, None))
    return lines


def classify(ledger: LedgerRefund | None, settled: SettledRefund | None) -> Row | None:
    """Decide the outcome of one reference: both sides, or one of them, to a report line.

    A ledger refund that was never issued (waiting, rejected, failed, reversed) and is not
    in the settlement needs no line: nothing was to be settled.
    """
    if ledger is not None and ledger.status != "issued":
        if settled is None:
            return None
        note = f"the ledger's refund is {ledger.status}, not issued"
        return _line(NOT_IN_LEDGER, ledger, settled, note)
    if settled is None:
        return _line(NOT_SETTLED, ledger, None, "no settlement line")
    if ledger is None:
        return _line(NOT_IN_LEDGER, None, settled, "no issued refund has this reference")
    if ledger.currency != settled.currency:
        return _line(CURRENCY_MISMATCH, ledger, settled,
                     f"ledger in {ledger.currency}, settled in {settled.currency}")
    if ledger.amount_minor != settled.amount_minor:
        return _line(AMOUNT_MISMATCH, ledger, settled, "amounts differ")
    return _line(MATCHED, ledger, settled, "")


def unreadable(line_no: int, reference: str, detail: str) -> Row:
    """A settlement line the ledger could not read: shown, never silently dropped."""
    return [UNREADABLE, reference, "", "", "", "", "", "", "", "", "", "", "1", str(line_no),
            detail]


def _line(outcome: str, ledger: LedgerRefund | None, settled: SettledRefund | None,
          detail: str) -> Row:
    reference = parcel = order = seller = platform = status = currency = amount = ""
    if ledger is not None:
        reference, parcel, order, seller, platform = (
            ledger.reference, ledger.parcel_id, ledger.order_id, ledger.seller_id,
            ledger.platform)
        status, currency = ledger.status, ledger.currency
        amount = major(ledger.amount_minor, ledger.currency)
    settled_currency = settled_amount = lines = first = difference = ""
    if settled is not None:
        reference = settled.reference
        platform, seller = platform or settled.platform, seller or settled.seller_id
        order = order or settled.order_id
        settled_currency = settled.currency
        settled_amount = major(settled.amount_minor, settled.currency)
        lines, first = str(settled.lines), str(settled.first_line)
        if outcome == AMOUNT_MISMATCH and ledger is not None:
            difference = major(settled.amount_minor - ledger.amount_minor, ledger.currency)
    return [outcome, reference, parcel, order, seller, platform, status, currency, amount,
            settled_currency, settled_amount, difference, lines, first, detail]


class ReportTally:
    """Counts per outcome, totals per currency and the digest of the report's lines."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {o.value: 0 for o in Outcome}
        self.totals: dict[str, dict[str, int]] = {}
        self._digest = hashlib.sha256()

    def add(self, row: Row, ledger: LedgerRefund | None = None,
            settled: SettledRefund | None = None) -> None:
        """Count one report line in, with the minor units of the two sides it compared.

        `ledger` is given only the first time a ledger refund is reported, so each amount
        counts once in the totals, however many lines it appears on.
        """
        self.count(row, ledger, settled)
        self._digest.update(("\x1f".join(row) + "\n").encode())

    def count(self, row: Row, ledger: LedgerRefund | None = None,
              settled: SettledRefund | None = None) -> None:
        """`add` without the digest: the line is hashed later, by `hash_lines`, in order."""
        outcome = row[0]
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
        if ledger is not None and ledger.status == "issued":  # only these were due
            self.sums(ledger.currency)["ledger"] += ledger.amount_minor
        if outcome == MATCHED and settled is not None:
            self.sums(settled.currency)["matched"] += settled.amount_minor
        if settled is not None:
            self.sums(settled.currency)["settled"] += settled.amount_minor

    def hash_lines(self, rows: list[Row]) -> None:
        """Lines counted with `count`, into the digest, in report order (the same bytes
        as `add` hashes, one line at a time)."""
        if rows:
            self._digest.update(("\n".join(map("\x1f".join, rows)) + "\n").encode())

    def sums(self, currency: str) -> dict[str, int]:
        """The running totals of one currency, in minor units."""
        sums = self.totals.get(currency)
        if sums is None:
            sums = self.totals[currency] = {"ledger": 0, "settled": 0, "matched": 0}
        return sums

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
    """One run of a settlement file against the ledger's refunds, and its outcome lines.

    Accepted (`Started`, status running) before any line is read; then chunks of outcome
    rows, then `Completed` (done) or `Failed` (with the reason). A run that stopped half-way
    (the process died) is `Restarted` from its kept file: earlier chunks no longer count.
    """

    class Event(Aggregate.Event):
        occurred_at: datetime
        actor: str

    class Started(Event, Aggregate.Created):
        fingerprint: str
        file_name: str
        source_format: str
        scope: str
        ledger_state: str = ""  # runs recorded before the ledger state was in the id
        ledger_position: int = 0
        file_bytes: int = 0
        key_id: str = ""  # the key the person used

    class Restarted(Event):
        attempt: int

    class OutcomesRecorded(Event):
        attempt: int
        chunk: int
        lines: list[dict[str, str]]

    class OutcomeRowsRecorded(Event):
        """A chunk of report lines, each a list of values in REPORT_COLUMNS order."""

        attempt: int
        chunk: int
        rows: list[list[str]]

    class Completed(Event):
        counts: dict[str, int]
        totals: dict[str, dict[str, str]]
        digest: str
        lines_read: int
        lines_ignored: int
        ledger_refunds: int
        attempt: int

    class Failed(Event):
        attempt: int
        reason: str

    @staticmethod
    def create_id(fingerprint: str, scope: str = "", ledger_state: str = "",
                  **kwargs: Any) -> UUID:
        return reconciliation_id(fingerprint, scope, ledger_state)

    @event(Started)
    def __init__(self, *, fingerprint: str, file_name: str, source_format: str,
                 scope: str, occurred_at: datetime, actor: str, ledger_state: str = "",
                 ledger_position: int = 0, file_bytes: int = 0, key_id: str = "") -> None:
        # Runs recorded before runs had a ledger state keep the defaults.
        self.fingerprint = fingerprint
        self.scope = scope
        self.file_name = file_name
        self.source_format = source_format
        self.ledger_state = ledger_state
        self.ledger_position = ledger_position
        self.file_bytes = file_bytes
        self.key_id = key_id
        self.started_at = occurred_at
        self.started_by = actor
        self.attempt = 1
        self.chunks = 0
        self.status = RunStatus.RUNNING
        self.failure: str | None = None
        self.completed: dict[str, Any] | None = None

    def restart(self, occurred_at: datetime, actor: str) -> None:
        """A run that stopped half-way starts over; earlier chunks no longer count."""
        self._restarted(attempt=self.attempt + 1, occurred_at=occurred_at, actor=actor)

    @event(Restarted)
    def _restarted(self, attempt: int, occurred_at: datetime, actor: str) -> None:
        self.attempt, self.chunks = attempt, 0
        self.status, self.failure = RunStatus.RUNNING, None

    def record_outcomes(self, rows: list[Row], occurred_at: datetime, actor: str) -> None:
        """Keep one chunk of report lines (the state keeps only the count: memory stays flat)."""
        self._rows_recorded(attempt=self.attempt, chunk=self.chunks + 1, rows=rows,
                            occurred_at=occurred_at, actor=actor)

    @event(OutcomeRowsRecorded)
    def _rows_recorded(self, attempt: int, chunk: int, rows: list[list[str]],
                       occurred_at: datetime, actor: str) -> None:
        self.chunks = chunk

    @event(OutcomesRecorded)
    def _outcomes_recorded(self, attempt: int, chunk: int, lines: list[dict[str, str]],
                           occurred_at: datetime, actor: str) -> None:
        self.chunks = chunk  # runs recorded before rows were lists

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
        self.status = RunStatus.DONE
        self.completed = {"counts": counts, "totals": totals, "digest": digest,
                          "lines_read": lines_read, "lines_ignored": lines_ignored,
                          "ledger_refunds": ledger_refunds, "completed_at": occurred_at}

    def fail(self, reason: str, occurred_at: datetime, actor: str) -> None:
        """The run cannot finish (unreadable file, file gone): say why; a new upload retries."""
        if self.status is not RunStatus.RUNNING:
            raise InvalidValueError("status", f"a {self.status.value} run cannot fail")
        self._failed(attempt=self.attempt, reason=reason[:1000], occurred_at=occurred_at,
                     actor=actor)

    @event(Failed)
    def _failed(self, attempt: int, reason: str, occurred_at: datetime, actor: str) -> None:
        self.status, self.failure = RunStatus.FAILED, reason


class ReconciliationIndex(Aggregate):
    """Every reconciliation run, in the order they were accepted (saved with each new run)."""

    class RunListed(Aggregate.Event):
        reconciliation_id: UUID

    @staticmethod
    def create_id() -> UUID:
        return RECONCILIATION_INDEX_ID

    @event("Created")
    def __init__(self) -> None:
        self.run_ids: list[UUID] = []

    @event(RunListed)
    def list_run(self, reconciliation_id: UUID) -> None:
        """Remember one more run."""
        self.run_ids.append(reconciliation_id)


RECONCILIATION_INDEX_ID = uuid5(RECONCILIATION_NAMESPACE, "index")
