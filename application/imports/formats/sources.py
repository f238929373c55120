"""The source formats of this package and their status tables, by name (the import
engine's registry takes the formats from here; docs/IMPORT_MAPPINGS.md shows the tables)."""

from __future__ import annotations

from application.imports.formats import (
    aftership,
    amazon_returns,
    lazada,
    tiktok_shop,
    trackingmore,
)
from application.imports.formats.mapping import StatusTable
from application.imports.model import Format

SOURCE_FORMATS: dict[str, Format] = {
    aftership.NAME: aftership.FORMAT,
    trackingmore.NAME: trackingmore.FORMAT,
    tiktok_shop.NAME: tiktok_shop.FORMAT,
    lazada.NAME: lazada.FORMAT,
    amazon_returns.NAME: amazon_returns.FORMAT,
}

TABLES: tuple[StatusTable, ...] = (
    aftership.TABLE, trackingmore.TABLE, *tiktok_shop.FORMAT.tables, *lazada.FORMAT.tables,
    *amazon_returns.FORMAT.tables)
