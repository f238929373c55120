"""Prints the mapping tables as docs/IMPORT_MAPPINGS.md holds them:
`python -m application.imports.formats.docs` (a test keeps the doc equal to this)."""

from __future__ import annotations

from application.imports.formats.sources import TABLES


def sections() -> str:
    """Every table between its markers, in the order of the doc."""
    return "\n\n".join(f"### {t.vocabulary}\n\nSource: {t.source}\n\n"
                       f"<!-- mapping: {t.vocabulary} -->\n{t.markdown()}\n<!-- end mapping -->"
                       for t in TABLES)


if __name__ == "__main__":
    print(sections())
