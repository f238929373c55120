"""The source formats by name: what `POST /v1/imports?format=` and `returns-ledger import
--format` accept, and what the import endpoint's OpenAPI description lists.

A format module adds itself with `register(FORMAT)`, or is listed in the source formats'
`SOURCE_FORMATS` (application/imports/formats/sources.py); `load_formats()` imports them
once. A format may carry, besides the contract's `name`, `source`, `read` and
`map` (application/imports/model.py): `example` (bytes of a small example file, shown in
the API description and the README), `examples` ({media type: bytes}, when it reads more
than one) and `media_type` ("text/csv" or "application/x-ndjson").
"""

from __future__ import annotations

import importlib
import logging

from application.imports.model import Format

log = logging.getLogger("returns_ledger.imports")
FORMATS: dict[str, Format] = {}
# The modules that register formats or list them (SOURCE_FORMATS); one not there is skipped.
MODULES = ("application.imports.formats.canonical", "application.imports.formats.sources")
_loaded = False


class UnknownFormatError(ValueError):
    """No format has that name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no import format {name!r}: one of {', '.join(names())}")
        self.name = name


def register(fmt: Format) -> Format:
    """Add a format (its name must be new)."""
    if fmt.name in FORMATS and FORMATS[fmt.name] is not fmt:
        raise ValueError(f"two import formats are named {fmt.name!r}")
    FORMATS[fmt.name] = fmt
    return fmt


def load_formats() -> dict[str, Format]:
    """Every registered format, the known modules imported first."""
    global _loaded
    if not _loaded:
        for module in MODULES:
            try:
                loaded = importlib.import_module(module)
            except ModuleNotFoundError as error:
                if error.name != module:
                    raise
                continue
            for fmt in getattr(loaded, "SOURCE_FORMATS", {}).values():
                register(fmt)
        _loaded = True
    return FORMATS


def get_format(name: str) -> Format:
    try:
        return load_formats()[name]
    except KeyError:
        raise UnknownFormatError(name) from None


def names() -> list[str]:
    return sorted(load_formats())


def example_of(fmt: Format) -> bytes | None:
    return getattr(fmt, "example", None)


def media_type_of(fmt: Format) -> str:
    return str(getattr(fmt, "media_type", "text/csv"))
