"""Refunds ledger exports: stable column names, exact decimal strings, JSON and CSV.

Amounts are exact decimal strings with exactly the currency's minor units ("12.30" MYR,
"1500" JPY); times are ISO 8601 in UTC. CSV is written by `application.csv_export`
(RFC 4180, and no cell a spreadsheet would evaluate). Each actor column (`requested_by`,
...) is followed by the person (`..._owner`: "unowned" for a key without owner), the
acting key's label (`..._key_label`) and its id (`..._key_id`; empty for the system and
for events recorded before a person's actor named the key).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from application.access import ActorName
from application.csv_export import csv_lines as csv_lines

ACTORS = ("requested", "approved", "issued", "released")
REFUND_COLUMNS = (
    "parcel_id", "reference", "order_id", "seller_id", "platform", "site", "currency",
    "item", "shipping", "return_shipping", "amount", "status", "needs_approval", "rule",
    "requested_by", "requested_by_owner", "requested_by_key_label", "requested_by_key_id",
    "requested_at",
    "approved_by", "approved_by_owner", "approved_by_key_label", "approved_by_key_id",
    "approved_at",
    "issued_by", "issued_by_owner", "issued_by_key_label", "issued_by_key_id", "issued_at",
    "released_by", "released_by_owner", "released_by_key_label", "released_by_key_id",
    "released_at", "reason",
)
ActorNames = Callable[[str | None], ActorName]
TOTAL_COLUMNS = ("seller_id", "platform", "currency", "day", "refunds", "item", "shipping",
                 "return_shipping", "amount")
_TIMES = ("requested_at", "approved_at", "issued_at", "released_at")
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def refund_line(row: dict[str, Any], names: ActorNames | None = None) -> dict[str, Any]:
    """A view row as an export line: the documented columns only, times in ISO 8601,
    each actor with its person, key label and key id (when `names` is given)."""
    line: dict[str, Any] = {column: row.get(column) for column in REFUND_COLUMNS}
    line["needs_approval"] = bool(line["needs_approval"])
    for who in ACTORS:
        actor = line[f"{who}_by"]
        if names is not None and actor:  # else the name columns stay empty
            line.update(names(actor).columns(f"{who}_by"))
    for column in _TIMES:
        if line[column]:
            at = datetime.strptime(line[column], _TS_FORMAT).replace(tzinfo=UTC)
            line[column] = at.isoformat()
    return line


def total_line(row: dict[str, Any]) -> dict[str, Any]:
    """A totals row: seller, platform, currency, day, count and exact sums."""
    line: dict[str, Any] = {column: row.get(column) for column in TOTAL_COLUMNS}
    line["refunds"] = int(line["refunds"])
    return line
