"""The example files of docs/examples/imports/ (the docs and the import endpoint's OpenAPI
description point to them): each reads without an unreadable line, maps without an
unmapped status, and stands for the commands the docs say."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from application.imports.formats.sources import SOURCE_FORMATS
from application.imports.model import SourceRecord
from tests.imports.formats.support import load

EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples" / "imports"
EXPECTED = {
    ("aftership", "aftership.csv"): [
        "delivery-attempts", "delivery-attempts", "delivery-failures", "delivery-attempts",
        "deliveries"],
    ("aftership", "aftership-webhook.json"): ["delivery-attempts", "delivery-failures"],
    ("trackingmore", "trackingmore.csv"): [
        "delivery-attempts", "delivery-attempts", "delivery-failures"],
    ("trackingmore", "trackingmore-webhook.json"): [
        "delivery-attempts", "delivery-attempts", "delivery-failures"],
    ("tiktok_shop", "tiktok_shop.csv"): ["return-requests", "routes", "receipts",
                                         "inspections"],
    ("tiktok_shop", "tiktok_shop-webhook.json"): ["routes"],
    ("lazada", "lazada.csv"): ["return-requests", "return-requests", "receipts",
                               "inspections"],
    ("lazada", "lazada-push.json"): ["routes"],
    ("amazon_returns", "amazon_returns.tsv"): [
        "return-requests", "routes", "return-labels", "receipts", "return-requests"],
}


@pytest.mark.parametrize(("name", "file"), sorted(EXPECTED))
def test_example_file(name, file):
    format_ = SOURCE_FORMATS[name]
    with open(EXAMPLES / file, "rb") as stream:
        found = list(format_.read(stream))
    assert all(isinstance(r, SourceRecord) for r in found), found
    commands = [c for r in found if isinstance(r, SourceRecord) for c in format_.map(r).commands]
    assert [c.command for c in commands] == EXPECTED[(name, file)]
    for command in commands:
        load(command.command, json.loads(json.dumps(command.body)))


def test_every_example_file_is_listed():
    assert sorted(p.name for p in EXAMPLES.iterdir()) == sorted(f for _, f in EXPECTED)


def test_formats_carry_their_examples_for_the_api_description():
    from application.imports.formats.sources import EXAMPLE_FILES
    for name, format_ in SOURCE_FORMATS.items():
        files = EXAMPLE_FILES[name]
        assert format_.examples == {m: (EXAMPLES / f).read_bytes() for m, f in files.items()}
        assert format_.example == format_.examples[next(iter(files))]
        assert format_.media_type in files


def _read(format_, data: bytes) -> list:
    import io
    return list(format_.read(io.BytesIO(data)))


def _fields(found: list) -> list[dict]:
    return [r.fields for r in found if isinstance(r, SourceRecord)]


@pytest.mark.parametrize(("name", "file"), sorted(EXPECTED))
def test_every_reader_takes_a_bom_and_crlf_or_cr_line_ends(name, file):
    format_ = SOURCE_FORMATS[name]
    data = (EXAMPLES / file).read_bytes()
    plain = _fields(_read(format_, data))
    assert plain
    assert _fields(_read(format_, b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n"))) == plain
    if not file.endswith(".json"):  # a JSON document's own line ends are whitespace
        assert _fields(_read(format_, data.replace(b"\n", b"\r"))) == plain


@pytest.mark.parametrize(("name", "file"), sorted(EXPECTED))
def test_every_reader_refuses_utf16_line_by_line_never_crashes(name, file):
    format_ = SOURCE_FORMATS[name]
    found = _read(format_, (EXAMPLES / file).read_bytes().decode().encode("utf-16"))
    assert found and not _fields(found)


@pytest.mark.parametrize(("name", "file"), sorted(k for k in EXPECTED if not k[1].endswith(
    ".json")))
def test_every_csv_reader_names_a_missing_column(name, file):
    format_ = SOURCE_FORMATS[name]
    data = (EXAMPLES / file).read_bytes()
    header, rest = data.split(b"\n", 1)
    delimiter = b"\t" if b"\t" in header else b","
    columns = header.split(delimiter)
    # Drop the first column (a required one in every format) from the header only.
    broken = delimiter.join(columns[1:]) + b"\n" + rest
    found = _read(format_, broken)
    assert found and not _fields(found)
    missing = columns[0].decode()
    assert all(missing in str(error) for _, _, error in found)


def test_the_readme_lists_every_format_with_its_examples_and_command():
    import re
    readme = (EXAMPLES.parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## For integrators: carrier scans and marketplace return files")[1]
    section = section.split("\n## ")[0]
    from application.imports.formats.sources import EXAMPLE_FILES
    for name, files in EXAMPLE_FILES.items():
        assert f"--format {name}`" in section
        for file in files.values():
            assert f"(docs/examples/imports/{file})" in section
    for path in re.findall(r"\((docs/[^)#]+)", section):
        assert (EXAMPLES.parents[2] / path).is_file(), path
