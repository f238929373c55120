"""CSV as the service writes it: RFC 4180, and no cell a spreadsheet would evaluate.

Every CSV export (refunds, totals, reconciliation reports, parcel reports; API, web and
CLI) is written here. The rule, after OWASP's guidance on CSV injection:

- a cell that reads as a plain decimal number (`12.30`, `-4.90`, `7`) is left as it is, so
  amounts, negative differences included, stay numbers in a spreadsheet;
- any other cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a
  single quote in front (`'=1+2`), which spreadsheets show as text and never evaluate;
- quoting follows RFC 4180: comma separated, CRLF line ends, a field holding a comma,
  a double quote, CR or LF is put in double quotes, and its double quotes are doubled.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from typing import IO, Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
# A cell of a unit-separated row that starts with one of FORMULA_STARTS.
_RISKY_START = re.compile("(?:^|\x1f)[" + re.escape("".join(FORMULA_STARTS)) + "]")
# What makes safe_cell change a cell: a formula's first character other than a minus, or
# a minus that does not begin a plain number filling its cell.
_OTHER_STARTS = tuple(start for start in FORMULA_STARTS if start != "-")
_PLAIN_CELL = re.compile("-[0-9]+(?:\\.[0-9]+)?(?:\x1f|\\Z)").match


def safe_cell(value: Any) -> str:
    """One cell as text a spreadsheet shows and never evaluates."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def _writer(out: IO[str], columns: tuple[str, ...]) -> csv.DictWriter[str]:
    return csv.DictWriter(out, fieldnames=columns, lineterminator="\r\n",
                          extrasaction="ignore", quoting=csv.QUOTE_MINIMAL)


def _safe_row(row: dict[str, Any], columns: tuple[str, ...]) -> dict[str, str]:
    return {c: safe_cell(row.get(c)) for c in columns}


def csv_lines(rows: Iterable[dict[str, Any]], columns: tuple[str, ...]) -> Iterator[str]:
    """CSV text, the header first, then one record at a time (for streaming responses)."""
    buffer = io.StringIO()
    writer = _writer(buffer, columns)
    writer.writeheader()
    yield _drain(buffer)
    for row in rows:
        writer.writerow(_safe_row(row, columns))
        yield _drain(buffer)


def write_csv(out: IO[str], rows: Iterable[dict[str, Any]], columns: tuple[str, ...]) -> None:
    """The same CSV written to a file."""
    writer = _writer(out, columns)
    writer.writeheader()
    for row in rows:
        writer.writerow(_safe_row(row, columns))


def write_csv_rows(out: IO[str], rows: Iterable[list[str]], columns: tuple[str, ...]) -> None:
    """CSV of rows already in column order, all strings (long reports: no dict per row)."""
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    _write_rows(writer, rows)


def _write_rows(writer: Any, rows: Iterable[list[str]]) -> None:
    starts, risky = FORMULA_STARTS, _RISKY_START.search
    for row in rows:
        if risky("\x1f".join(row)):  # one look for a risky start in any cell
            writer.writerow([safe_cell(v) if v.startswith(starts) else v for v in row])
        else:
            writer.writerow(row)


def write_csv_chunks(out: IO[str], chunks: Iterable[list[list[str]]],
                     columns: tuple[str, ...]) -> None:
    """`write_csv_rows` of rows that come in lists: a list in which no cell would be
    changed by `safe_cell` is written in one call (the same bytes)."""
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    for rows in chunks:
        _write_chunk(writer, rows)


def csv_chunk_lines(chunks: Iterable[list[list[str]]], columns: tuple[str, ...],
                    ) -> Iterator[str]:
    """The CSV `write_csv_chunks` writes, as text: the header, then one piece per list
    (for streaming responses of long reports)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    yield _drain(buffer)
    for rows in chunks:
        _write_chunk(writer, rows)
        yield _drain(buffer)


def _write_chunk(writer: Any, rows: list[list[str]]) -> None:
    if _all_plain(rows):
        writer.writerows(rows)
    else:
        _write_rows(writer, rows)


def _all_plain(rows: list[list[str]]) -> bool:
    """No cell of these rows starts as a formula would, a plain number aside. Looked for
    in all cells at once, unit-separated, once that character is in no cell (else: not
    known, False)."""
    joined = "\x1f" + "\x1f".join(map("\x1f".join, rows))
    if joined.count("\x1f") != sum(map(len, rows)):
        return False
    if any(start in joined for start in _OTHER_STARTS):  # anywhere: rare, one scan each
        return False
    at = joined.find("\x1f-")
    while at != -1:
        if _PLAIN_CELL(joined, at + 1) is None:
            return False
        at = joined.find("\x1f-", at + 1)
    return True


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
