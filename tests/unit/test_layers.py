"""The layers as named: the domain and its unit tests import no application or store."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUTER = ("application", "infrastructure", "projections", "interfaces", "flask", "sqlite3",
         "psycopg", "demo")


def imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


@pytest.mark.parametrize("folder", ["domain", "tests/unit"])
def test_domain_and_unit_tests_import_nothing_outer(folder: str) -> None:
    offenders = {str(path.relative_to(ROOT)): sorted(
                     name for name in imported(path) if name.split(".")[0] in OUTER)
                 for path in sorted((ROOT / folder).rglob("*.py"))}
    assert {path: names for path, names in offenders.items() if names} == {}
