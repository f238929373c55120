"""The fast paths of a reconciliation give what the plain ones give, line for line.

- `report_chunks` (the comparison of the two sorted sides, common references decided on
  the rows) against the reference merge: group by reference, `match_reference`,
  `ReportTally.add` line by line, chunks of CHUNK lines.
- `SettlementFile.batches` (our layout read by its own loop) against iterating the file.
- `write_csv_chunks` (a chunk written in one call when no cell needs neutralising)
  against `write_csv_rows`, with hostile cells.
"""

from __future__ import annotations

import csv
import io
from itertools import groupby
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from application.csv_export import write_csv_chunks, write_csv_rows
from application.finance.formats import SettlementFile, SettlementLine, Unreadable
from domain.comparison import report_chunks
from domain.reconciliation import (
    REPORT_COLUMNS,
    LedgerRefund,
    ReportTally,
    SettledRefund,
    match_reference,
    unreadable,
)

REFERENCES = ["R-1", "R-2", "R-3", "R-4", "=R-5", "R-6"]
PLATFORMS = ["amazon", "lazada", "tiktok_shop"]
SELLERS = ["s-1", "s-2"]
CURRENCIES = ["EUR", "JPY", "MYR", "USD"]
STATUSES = ["issued", "issued", "issued", "failed", "waiting_approval", "reversed"]


@st.composite
def ledger_rows(draw: Any) -> list[tuple[Any, ...]]:
    keys = draw(st.lists(st.tuples(st.sampled_from(REFERENCES), st.sampled_from(
        ["p-1", "p-2", "p-3"])), unique=True, max_size=12))
    return sorted((ref, parcel, draw(st.sampled_from(["", "O-1", "O-2"])),
                   draw(st.sampled_from(SELLERS)), draw(st.sampled_from(PLATFORMS)),
                   draw(st.sampled_from(CURRENCIES)),
                   draw(st.integers(min_value=-10**6, max_value=10**7)),
                   draw(st.sampled_from(STATUSES))) for ref, parcel in keys)


@st.composite
def settled_rows(draw: Any) -> list[tuple[Any, ...]]:
    keys = draw(st.lists(st.tuples(
        st.sampled_from(REFERENCES), st.sampled_from(["", *PLATFORMS]),
        st.sampled_from(["", *SELLERS]), st.sampled_from(CURRENCIES)), unique=True,
        max_size=12))
    rows = [(ref, currency, draw(st.integers(min_value=-10**6, max_value=10**7)),
             draw(st.integers(min_value=1, max_value=3)),
             draw(st.integers(min_value=2, max_value=99)),
             draw(st.sampled_from(["", "O-1", "O-9"])), platform, seller)
            for ref, platform, seller, currency in keys]
    return sorted(rows, key=lambda r: (r[0], r[6], r[7], r[1]))  # the scratch table's key


def reference_report(ledger: list[tuple[Any, ...]], settled: list[tuple[Any, ...]],
                     bad: list[tuple[int, str, str]], size: int,
                     ) -> tuple[list[list[list[str]]], ReportTally]:
    """The merge as it was written first: one reference at a time, objects per side."""
    tally, lines = ReportTally(), []
    refunds = {k: [LedgerRefund(*r) for r in g] for k, g in groupby(ledger, lambda r: r[0])}
    sums = {k: [SettledRefund(*s) for s in g] for k, g in groupby(settled, lambda s: s[0])}
    for reference in sorted(set(refunds) | set(sums)):
        for row, refund, found in match_reference(refunds.get(reference, []),
                                                  sums.get(reference, [])):
            tally.add(row, refund, found)
            lines.append(row)
    for line_no, reference, detail in bad:
        row = unreadable(line_no, reference, detail)
        tally.add(row)
        lines.append(row)
    return [lines[i:i + size] for i in range(0, len(lines), size)], tally


@settings(max_examples=300)
@given(ledger_rows(), settled_rows(),
       st.lists(st.tuples(st.integers(2, 99), st.sampled_from(["", "R-1"]),
                          st.sampled_from(["no refund reference", "amounts"])), max_size=3),
       st.integers(min_value=1, max_value=7))
def test_report_chunks_are_the_reference_merge(ledger, settled, bad, size) -> None:
    tally = ReportTally()
    chunks = list(report_chunks(iter(ledger), iter(settled), iter(bad), tally, size))
    expected, expected_tally = reference_report(ledger, settled, bad, size)
    assert chunks == expected
    assert tally.counts == expected_tally.counts
    assert tally.totals_as_money() == expected_tally.totals_as_money()
    assert tally.digest == expected_tally.digest


AMOUNTS = ["12.30", "-12.30", "12.3", "12", "0.001", "12.345", " 7.10 ", "+5.00", "1e3",
           ".50", "1,234.50", "9999999999999999", "99999999999999.99", "\u00a012.30",
           "-0.00", "\u0661\u0660.\u0660\u0660", "007.05", "", "abc", "5.0", "12.30\n"]
CELLS = ["", " ", "R-1", " R-2 ", "=R-3", "EUR", "eur", " JPY ", "XXX", "MYR", "amazon",
         " s-1", "O,1", 'O"2', "a\nb", "\t"]
COLUMNS = ["reference", "currency", "amount", "order_id", "kind", "platform", "seller_id",
           "extra"]


@st.composite
def our_files(draw: Any) -> str:
    optional = draw(st.lists(st.sampled_from(COLUMNS[3:]), unique=True))
    header = draw(st.permutations(["reference", "currency", "amount", *optional]))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for _ in range(draw(st.integers(0, 25))):
        width = draw(st.sampled_from([len(header), len(header), len(header), 0, 1, 2,
                                      len(header) + 1]))
        writer.writerow([draw(st.sampled_from(AMOUNTS if i < len(header)
                                              and header[i] == "amount" else CELLS))
                         for i in range(width)])
    return out.getvalue()


def as_rows(lines: list[Any]) -> tuple[list[tuple[Any, ...]], list[Unreadable]]:
    good = [(x.reference, x.platform, x.seller_id, x.currency, x.amount_minor, x.line_no,
             x.order_id) for x in lines if isinstance(x, SettlementLine)]
    return good, [x for x in lines if isinstance(x, Unreadable)]


@settings(max_examples=300)
@given(our_files(), st.integers(min_value=1, max_value=5))
def test_our_layout_in_batches_reads_as_iterating_it(text, size) -> None:
    iterated = SettlementFile(io.StringIO(text, newline=""))
    expected = as_rows(list(iterated))
    batched = SettlementFile(io.StringIO(text, newline=""))
    good, bad = [], []
    for readable, unreadable_lines in batched.batches(size):
        assert len(readable) <= size and len(unreadable_lines) <= size
        good += readable
        bad += unreadable_lines
    assert (good, bad) == expected
    assert (batched.lines_read, batched.lines_ignored) == (iterated.lines_read,
                                                           iterated.lines_ignored)


HOSTILE = st.text(alphabet="=+-@\t\r\n\x1f\x1e,\"'0123456789.aZ ", max_size=6)


@settings(max_examples=300)
@given(st.lists(st.lists(st.lists(st.one_of(HOSTILE, st.sampled_from(
    ["-1", "-12.30", "12.30", "-", "-1\n", "=1+2", "-1\x1f2", "@SUM(1)"])),
    min_size=3, max_size=3), max_size=5), max_size=4))
def test_a_chunk_written_at_once_is_written_as_row_by_row(chunks) -> None:
    columns = ("a", "b", "c")
    at_once, by_row = io.StringIO(), io.StringIO()
    write_csv_chunks(at_once, chunks, columns)
    write_csv_rows(by_row, [row for rows in chunks for row in rows], columns)
    assert at_once.getvalue() == by_row.getvalue()


def test_the_report_columns_are_what_the_fast_comparison_fills() -> None:
    ledger = [("R-1", "p-1", "O-1", "s-1", "amazon", "EUR", 1230, "issued")]
    settled = [("R-1", "EUR", 1200, 2, 5, "O-1", "", "")]
    (chunk,) = report_chunks(ledger, settled, [], ReportTally(), 10)
    assert dict(zip(REPORT_COLUMNS, chunk[0], strict=True)) == {
        "outcome": "amount_mismatch", "reference": "R-1", "parcel_id": "p-1",
        "order_id": "O-1", "seller_id": "s-1", "platform": "amazon",
        "ledger_status": "issued", "ledger_currency": "EUR", "ledger_amount": "12.30",
        "settled_currency": "EUR", "settled_amount": "12.00", "difference": "-0.30",
        "settlement_lines": "2", "first_line": "5", "detail": "amounts differ"}
