"""Text no store can keep, and JSON nested past any reader's depth, in a hostile file: each
is an outcome of its own line, never an import that stops (and stops every import after
it: the worker runs them oldest first)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.imports.support import as_csv, registration, step

GOOD = step("delivery-attempts", 2, reason="nobody home")


def _line(**fields: Any) -> dict[str, Any]:
    line = {"command": "delivery-attempts", "parcel_tracking_number": "TTMY-IMP-1",
            "occurred_at": "2026-03-06T09:00:00+00:00", "reason": "shop closed"}
    line.update(fields)
    return line


def _jsonl(*lines: dict[str, Any]) -> bytes:
    # json.dumps writes a lone surrogate as the escape \ud800, as a hostile file would
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def _run(desk, data: bytes) -> Any:
    view = desk.accept(io.BytesIO(data), "canonical", "s1", "tester", "key", datetime.now(UTC))
    return desk.run(view.id)


HOSTILE = {
    "lone surrogate id": _line(id="ln-\ud800"),
    "lone surrogate command": _line(command="deliveries\udfff"),
    "lone surrogate tracking number": _line(parcel_tracking_number="TTMY-\ud800"),
    "lone surrogate in the body": _line(reason="shop \ud800 closed"),
    "lone surrogate field name": {**_line(), "\ud800": "x"},
    "NUL in the id": _line(id="ln-\x00"),
    "NUL in the command": _line(command="deliveries\x00"),
    "NUL in the tracking number": _line(parcel_tracking_number="TTMY-\x00"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_text_no_store_keeps_is_its_lines_outcome_and_the_import_goes_on(desk, name):
    _run(desk, as_csv([registration()]))
    report = _run(desk, _jsonl(HOSTILE[name], GOOD))
    assert report.status == "done", report
    rows = {r["line_no"]: r for r in desk.lines(report.id)}
    assert rows[1]["outcome"] in ("unreadable", "refused"), rows[1]
    assert "\x00" not in (rows[1]["detail"] or "")
    assert rows[2]["outcome"] == "applied"
    assert desk.ledger.find_parcel("TTMY-IMP-1", "tiktok_shop").attempts == 1


def test_an_import_that_fails_unexpectedly_does_not_stop_the_imports_after_it(desk,
                                                                              monkeypatch):
    """Whatever a file does to the engine, the worker goes on to the next import: the one
    that failed says so (and was logged); the others are done."""
    first = desk.accept(io.BytesIO(as_csv([registration()])), "canonical", "s1", "tester",
                        "key", datetime.now(UTC))
    second = desk.accept(io.BytesIO(as_csv([registration("TN-OTHER")])), "canonical", "s1",
                         "tester", "key", datetime.now(UTC))
    original = desk._stage

    def exploding(row, fmt):
        if row["import_id"] == str(first.id):
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        return original(row, fmt)

    monkeypatch.setattr(desk, "_stage", exploding)
    desk.resume()
    assert desk.get(first.id).status == "failed"
    assert "UnicodeEncodeError" in (desk.get(first.id).failure or "")
    assert desk.get(second.id).status == "done"
    assert desk.store.unfinished() == []


@pytest.mark.parametrize("depth", [100_000, 2_000])
def test_a_jsonl_line_nested_past_any_depth_is_unreadable_and_the_next_is_read(desk, depth):
    _run(desk, as_csv([registration()]))
    nested = b'{"command": "deliveries", "deep": ' + b"[" * depth + b"]" * depth + b"}"
    report = _run(desk, nested + b"\n" + _jsonl(GOOD))
    assert report.status == "done", report.failure
    rows = {r["line_no"]: r for r in desk.lines(report.id)}
    assert rows[1]["outcome"] == "unreadable" and "deep" in rows[1]["detail"], rows[1]
    assert rows[2]["outcome"] == "applied"


def test_a_csv_cell_nested_past_any_depth_is_unreadable_and_the_next_is_read(desk):
    _run(desk, as_csv([registration()]))
    deep = "[" * 20_000 + "]" * 20_000  # within the CSV field limit, past any JSON depth
    report = _run(desk, as_csv([step("delivery-attempts", 1, reason="x", lines=None)
                                | {"lines": deep}, GOOD]))
    assert report.status == "done", report.failure
    rows = {r["line_no"]: r for r in desk.lines(report.id)}
    assert rows[2]["outcome"] == "unreadable" and "deep" in rows[2]["detail"], rows[2]
    assert rows[3]["outcome"] == "applied"


def test_a_file_name_with_a_nul_is_kept_escaped(client, keys):
    """The file name is the uploader's text (the query's or the multipart part's): a NUL
    in it was a 500 on PostgreSQL."""
    from tests.api.conftest import bearer
    from tests.imports.support import wait_done

    for attempt, send in enumerate((
            lambda data: client.post("/v1/imports?format=canonical&file_name=a%00b.csv",
                                     data=data, content_type="text/csv",
                                     headers=bearer(keys.client)),
            lambda data: client.post("/v1/imports?format=canonical", data={
                "file": (io.BytesIO(data), "a\x00b.csv")}, content_type="multipart/form-data",
                headers=bearer(keys.client)))):
        answer = send(as_csv([registration(f"TN-NAME-{attempt}")]))
        assert answer.status_code == 202, answer.get_json()
        report = wait_done(client, keys.client, answer.headers["Location"])
        assert report["status"] == "done" and report["file_name"] == "a\\x00b.csv"


def test_a_file_name_that_is_not_utf8_is_kept_escaped(desk):
    """`returns-ledger import` names the import after the file: a name of bytes that are
    not UTF-8 reaches Python with lone surrogates (os.fsdecode), which no store keeps."""
    import os

    name = os.fsdecode(b"scans-\xff.csv")
    view = desk.accept(io.BytesIO(as_csv([registration()])), "canonical", "s1", "tester",
                       "key", datetime.now(UTC), file_name=name)
    assert desk.run(view.id).status == "done"
    assert desk.get(view.id).file_name == "scans-\\udcff.csv"
