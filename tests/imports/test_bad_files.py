"""Bad files: clear per-line or per-file outcomes, never an exception, never half a line."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from application.imports.formats.lines import MAX_LINE_BYTES
from application.imports.views import ImportTooLargeError
from tests.imports.conftest import outcomes, run_import
from tests.imports.support import as_csv, as_jsonl, lifecycle, registration, step


def test_a_line_that_is_not_utf8_is_unreadable_and_the_next_is_read_on(desk):
    good = as_csv([registration(), step("delivery-attempts", 2, reason="nobody home")])
    header, first, second = good.rstrip(b"\r\n").split(b"\r\n")
    latin1 = step("delivery-attempts", 3, reason="x", line_id="latin")
    bad = as_csv([latin1]).split(b"\r\n")[1].replace(b",x,", b",caf\xe9,")
    view = run_import(desk, b"\r\n".join([header, first, bad, second]) + b"\r\n")
    assert outcomes(desk, view) == [(2, "applied"), (3, "unreadable"), (4, "applied")]
    [line] = [ln for ln in desk.lines(view.id) if ln["line_no"] == 3]
    assert "not UTF-8" in line["detail"]


def test_a_byte_order_mark_and_mixed_line_ends_read_as_plain_lines(desk):
    records = lifecycle()
    data = as_csv(records[:2], line_end="\n") + as_csv(records[2:4], line_end="\r").split(
        b"\r", 1)[1] + as_csv(records[4:]).split(b"\r\n", 1)[1]
    view = run_import(desk, b"\xef\xbb\xbf" + data)
    assert view.status == "done"
    assert view.counts == {"applied": 6}, list(desk.lines(view.id))


def test_a_header_without_the_required_columns_fails_the_import_saying_which(desk):
    view = run_import(desk, b"id,parcel_tracking_number\r\nx,TN\r\n")
    assert view.status == "failed"
    assert "command" in view.failure and "occurred_at" in view.failure
    assert run_import(desk, b"").failure.startswith("the file is empty")


def test_rows_with_missing_cells_bad_json_and_no_target_are_unreadable(desk):
    data = as_csv([registration()]) + (
        b'a,delivery-attempts,TTMY-IMP-1,tiktok_shop\r\n'
        b'b,deliveries,,,2026-03-04T09:00:00+00:00,,,,,,,"{not json",,,,,\r\n'
        b'c,deliveries,,,2026-03-04T09:00:00+00:00,,,,,,,,,,,,\r\n'
        b'd,deliveries,TTMY-IMP-1,tiktok_shop,yesterday,,,,,,,,,,,,\r\n')
    view = run_import(desk, data)
    assert outcomes(desk, view) == [(2, "applied"), (3, "unreadable"), (4, "unreadable"),
                                    (5, "unreadable"), (6, "unreadable")]
    details = [ln["detail"] for ln in desk.lines(view.id)][1:]
    assert "cells where the header has" in details[0]
    assert "not JSON" in details[1]
    assert "which parcel" in details[2]
    assert "ISO 8601" in details[3]


def test_jsonl_lines_that_are_not_objects_are_unreadable(desk):
    data = as_jsonl([registration()]) + b"[1, 2]\n{broken\n" + as_jsonl(
        [step("delivery-attempts", 2, reason="nobody home")])
    view = run_import(desk, data)
    assert outcomes(desk, view) == [(1, "applied"), (2, "unreadable"), (3, "unreadable"),
                                    (4, "applied")]


def test_an_over_long_line_is_unreadable_without_being_held_in_memory(desk):
    huge = b"x" * (MAX_LINE_BYTES + 10)
    data = as_csv([registration()]) + huge + b"\r\n" + as_csv(
        [step("delivery-attempts", 2, reason="nobody home")]).split(b"\r\n", 1)[1]
    view = run_import(desk, data)
    assert [o for _, o in outcomes(desk, view)] == ["applied", "unreadable", "applied"]


class Zeros(io.RawIOBase):
    """A stream of `size` bytes made as they are read (nothing of it is ever held)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = b"0" * n
        self.left -= n
        return n


def test_a_file_over_the_size_limit_is_refused_while_streaming(desk):
    stream = io.BufferedReader(Zeros(2 * 1024 ** 3))  # 2 GiB, never allocated
    with pytest.raises(ImportTooLargeError):
        desk.accept(stream, "canonical", "s1", "tester", "key", datetime.now(UTC),
                    limit=4 * 1024 * 1024)
    assert stream.raw.left > 1024 ** 3  # it stopped reading past the limit
    assert not [p for p in desk.spool.iterdir() if p.name.startswith("upload-")]


def test_a_formula_like_cell_is_stored_as_text_and_never_applied_half(desk):
    view = run_import(desk, as_csv([registration(), step("delivery-attempts", 2,
                                                         reason="=cmd|' /C calc'!A0")]))
    assert view.counts == {"applied": 2}
