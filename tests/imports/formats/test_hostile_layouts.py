"""Files shaped to make a reader work or hold more than their size: a quoted field left
open over a flood of blank lines, a header of very many columns. Each is read in memory
bounded by the record limits (and in work linear in the file), its lines reported."""

from __future__ import annotations

import io
import tracemalloc

from application.imports.formats.aftership import FORMAT as AFTERSHIP
from application.imports.formats.canonical import FORMAT as CANONICAL
from application.imports.formats.tabular import MAX_RECORD_BYTES
from application.imports.model import SourceRecord

HEADER = b"slug,tracking_number,checkpoint_time,tag,subtag\n"
SCAN = b"jt-express,JTMY0001,2026-03-04T10:00:00+08:00,AttemptFail,AttemptFail_002\n"


def _peak(fmt, data: bytes) -> tuple[int, list]:
    tracemalloc.start()
    try:
        read = list(fmt.read(io.BytesIO(data)))
        return tracemalloc.get_traced_memory()[1], read
    finally:
        tracemalloc.stop()


def test_an_open_quote_over_blank_lines_is_bounded_by_the_record_limit():
    """Blank lines weigh their line ends: they were counted as nothing, so an open quote
    held every line after it (and joined them all again at each line). What is held
    stays the same whether the flood is three or six times the record limit."""
    peaks = []
    for times in (3, 6):
        data = HEADER + b'"' + b"\n" * (times * MAX_RECORD_BYTES) + SCAN
        peak, read = _peak(AFTERSHIP, data)
        peaks.append(peak)
        assert isinstance(read[0], tuple) and "not closed" in str(read[0][2])
        assert isinstance(read[-1], SourceRecord)
        assert read[-1].fields["tracking_number"] == "JTMY0001"
    assert peaks[1] < 1.2 * peaks[0], peaks


def test_a_canonical_open_quote_over_blank_lines_is_reported_and_the_next_line_read():
    data = (b"command,occurred_at,parcel_tracking_number\n" + b'"' + b"\n" * 20_000
            + b'"\n' + b"deliveries,2026-03-04T10:00:00+08:00,TN-1\n")
    read = list(CANONICAL.read(io.BytesIO(data)))
    assert isinstance(read[-1], SourceRecord) and read[-1].fields["command"] == "deliveries"


def test_a_header_of_very_many_columns_is_read_once_over():
    """Duplicate names were found by counting every name against all the others: a 1 MiB
    header of 300,000 names took the worker for most of an hour."""
    names = b",".join(b"c%d" % i for i in range(60_000))
    data = b"command,occurred_at," + names + b"\nx\n"
    read = list(CANONICAL.read(io.BytesIO(data)))
    assert isinstance(read[0], tuple) and "cells where the header has" in str(read[0][2])


def test_a_header_naming_a_column_twice_is_still_refused():
    import pytest

    from application.imports.model import UnreadableRecordError

    with pytest.raises(UnreadableRecordError, match="c7 twice"):
        list(CANONICAL.read(io.BytesIO(b"command,occurred_at,c7,c8,c7\nx,y,1,2,3\n")))
