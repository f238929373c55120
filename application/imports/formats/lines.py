"""Reading a file as records, whatever it holds: bytes in, one logical line at a time.

A line is read up to MAX_LINE_BYTES and no further (a longer one is reported unreadable
and skipped to its end without being held), so no file can make the reader allocate
more than that. A UTF-8 byte-order mark at the start is dropped, `\\r\\n`, `\\n` and a
lone `\\r` all end a line, and a CSV record whose quoted field spans lines is one record.
Decoding is per line: a line that is not UTF-8 is unreadable, the next one is read on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from application.imports.model import UnreadableRecordError

MAX_LINE_BYTES = 1024 * 1024
BOM = b"\xef\xbb\xbf"
CHUNK = 64 * 1024


def physical_lines(stream: IO[bytes]) -> Iterator[tuple[bytes | None, bool]]:
    """(line without its terminator, too_long) for each line; None for an over-long one."""
    buffer = b""
    first = True
    skipping = False
    while True:
        chunk = stream.read(CHUNK)
        if first and chunk:
            chunk = chunk.removeprefix(BOM) if len(chunk) >= 3 else chunk
            first = False
        if not chunk:
            if buffer and not skipping:
                yield buffer, False
            elif skipping:
                yield None, True
            return
        buffer += chunk
        while True:
            cut = _line_end(buffer)
            if cut is None:
                break
            end, after = cut
            if skipping:
                yield None, True
                skipping = False
            else:
                yield buffer[:end], False
            buffer = buffer[after:]
        if len(buffer) > MAX_LINE_BYTES:
            buffer, skipping = b"", True


def _line_end(buffer: bytes) -> tuple[int, int] | None:
    """Where the first line ends and the next begins (a `\\r` at the very end of the
    buffer waits for the next chunk: it may be half of `\\r\\n`)."""
    n, r = buffer.find(b"\n"), buffer.find(b"\r")
    if n < 0 and r < 0:
        return None
    if r < 0 or (0 <= n < r):
        return n, n + 1
    if r + 1 == len(buffer):
        return None
    return r, r + (2 if buffer[r + 1:r + 2] == b"\n" else 1)


def records(stream: IO[bytes], csv_quotes: bool
            ) -> Iterator[tuple[int, bytes, UnreadableRecordError | None]]:
    """(line number, raw record, None) or (line number, raw, why it is unreadable); with
    `csv_quotes`, lines are joined while a quoted field is open. Blank lines are skipped."""
    number = 0
    held: list[bytes] = []
    start, size, quotes = 0, 0, 0  # the held lines' size with their line ends, quotes
    for line, too_long in physical_lines(stream):
        number += 1
        if too_long or line is None:
            held, size, quotes = [], 0, 0
            yield number, b"", UnreadableRecordError(
                f"the line is longer than {MAX_LINE_BYTES} bytes")
            continue
        if not held:
            start = number
        held.append(line)
        size, quotes = size + len(line) + 1, quotes + line.count(b'"')
        if csv_quotes and quotes % 2 == 1 and size - 1 <= MAX_LINE_BYTES:
            continue  # a quoted field goes on on the next line (never joined per line)
        joined = b"\n".join(held)
        held, size, quotes = [], 0, 0
        if not joined.strip():
            continue
        yield start, joined, None
    if held:
        yield start, b"\n".join(held), UnreadableRecordError("a quoted field is never closed")


def text_of(raw: bytes) -> str:
    """The line as text, or UnreadableRecordError when it is not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UnreadableRecordError(
            f"the line is not UTF-8 (byte {error.start + 1}); save the file as UTF-8"
        ) from None
