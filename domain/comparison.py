"""A whole reconciliation's report: the ledger's refunds against the settled sums.

Both sides come sorted by reference (plain rows in the field order of `LedgerRefund` and
`SettledRefund`) and are compared one reference at a time, so only one reference's rows
are in memory. The common case, one refund and one settled sum per reference (or only
one of the two), is decided here on the rows themselves, without building an object per
side; every other reference (a reference on several parcels, several settled sums, a
sum the file places on another platform or seller) goes through `match_reference`. The
lines, their order, the counts, the totals and the digest are the same either way: the
fast path is `match_reference` and `classify` written out for that one case, and
tests/property/test_report_comparison.py holds the two equal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from domain.money import MINOR_UNITS
from domain.reconciliation import (
    AMOUNT_MISMATCH,
    CURRENCY_MISMATCH,
    MATCHED,
    NOT_IN_LEDGER,
    NOT_SETTLED,
    LedgerRefund,
    ReportTally,
    Row,
    SettledRefund,
    major,
    match_reference,
    unreadable,
)

LedgerRow = tuple[str, str, str, str, str, str, int, str]  # LedgerRefund's fields, in order
SettledRow = tuple[str, str, int, int, int, str, str, str]  # SettledRefund's fields
UnreadableRow = tuple[int, str, str]  # line number, reference, why
R = TypeVar("R", bound=tuple[Any, ...])


def report_chunks(ledger: Iterable[LedgerRow], settled: Iterable[SettledRow],
                  unreadable_lines: Iterable[UnreadableRow], tally: ReportTally,
                  size: int) -> Iterator[list[Row]]:
    """The report's lines in chunks of `size` (the last one shorter), counted into `tally`.

    Order: by reference (each reference's lines as `match_reference` gives them), then
    the unreadable lines in the order given.
    """
    counts, totals, sums = tally.counts, tally.totals, tally.sums
    chunk: list[Row] = []
    lefts, rights = iter(ledger), iter(settled)
    left, right = next(lefts, None), next(rights, None)
    while left is not None or right is not None:
        if right is None or (left is not None and left[0] < right[0]):
            r, left = left, next(lefts, None)
            assert r is not None  # the branch's condition
            if left is not None and left[0] == r[0]:  # more refunds with this reference
                refunds, left = _gather(r, left, lefts)
                _general(chunk, tally, refunds, [])
            elif r[7] == "issued":  # classify(refund, None): due, not settled
                chunk.append([NOT_SETTLED, r[0], r[1], r[2], r[3], r[4], "issued", r[5],
                              _money(r[6], r[5]), "", "", "", "", "", "no settlement line"])
                counts[NOT_SETTLED] += 1
                (totals.get(r[5]) or sums(r[5]))["ledger"] += r[6]
            # else: never issued and not settled: no line
        elif left is None or right[0] < left[0]:
            s, right = right, next(rights, None)
            if right is not None and right[0] == s[0]:  # settled in several sums
                found, right = _gather(s, right, rights)
                _general(chunk, tally, [], found)
            else:  # one settled sum no refund has: settled, not in the ledger
                chunk.append([NOT_IN_LEDGER, s[0], "", s[5], s[7], s[6], "", "", "", s[1],
                              _money(s[2], s[1]), "", str(s[3]), str(s[4]),
                              "no issued refund has this reference"])
                counts[NOT_IN_LEDGER] += 1
                (totals.get(s[1]) or sums(s[1]))["settled"] += s[2]
        else:
            r, left = left, next(lefts, None)
            s, right = right, next(rights, None)
            ours: list[LedgerRow] | None = None
            theirs: list[SettledRow] | None = None
            if left is not None and left[0] == r[0]:
                ours, left = _gather(r, left, lefts)
            if right is not None and right[0] == s[0]:
                theirs, right = _gather(s, right, rights)
            if ours is None and theirs is None and s[6] in ("", r[4]) and s[7] in ("", r[3]):
                chunk.append(_both(r, s, counts, totals, sums))  # SettledRefund.could_be
            else:
                _general(chunk, tally, ours or [r], theirs or [s])
        while len(chunk) >= size:
            yield _flush(chunk, tally, size)
    for line_no, reference, detail in unreadable_lines:
        line = unreadable(line_no, reference, detail)
        tally.count(line)
        chunk.append(line)
        if len(chunk) >= size:
            yield _flush(chunk, tally, size)
    while chunk:
        yield _flush(chunk, tally, size)


def _both(r: LedgerRow, s: SettledRow, counts: dict[str, int],
          totals: dict[str, dict[str, int]], sums: Callable[[str], dict[str, int]]) -> Row:
    """classify(refund, settled) and its count, for the one refund the one sum could be."""
    status, currency, amount, settled_currency, settled_amount = r[7], r[5], r[6], s[1], s[2]
    settled_text = _money(settled_amount, settled_currency)
    lines, first = str(s[3]), str(s[4])
    order, seller, platform = r[2] or s[5], r[3] or s[7], r[4] or s[6]
    found = totals.get(settled_currency) or sums(settled_currency)
    found["settled"] += settled_amount
    if status != "issued":
        counts[NOT_IN_LEDGER] += 1
        return [NOT_IN_LEDGER, r[0], r[1], order, seller, platform, status, currency,
                _money(amount, currency), settled_currency, settled_text, "", lines, first,
                f"the ledger's refund is {status}, not issued"]
    if currency != settled_currency:
        counts[CURRENCY_MISMATCH] += 1
        (totals.get(currency) or sums(currency))["ledger"] += amount
        return [CURRENCY_MISMATCH, r[0], r[1], order, seller, platform, status, currency,
                _money(amount, currency), settled_currency, settled_text, "", lines, first,
                f"ledger in {currency}, settled in {settled_currency}"]
    found["ledger"] += amount
    if amount != settled_amount:
        counts[AMOUNT_MISMATCH] += 1
        return [AMOUNT_MISMATCH, r[0], r[1], order, seller, platform, status, currency,
                _money(amount, currency), settled_currency, settled_text,
                _money(settled_amount - amount, currency), lines, first, "amounts differ"]
    counts[MATCHED] += 1
    found["matched"] += amount
    return [MATCHED, r[0], r[1], order, seller, platform, status, currency, settled_text,
            settled_currency, settled_text, "", lines, first, ""]


def _gather(first: R, following: R, rows: Iterator[R]) -> tuple[list[R], R | None]:
    """The rows of `first`'s reference (two at least) and the first row after them."""
    group = [first, following]
    reference = first[0]
    row = next(rows, None)
    while row is not None and row[0] == reference:
        group.append(row)
        row = next(rows, None)
    return group, row


def _general(chunk: list[Row], tally: ReportTally, ledger: list[LedgerRow],
             settled: list[SettledRow]) -> None:
    """Any other reference: its lines as match_reference decides them."""
    for line, refund, found in match_reference([LedgerRefund(*r) for r in ledger],
                                               [SettledRefund(*s) for s in settled]):
        tally.count(line, refund, found)
        chunk.append(line)


def _flush(chunk: list[Row], tally: ReportTally, size: int) -> list[Row]:
    """The first `size` lines, taken out of `chunk` and hashed into the digest."""
    out = chunk[:size]
    del chunk[:size]
    tally.hash_lines(out)
    return out


def _money(units: int, currency: str) -> str:
    """`major(units, currency)`, without its look-ups for a currency of two decimals."""
    if MINOR_UNITS.get(currency) != 2:
        return major(units, currency)  # and an unknown currency fails as it fails there
    if units < 0:
        whole, cents = divmod(-units, 100)
        return f"-{whole}.{cents:02d}"
    whole, cents = divmod(units, 100)
    return f"{whole}.{cents:02d}"
