"""The library's private names the project relies on are all there (infrastructure/seam.py)."""

from __future__ import annotations

import subprocess

import pytest
from eventsourcing.application import Repository
from eventsourcing.sqlite import SQLiteTrackingRecorder

from infrastructure import seam


def test_every_private_name_the_project_uses_exists_in_the_installed_library() -> None:
    assert seam.check_library() == []


def test_a_missing_symbol_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(Repository, "_use_fastforward_lock")
    assert seam.check_library() == ["Repository._use_fastforward_lock is gone"]


def test_a_changed_signature_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SQLiteTrackingRecorder, "_insert_tracking", lambda self, cursor: None)
    assert seam.check_library() == [
        "SQLiteTrackingRecorder._insert_tracking lost parameter(s) ['c', 'tracking']"]


def test_no_module_but_the_seam_names_the_library_private_attributes() -> None:
    names = [name for _, name, _ in seam.CALLABLES if name != "_create"]
    names += [name for _, name in seam.ATTRIBUTES]
    found = subprocess.run(
        ["git", "grep", "-n", "-w", "-e", "\\|".join(names), "--",
         "domain", "application", "projections", "interfaces", "infrastructure"],
        capture_output=True, text=True, check=False).stdout.splitlines()
    assert [line for line in found if not line.startswith("infrastructure/seam.py")] == []
