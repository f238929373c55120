"""Every line of every status mapping table, and the table in docs/IMPORT_MAPPINGS.md equal
to the one the mapper uses (rendered from the same rows, so they cannot drift)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from application.imports.formats import aftership, lazada, tiktok_shop, trackingmore
from application.imports.formats.sources import SOURCE_FORMATS, TABLES
from application.imports.model import SourceRecord, UnmappedStatusError
from tests.imports.formats.support import SCHEMAS, load, mapped, records_for

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "IMPORT_MAPPINGS.md"
ROWS = [pytest.param(table, row, id=f"{table.vocabulary}:{row.status}")
        for table in TABLES for row in table.rows]


@pytest.mark.parametrize(("table", "row"), ROWS)
def test_every_row_maps_to_its_commands(table, row):
    format_, records = records_for(table, row)
    results = mapped(format_, records)
    commands = [c for m in results for c in m.commands]
    assert [(c.command, c.on_return_leg) for c in commands] == [
        (s.command, s.on_return_leg) for s in row.steps]
    for command, step in zip(commands, row.steps, strict=True):
        assert {k: command.body[k] for k in step.body} == dict(step.body)
        loaded = load(command.command, json.loads(json.dumps(command.body)))  # no 422
        assert loaded["occurred_at"] == command.occurred_at
        if command.on_return_leg:
            load(command.on_return_leg, json.loads(json.dumps(command.body)))
    assert all(f"{table.vocabulary}:{row.status}" in m.rule.split("; ") for m in results)
    assert len({m.source_key for m in results}) == len(results)


@pytest.mark.parametrize(("table", "row"), [p for p in ROWS if not p.values[1].steps])
def test_ignored_rows_say_why(table, row):
    assert row.note and row.leads_to == "unchanged"


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.vocabulary)
def test_unknown_status_is_unmapped_never_guessed(table):
    format_, records = records_for(table, table.rows[0])
    record = records[0]
    fields = dict(record.fields)
    for name in ("substatus", "return_status", "Return request status"):
        if name in fields:
            fields[name] = "Mystery_999"
    if "status_field" in fields:
        fields[fields["status_field"]] = "MYSTERY"
    if table is lazada.REQUEST_TYPE:
        fields["request_type"] = "EXCHANGE"
    if table is lazada.RETURN_TO_TYPE:
        fields["reverse_status"], fields["return_to_type"] = "RTM_RECEIVE_ITEM", "RTW"
    if table in (aftership.TABLE, trackingmore.TABLE):
        fields["substatus"] = ""
        fields["status"] = "Mystery"
    with pytest.raises(UnmappedStatusError):
        format_.map(SourceRecord(record.line_no, fields, record.raw))


def test_aftership_exception_alone_is_unmapped():
    """`Exception` says nothing of the outcome without its subtag: not guessed."""
    _, [record] = records_for(aftership.TABLE, aftership.TABLE.row("Exception_003"))
    with pytest.raises(UnmappedStatusError):
        aftership.FORMAT.map(SourceRecord(2, {**record.fields, "substatus": ""}, b"raw"))


def test_tiktok_replacement_and_other_webhooks_are_unmapped():
    _, [record] = records_for(tiktok_shop.TABLE, tiktok_shop.TABLE.rows[0])
    with pytest.raises(UnmappedStatusError):
        tiktok_shop.FORMAT.map(SourceRecord(2, {**record.fields,
                                                "return_type": "REPLACEMENT"}, b"raw"))
    with pytest.raises(UnmappedStatusError, match="type 1 "):
        tiktok_shop.FORMAT.map(SourceRecord(2, {**record.fields, "webhook_type": "1"}, b"r"))


def test_lazada_line_without_its_request_type_is_unmapped():
    """REQUEST_INITIATE is the first status of every reverse order type: a line that does
    not say it is a RETURN is not taken for one."""
    _, [record] = records_for(lazada.REVERSE_STATUS, lazada.REVERSE_STATUS.row(
        "REQUEST_INITIATE"))
    fields = {k: v for k, v in record.fields.items() if k != "request_type"}
    with pytest.raises(UnmappedStatusError, match="request_type"):
        lazada.FORMAT.map(SourceRecord(2, fields, b""))


def test_lazada_return_to_type_outside_the_table_is_unmapped():
    row = lazada.REVERSE_STATUS.row("RTM_RECEIVE_ITEM")
    _, [record] = records_for(lazada.REVERSE_STATUS, row)
    ok = lazada.FORMAT.map(SourceRecord(2, {**record.fields, "return_to_type": "RTM"}, b""))
    assert ok.commands[0].body["location"] == "seller"
    with pytest.raises(UnmappedStatusError, match="return_to_type"):
        lazada.FORMAT.map(SourceRecord(2, {**record.fields, "return_to_type": "RTW"}, b""))


def test_every_command_a_table_asks_for_is_an_api_command():
    asked = {s.command for t in TABLES for r in t.rows for s in r.steps}
    assert asked <= set(SCHEMAS)
    assert {s.on_return_leg for t in TABLES for r in t.rows for s in r.steps} <= {
        None, "receipts"}


def _doc_sections() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    found = re.findall(r"<!-- mapping: (.+?) -->\n(.*?)\n<!-- end mapping -->", text, re.S)
    return {name: body.strip() for name, body in found}


def test_the_doc_tables_are_the_code_tables():
    sections = _doc_sections()
    assert sorted(sections) == sorted(t.vocabulary for t in TABLES)
    for table in TABLES:
        assert sections[table.vocabulary] == table.markdown(), (
            f"docs/IMPORT_MAPPINGS.md's {table.vocabulary} table differs from the code: "
            "paste the output of `python -m application.imports.formats.docs`")


def test_the_doc_names_every_format_and_its_source():
    text = DOC.read_text(encoding="utf-8")
    for name, format_ in SOURCE_FORMATS.items():
        assert f"`{name}`" in text and format_.source in text
