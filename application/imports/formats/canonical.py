"""The ledger's own import format: one line per command, with the API's own fields.

CSV (a header row, then one command per row) or JSON Lines (one object per line): the
format looks at the file's first byte (`{`: JSON Lines). Each record has
- `command`: the API path segment under /v1/parcels/{id}/ (`delivery-attempts`,
  `delivery-failures`, `deliveries`, `receipts`, ...), or `parcels` to register a parcel;
- which parcel (not for `parcels`): `parcel_id`, or `parcel_tracking_number` (the
  parcel's own or its return label's) with an optional `parcel_platform`, or
  `parcel_order_id` with `parcel_platform`;
- `id` (optional): the line's own identity, its idempotency key; without one the line's
  content is (the same command twice is applied once);
- every other field is the request body's, named and typed as the API takes it; in CSV an
  empty cell is an absent field, `true`/`false` are booleans and a cell that starts with
  `{` or `[` is JSON (money, a parcel's lines). `occurred_at` is required.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

from application.imports.formats.lines import records, text_of
from application.imports.formats.registry import register
from application.imports.model import (
    LineCommand,
    Mapped,
    SourceRecord,
    Target,
    UnreadableRecordError,
)

TARGET_FIELDS = ("parcel_id", "parcel_tracking_number", "parcel_platform", "parcel_order_id")
META_FIELDS = ("id", "command", *TARGET_FIELDS)
JSON_OPEN = ("{", "[")

EXAMPLE_CSV = (
    b"id,command,parcel_tracking_number,parcel_platform,occurred_at,platform,site,seller_id,"
    b"order_id,order_created_at,tracking_number,lines,amount_paid,reason,reported_by,"
    b"location\r\n"
    b'ln-1,parcels,,,2026-03-02T09:00:00+08:00,tiktok_shop,MY,seller-my-001,5764614130,'
    b'2026-03-01T20:15:00+08:00,TTMY00012345,"[{""sku"": ""SKU-MUG"", ""quantity"": 1, '
    b'""unit_price"": {""amount"": ""39.80"", ""currency"": ""MYR""}}]",'
    b'"{""amount"": ""39.80"", ""currency"": ""MYR""}",,,\r\n'
    b"ln-2,delivery-attempts,TTMY00012345,tiktok_shop,2026-03-04T10:00:00+08:00,,,,,,,,,"
    b"nobody home,,\r\n"
    b"ln-3,delivery-failures,TTMY00012345,tiktok_shop,2026-03-06T10:00:00+08:00,,,,,,,,,"
    b"refused,carrier,\r\n"
    b"ln-4,routes,TTMY00012345,tiktok_shop,2026-03-06T11:00:00+08:00,,,,,,,,,,,\r\n"
)
EXAMPLE_JSONL = (
    b'{"id": "ln-2", "command": "delivery-attempts", "parcel_tracking_number": '
    b'"TTMY00012345", "parcel_platform": "tiktok_shop", "reason": "nobody home", '
    b'"occurred_at": "2026-03-04T10:00:00+08:00"}\n'
    b'{"id": "ln-3", "command": "delivery-failures", "parcel_tracking_number": '
    b'"TTMY00012345", "parcel_platform": "tiktok_shop", "reason": "refused", '
    b'"occurred_at": "2026-03-06T10:00:00+08:00"}\n'
)


class CanonicalFormat:
    """Our CSV or JSON Lines of commands (see the module's description)."""

    name = "canonical"
    source = "returns-ledger's own commands, the API's fields (docs/IMPORTS.md)"
    media_type = "text/csv"
    example = EXAMPLE_CSV
    examples = {"text/csv": EXAMPLE_CSV, "application/x-ndjson": EXAMPLE_JSONL}

    def read(self, stream: IO[bytes]
             ) -> Iterator[SourceRecord | tuple[int, bytes, UnreadableRecordError]]:
        buffered = stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(
            _Raw(stream))
        head = buffered.peek(64).lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
        if head == b"{":
            yield from self._read_jsonl(buffered)
        else:
            yield from self._read_csv(buffered)

    def _read_jsonl(self, stream: IO[bytes]
                    ) -> Iterator[SourceRecord | tuple[int, bytes, UnreadableRecordError]]:
        for number, raw, why in records(stream, csv_quotes=False):
            if why is not None:
                yield number, raw, why
                continue
            try:
                value = json.loads(text_of(raw))
            except UnreadableRecordError as error:
                yield number, raw, error
                continue
            except ValueError as error:
                yield number, raw, UnreadableRecordError(f"not a JSON object: {error}")
                continue
            except RecursionError:  # nested past the parser's depth: this line's outcome
                yield number, raw, UnreadableRecordError("JSON nested too deep to be read")
                continue
            if not isinstance(value, dict):
                yield number, raw, UnreadableRecordError("a line must be one JSON object")
                continue
            yield SourceRecord(number, value, raw)

    def _read_csv(self, stream: IO[bytes]
                  ) -> Iterator[SourceRecord | tuple[int, bytes, UnreadableRecordError]]:
        header: list[str] | None = None
        for number, raw, why in records(stream, csv_quotes=True):
            if why is not None:
                if header is None:
                    raise UnreadableRecordError(f"the header row is unreadable: {why}")
                yield number, raw, why
                continue
            try:
                cells = next(csv.reader([text_of(raw)], strict=True))
            except UnreadableRecordError as error:
                if header is None:
                    raise UnreadableRecordError(f"the header row: {error}") from None
                yield number, raw, error
                continue
            except csv.Error as error:
                yield number, raw, UnreadableRecordError(f"not a CSV row: {error}")
                continue
            if header is None:
                header = _header(cells)
                continue
            if len(cells) != len(header):
                yield number, raw, UnreadableRecordError(
                    f"{len(cells)} cells where the header has {len(header)} columns")
                continue
            try:
                fields = {name: _cell(name, cell) for name, cell in zip(header, cells)
                          if cell != ""}
            except UnreadableRecordError as error:
                yield number, raw, error
                continue
            yield SourceRecord(number, fields, raw)
        if header is None:
            raise UnreadableRecordError("the file is empty: no header row")

    def map(self, record: SourceRecord) -> Mapped:
        fields = dict(record.fields)
        command = fields.pop("command", None)
        if not isinstance(command, str) or not command:
            raise UnreadableRecordError("`command` is required")
        line_id = fields.pop("id", None)
        target_fields = {k: fields.pop(k) for k in TARGET_FIELDS if k in fields}
        for key, value in target_fields.items():
            if not isinstance(value, str):
                raise UnreadableRecordError(f"`{key}` must be a string")
        occurred_at = _when(fields.get("occurred_at"))
        target = Target() if command == "parcels" else _target(target_fields)
        identity = (f"id:{line_id}" if line_id not in (None, "") else "sha256:" + hashlib.sha256(
            json.dumps(record.fields, sort_keys=True, default=str).encode()).hexdigest())
        return Mapped(source_key=identity, rule="canonical",
                      commands=(LineCommand(command, target, fields, occurred_at),))


class _Raw(io.RawIOBase):
    """Any binary stream as a raw stream (so it can be buffered and peeked at)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def _header(cells: list[str]) -> list[str]:
    names = [c.strip() for c in cells]
    missing = [n for n in ("command", "occurred_at") if n not in names]
    if missing:
        raise UnreadableRecordError(f"the header row lacks the column(s) {', '.join(missing)}"
                                    f" (it has: {', '.join(names)[:300]})")
    twice = sorted(n for n, count in Counter(names).items() if count > 1)
    if twice:
        raise UnreadableRecordError(f"the header row names {', '.join(twice)} twice")
    return names


def _cell(name: str, cell: str) -> Any:
    if name in META_FIELDS:
        return cell
    if cell in ("true", "false"):
        return cell == "true"
    if cell.startswith(JSON_OPEN):
        try:
            return json.loads(cell)
        except ValueError as error:
            raise UnreadableRecordError(f"`{name}` is not JSON: {error}") from None
        except RecursionError:
            raise UnreadableRecordError(f"`{name}` is JSON nested too deep to be read"
                                        ) from None
    return cell


def _when(value: Any) -> datetime:
    if not isinstance(value, str):
        raise UnreadableRecordError("`occurred_at` (ISO 8601 with a zone) is required")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise UnreadableRecordError(f"`occurred_at` is not an ISO 8601 time: {value[:40]!r}"
                                    ) from None
    if when.tzinfo is None:
        raise UnreadableRecordError("`occurred_at` needs a zone (Z or +08:00)")
    return when


def _target(fields: dict[str, str]) -> Target:
    if "parcel_id" in fields:
        return Target(parcel_id=fields["parcel_id"])
    platform = fields.get("parcel_platform")
    if "parcel_tracking_number" in fields:
        return Target(tracking_number=fields["parcel_tracking_number"], platform=platform)
    if "parcel_order_id" in fields and platform:
        return Target(order_id=fields["parcel_order_id"], platform=platform)
    raise UnreadableRecordError("which parcel: `parcel_id`, `parcel_tracking_number`, or "
                                "`parcel_order_id` with `parcel_platform`")


FORMAT = register(CanonicalFormat())
