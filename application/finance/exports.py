"""Refunds ledger exports: stable column names, exact decimal strings, JSON and CSV.

Amounts are exact decimal strings with exactly the currency's minor units ("12.30" MYR,
"1500" JPY); times are ISO 8601 in UTC. CSV follows RFC 4180 (comma, double quotes, CRLF).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

REFUND_COLUMNS = (
    "parcel_id", "reference", "order_id", "seller_id", "platform", "site", "currency",
    "item", "shipping", "return_shipping", "amount", "status", "needs_approval", "rule",
    "requested_by", "requested_at", "approved_by", "approved_at", "issued_by", "issued_at",
    "released_by", "released_at", "reason",
)
TOTAL_COLUMNS = ("seller_id", "platform", "currency", "day", "refunds", "item", "shipping",
                 "return_shipping", "amount")
_TIMES = ("requested_at", "approved_at", "issued_at", "released_at")
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def refund_line(row: dict[str, Any]) -> dict[str, Any]:
    """A view row as an export line: the documented columns only, times in ISO 8601."""
    line = {column: row.get(column) for column in REFUND_COLUMNS}
    line["needs_approval"] = bool(line["needs_approval"])
    for column in _TIMES:
        if line[column]:
            at = datetime.strptime(line[column], _TS_FORMAT).replace(tzinfo=UTC)
            line[column] = at.isoformat()
    return line


def total_line(row: dict[str, Any]) -> dict[str, Any]:
    """A totals row: seller, platform, currency, day, count and exact sums."""
    line = {column: row.get(column) for column in TOTAL_COLUMNS}
    line["refunds"] = int(line["refunds"])
    return line


def csv_lines(lines: Iterable[dict[str, Any]], columns: tuple[str, ...]) -> Iterator[str]:
    """CSV text, one record at a time (for streaming responses and files)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    yield _drain(buffer)
    for line in lines:
        writer.writerow({k: _cell(v) for k, v in line.items()})
        yield _drain(buffer)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
