"""What the marketplace return formats (TikTok Shop, Lazada, Amazon) share: the steps of a
buyer's return as the ledger knows it (AM-1's flow, whatever the platform), reading of
flags and of platform times, and the reading of a file as CSV or JSON.

The ledger's return: `return-requests` (the buyer asks; `reason` and `seller_fault` are
required) -> `routes` (the seller agreed: the ledger decides where it goes back to and who
pays) -> `return-labels` (when the platform gives the return's tracking) -> `receipts` ->
`inspections`. Refunds are money: they come from the settlement files (reconciliation),
which carry the amounts these status records do not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import IO, Any

from application.imports.formats.mapping import Step
from application.imports.formats.tabular import (
    BOM,
    Read,
    business_time,
    csv_records,
    json_documents,
    peeked,
)
from application.imports.model import SourceRecord, UnreadableRecordError

REQUEST = Step("return-requests", {})  # reason and seller_fault come from the record
ROUTE = Step("routes", {})
LABEL = Step("return-labels", {})  # carrier and tracking_number come from the record


def receipt(location: str, received_by: str) -> Step:
    """The parcel is back: where, and who took it."""
    return Step("receipts", {"location": location, "received_by": received_by})


def inspection(condition: str, restock: bool | None) -> Step:
    """Its condition as inspected (and whether it is restocked, when the record says)."""
    body: dict[str, Any] = {"condition": condition}
    if restock is not None:
        body["restock"] = restock
    return Step("inspections", body)


def flag(fields: dict[str, Any], name: str, default: bool = False) -> bool:
    """A yes/no field: JSON true/false, or true/false/yes/no/y/n/1/0 in a CSV cell."""
    value = fields.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "yes", "y", "1"}:
        return True
    if text in {"false", "no", "n", "0"}:
        return False
    raise UnreadableRecordError(f"{name} must be true or false, not {value!r}")


def platform_time(value: Any, name: str) -> datetime:
    """A platform's time: Unix seconds or milliseconds (Lazada writes both), or RFC 3339
    with a zone."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and value > 10**11:
        if value % 1000:
            return datetime.fromtimestamp(value / 1000, UTC)
        value //= 1000
    return business_time(value, name)


def records(stream: IO[bytes], required: Iterable[str],
            documents: Callable[[Any], Iterator[dict[str, Any]]]) -> Iterator[Read]:
    """A CSV (or tab separated file) of rows, or pushed JSON (one document, or one a line)
    whose `documents` gives the records; a JSON document's records keep its raw bytes."""
    head, lines = peeked(stream)
    if not head.removeprefix(BOM).lstrip().startswith((b"{", b"[")):
        yield from csv_records(lines, required)
        return
    for line_no, raw, parsed in json_documents(lines):
        if isinstance(parsed, UnreadableRecordError):
            yield line_no, raw, parsed
            continue
        try:
            found = list(documents(parsed))
        except UnreadableRecordError as error:
            yield line_no, raw, error
            continue
        for fields in found:
            yield SourceRecord(line_no, fields, raw)


def as_object(value: Any, what: str) -> dict[str, Any]:
    """A JSON object of a pushed document, or why the document is unreadable."""
    if not isinstance(value, dict):
        raise UnreadableRecordError(f"{what} must be a JSON object")
    return value


def as_text(value: Any) -> str:
    """A JSON number id (Lazada's ids are numbers) or string, as text for the record."""
    if value is None or isinstance(value, bool):
        return ""
    return str(value)
