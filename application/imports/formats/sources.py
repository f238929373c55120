"""The source formats of this package and their status tables, by name (the import
engine's registry takes the formats from here; docs/IMPORT_MAPPINGS.md shows the tables).

Each format also carries its example files (docs/examples/imports/), which the import
endpoint's OpenAPI description and the README show: `examples` ({media type: bytes}),
`example` (the first) and `media_type` (what its files are). In an installation without
the docs folder the examples are empty and nothing else changes.
"""

from __future__ import annotations

from pathlib import Path

from application.imports.formats import (
    aftership,
    amazon_returns,
    lazada,
    tiktok_shop,
    trackingmore,
)
from application.imports.formats.mapping import StatusTable
from application.imports.model import Format

EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples" / "imports"

SOURCE_FORMATS: dict[str, Format] = {
    aftership.NAME: aftership.FORMAT,
    trackingmore.NAME: trackingmore.FORMAT,
    tiktok_shop.NAME: tiktok_shop.FORMAT,
    lazada.NAME: lazada.FORMAT,
    amazon_returns.NAME: amazon_returns.FORMAT,
}

EXAMPLE_FILES: dict[str, dict[str, str]] = {
    aftership.NAME: {"text/csv": "aftership.csv", "application/json": "aftership-webhook.json"},
    trackingmore.NAME: {"text/csv": "trackingmore.csv",
                        "application/json": "trackingmore-webhook.json"},
    tiktok_shop.NAME: {"text/csv": "tiktok_shop.csv",
                       "application/json": "tiktok_shop-webhook.json"},
    lazada.NAME: {"text/csv": "lazada.csv", "application/json": "lazada-push.json"},
    amazon_returns.NAME: {"text/tab-separated-values": "amazon_returns.tsv"},
}

TABLES: tuple[StatusTable, ...] = (
    aftership.TABLE, trackingmore.TABLE, *tiktok_shop.FORMAT.tables, *lazada.FORMAT.tables,
    *amazon_returns.FORMAT.tables)


def _examples(name: str) -> dict[str, bytes]:
    found = {}
    for media_type, file in EXAMPLE_FILES[name].items():
        path = EXAMPLES / file
        if path.is_file():
            found[media_type] = path.read_bytes()
    return found


for _name, _format in SOURCE_FORMATS.items():
    _found = _examples(_name)
    setattr(_format, "examples", _found)  # noqa: B010 - optional attributes of the registry
    setattr(_format, "example", next(iter(_found.values()), None))  # noqa: B010
    setattr(_format, "media_type", next(iter(EXAMPLE_FILES[_name])))  # noqa: B010
