"""Reading the files the sources give: CSV or tab separated rows, JSON documents, JSON Lines.

Every reader works on the raw bytes, one physical line at a time (memory stays flat however
long the file), and reports a line it cannot read as an `UnreadableRecordError` for that
line only, never for the file:

- UTF-8 only; a byte order mark at the start is skipped; a line that is not UTF-8 (a file
  saved as Latin-1 or Windows-1252) is unreadable, with the offending byte's position.
- Line ends may be mixed (`\\r\\n`, `\\n`, a lone `\\r`): each is a line end.
- A quoted CSV field may hold line breaks: such a record spans lines (at most
  `MAX_RECORD_BYTES`), and its raw bytes are all of them.
- Comma or tab separated, detected from the header line (as the settlement files are); a
  header without a required column makes every line unreadable, naming the columns.
- Identifiers (tracking numbers, order and return ids) are data: one that starts like a
  spreadsheet formula (`=`, `+`, `-`, `@`, a tab or a carriage return) is refused, so it
  can never be evaluated by a spreadsheet that opens an export of the outcomes.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import IO, Any, Protocol

from application.imports.model import SourceRecord, UnreadableRecordError

BOM = b"\xef\xbb\xbf"
MAX_RECORD_BYTES = 64 * 1024  # a quoted field left open does not swallow the file
MAX_DOCUMENT_BYTES = 8 * 1024 * 1024  # one pushed JSON document (a webhook delivery)
MAX_LINE_BYTES = MAX_DOCUMENT_BYTES  # one physical line: a 2 GB line is never held
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
TOO_DEEP = "JSON nested too deep to be read"  # past the parser's depth: a line's outcome

Read = SourceRecord | tuple[int, bytes, UnreadableRecordError]


class Lines(Protocol):
    """What the readers read from: a binary stream's `readline` with a limit."""

    def readline(self, size: int = -1, /) -> bytes:
        ...


class Overlong(bytes):
    """The first bytes of a line longer than MAX_LINE_BYTES (the rest was skipped)."""


class _Rewound:
    """A stream that cannot peek, its first bytes read ahead and served again."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self.head, self.stream = head, stream

    def readline(self, size: int = -1, /) -> bytes:
        if not self.head:
            return self.stream.readline(size)
        end = self.head.find(b"\n") + 1 or len(self.head)
        if 0 <= size < end:
            end = size
        line, self.head = self.head[:end], self.head[end:]
        if line.endswith(b"\n") or self.head or (0 <= size <= len(line)):
            return line
        return line + self.stream.readline(-1 if size < 0 else size - len(line))


def peeked(stream: IO[bytes], size: int = 64) -> tuple[bytes, Lines]:
    """The first bytes of a stream and the stream to read from its start again (a stream
    that cannot peek is read ahead and put back)."""
    peek = getattr(stream, "peek", None)
    if peek is not None:
        return peek(size)[:size], stream
    head = stream.read(size)
    return head, _Rewound(head, stream)


def _bounded(stream: Lines) -> Iterator[bytes]:
    """The stream's lines, each at most MAX_LINE_BYTES: a longer one is an Overlong (its
    first bytes) and the rest of it is read past in bounded pieces, never held."""
    while True:
        line = stream.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if len(line) <= MAX_LINE_BYTES or line.endswith(b"\n"):
            yield line
            continue
        while True:
            rest = stream.readline(MAX_LINE_BYTES)
            if not rest or rest.endswith(b"\n"):
                break
        yield Overlong(line[:256])


def physical_lines(stream: Lines) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes without its line end), any mix of CRLF, LF and lone CR; the
    byte order mark of the first line is dropped; a line too long is an Overlong."""
    line_no = 0
    first = True
    for chunk in _bounded(stream):
        if first:
            chunk = chunk.removeprefix(BOM) if not isinstance(chunk, Overlong) else chunk
            first = False
        if isinstance(chunk, Overlong):
            line_no += 1
            yield line_no, chunk
            continue
        pieces = chunk.split(b"\n")
        if chunk.endswith(b"\n"):
            pieces.pop()
        for piece in pieces:
            piece = piece[:-1] if piece.endswith(b"\r") else piece
            for part in piece.split(b"\r"):  # a lone CR (old Mac files) ends a line too
                line_no += 1
                yield line_no, part


def decoded(line: bytes) -> str:
    """The line as text, or why it is not UTF-8 (or too long to be a record)."""
    if isinstance(line, Overlong):
        raise UnreadableRecordError(f"a line longer than {MAX_LINE_BYTES} bytes")
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UnreadableRecordError(
            f"not UTF-8 (byte 0x{line[error.start]:02x} at column {error.start + 1}); "
            "save the file as UTF-8") from None


def _open_quote(text: str) -> bool:
    return text.count('"') % 2 == 1


def csv_records(stream: Lines, required: Iterable[str],
                delimiter: str | None = None) -> Iterator[Read]:
    """Each data row as a SourceRecord whose fields are the header's names (stripped);
    header line 1. `required` columns missing from the header make every row unreadable."""
    lines = physical_lines(stream)
    header_no, header_text = 0, ""
    for header_no, raw in lines:
        try:
            header_text = decoded(raw)
        except UnreadableRecordError as error:
            yield header_no, raw, UnreadableRecordError(f"header: {error}")
            return
        if header_text.strip():
            break
    if not header_text.strip():
        return
    if delimiter is None:
        delimiter = "\t" if header_text.count("\t") > header_text.count(",") else ","
    names = [n.strip() for n in next(csv.reader([header_text], delimiter=delimiter))]
    missing = sorted(set(required) - set(names))
    # The record being read (a quoted field may hold line breaks): its parts, its size
    # with its line ends and its quotes, kept as it grows (never joined again per line).
    raws: list[bytes] = []
    texts: list[str] = []
    first_no, size, quotes = 0, 0, 0
    for line_no, raw in lines:
        try:
            text = decoded(raw)
        except UnreadableRecordError as error:
            if raws:
                yield first_no, b"\n".join(raws), error
                raws, texts, size, quotes = [], [], 0, 0
            else:
                yield line_no, raw, error
            continue
        if not raws:
            first_no = line_no
        raws.append(raw)
        texts.append(text)
        size, quotes = size + len(raw) + 1, quotes + text.count('"')
        if quotes % 2 == 1 and size < MAX_RECORD_BYTES:
            continue  # a quoted field holds a line break: the record goes on
        joined, record_raw = "\n".join(texts), b"\n".join(raws)
        raws, texts, size, quotes = [], [], 0, 0
        if not joined.strip():
            continue
        if _open_quote(joined):
            yield first_no, record_raw, UnreadableRecordError(
                f"a quoted field is not closed within {MAX_RECORD_BYTES} bytes")
            continue
        if missing:
            yield first_no, record_raw, UnreadableRecordError(
                "the header lacks the column(s) " + ", ".join(missing))
            continue
        values = next(csv.reader([joined], delimiter=delimiter))
        if len(values) > len(names):
            yield first_no, record_raw, UnreadableRecordError(
                f"{len(values)} values for {len(names)} columns")
            continue
        fields = {name: value.strip() for name, value in zip(names, values, strict=False)}
        yield SourceRecord(first_no, fields, record_raw)
    if raws:
        yield first_no, b"\n".join(raws), UnreadableRecordError(
            "the file ends inside a quoted field")


Parsed = tuple[int, bytes, Any] | tuple[int, bytes, UnreadableRecordError]


def _one_line(line_no: int, raw: bytes) -> Parsed:
    try:
        return line_no, raw, json.loads(decoded(raw))
    except UnreadableRecordError as error:
        return line_no, raw, error
    except json.JSONDecodeError as error:
        return line_no, raw, UnreadableRecordError(f"not JSON: {error.msg}")
    except RecursionError:
        return line_no, raw, UnreadableRecordError(TOO_DEEP)


def json_documents(stream: Lines) -> Iterator[Parsed]:
    """JSON Lines (one document a line), or one JSON document over several lines (a pushed
    webhook body, pretty-printed): (line number, raw bytes, parsed) or the error. When the
    first line does not parse alone and the lines together are no document either, the
    file is JSON Lines whose first line is broken: every other line still counts."""
    lines = physical_lines(stream)
    first = True
    for line_no, raw in lines:
        if not raw.strip():
            continue
        result = _one_line(line_no, raw)
        was_first, first = first, False
        if not (was_first and isinstance(result[2], UnreadableRecordError)
                and raw.lstrip().startswith((b"{", b"["))):
            yield result
            continue
        buffered, size, whole_fits = [(line_no, raw)], len(raw), True
        for more in lines:
            buffered.append(more)
            size += len(more[1]) + 1
            if size > MAX_DOCUMENT_BYTES:
                whole_fits = False
                break
        singles = [_one_line(n, r) for n, r in buffered if r.strip()]
        if whole_fits:
            whole = b"\n".join(r for _, r in buffered)
            document = _one_line(line_no, whole)
            if not isinstance(document[2], UnreadableRecordError) or not any(
                    not isinstance(p[2], UnreadableRecordError) for p in singles):
                yield _document_error(document, whole)
                return
        elif not any(not isinstance(p[2], UnreadableRecordError) for p in singles):
            yield line_no, raw, UnreadableRecordError(
                f"a JSON document larger than {MAX_DOCUMENT_BYTES} bytes")
            return
        yield from singles  # JSON Lines after all; the loop goes on with the lines after


def _document_error(document: Parsed, whole: bytes) -> Parsed:
    """The whole document, or where it stops being JSON."""
    if not isinstance(document[2], UnreadableRecordError):
        return document
    try:
        json.loads(decoded(whole))
    except json.JSONDecodeError as error:
        return document[0], whole, UnreadableRecordError(
            f"not JSON (line {error.lineno}, column {error.colno}): {error.msg}")
    except (UnreadableRecordError, RecursionError):
        pass
    return document


def identifier(fields: dict[str, Any], name: str, required: bool = True) -> str:
    """A source identifier as data: present (when required), printable, not formula-like."""
    value = fields.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise UnreadableRecordError(f"{name} is missing")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise UnreadableRecordError(f"{name} must be a string")
    text = str(value)
    if text.startswith(FORMULA_START):
        raise UnreadableRecordError(
            f"{name} {text[:20]!r} looks like a spreadsheet formula: refused as data")
    text = text.strip()
    if len(text) > 64 or not re.fullmatch(r"[\x21-\x7e]+", text):
        raise UnreadableRecordError(
            f"{name} must be 1 to 64 visible ASCII characters, without spaces")
    return text


_ZONE_WORDS = {"UTC": "+00:00", "GMT": "+00:00", "Z": "+00:00"}


def business_time(value: Any, name: str) -> datetime:
    """An RFC 3339 time with its zone, a `YYYY-MM-DD HH:MM:SS UTC` one, or Unix seconds;
    a time without a zone is refused (the ledger never guesses where a scan was made)."""
    if isinstance(value, bool):
        raise UnreadableRecordError(f"{name} is not a time")
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        seconds = int(value)
        if not 946_684_800 <= seconds < 4_102_444_800:  # the years 2000-2099
            raise UnreadableRecordError(f"{name} {value} is not a Unix time in 2000-2099")
        return datetime.fromtimestamp(seconds, UTC)
    if not isinstance(value, str) or not value.strip():
        raise UnreadableRecordError(f"{name} is missing")
    text = value.strip()
    words = text.rsplit(" ", 1)
    if len(words) == 2 and words[1].upper() in _ZONE_WORDS:
        text = words[0] + _ZONE_WORDS[words[1].upper()]
    try:
        parsed = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        raise UnreadableRecordError(f"{name} {value!r} is not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise UnreadableRecordError(
            f"{name} {value!r} has no time zone: the ledger does not guess one")
    if not 2000 <= parsed.year <= 2099:
        raise UnreadableRecordError(f"{name} {value!r} is outside the years 2000-2099")
    return parsed


def rfc3339(moment: datetime) -> str:
    """The API's timestamp: RFC 3339 with seconds and the zone the source gave."""
    return moment.isoformat(timespec="seconds" if not moment.microsecond else "microseconds")


def utc_key(moment: datetime) -> str:
    """A time in an idempotency key: one spelling per instant, whatever its zone."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
