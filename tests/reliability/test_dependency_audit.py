"""The CI dependency audit: fails on a known vulnerability, says loudly when it could not run."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "audit_dependencies.py"
spec = importlib.util.spec_from_file_location("audit_dependencies", SCRIPT)
audit = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
spec.loader.exec_module(audit)  # type: ignore[union-attr]


def report(*deps: dict) -> str:
    return json.dumps({"dependencies": list(deps), "fixes": []})


def test_a_known_vulnerability_fails_the_audit() -> None:
    code, lines = audit.verdict(report(
        {"name": "flask", "version": "3.1.0", "vulns": []},
        {"name": "werkzeug", "version": "3.0.0", "vulns": [
            {"id": "GHSA-xxxx", "fix_versions": ["3.0.6"], "description": "..."}]}), "")
    assert code == 1 and "werkzeug 3.0.0: GHSA-xxxx (fixed in 3.0.6)" in lines


def test_a_clean_audit_passes_and_counts_what_it_audited() -> None:
    code, lines = audit.verdict(report({"name": "flask", "version": "3.1.0", "vulns": []}), "")
    assert code == 0 and "1 packages audited" in lines[0]


@pytest.mark.parametrize("strict", ["", "1"])
def test_an_unreachable_advisory_database_is_said_loudly(monkeypatch, strict) -> None:
    monkeypatch.setenv("AUDIT_STRICT", strict)
    skipped = {"name": "flask", "skip_reason": "Dependency not found on PyPI and could not "
                                               "be audited: flask (3.1.0)"}
    for output, stderr in [(report(skipped, {**skipped, "name": "click"}), ""),
                           ("", "ConnectionError: Max retries exceeded")]:
        code, lines = audit.verdict(output, stderr)
        assert code == (1 if strict else 0)
        assert any("DEPENDENCY AUDIT DID NOT RUN" in line for line in lines)
