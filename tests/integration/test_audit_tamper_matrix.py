"""The tamper matrix of docs/AUDIT_BUNDLE.md, run as written there, on SQLite and PostgreSQL.

Each attack is made directly in the database of a live store, after an auditor kept a
checkpoint; then every check runs: `audit verify ID`, `audit verify --all` (against the
ledger's own latest checkpoint), `--against` the kept checkpoint, the verification endpoint
and the web badge (one code path, both asked), and the parcel's complete bundle through the
offline verifier.
The expected outcome of each cell is read from the table in the document, so the table
and the tests cannot drift apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from application.audit.log import AuditLog, LogNotFoundError
from application.audit.transparency import ProofError, verify_parcel_bundle
from application.audit.verification import DamagedStoreError
from application.ledger import ReturnsLedger
from demo.scenarios import SCENARIOS
from tests.api.conftest import bearer, issue_keys, make_app
from tests.integration.audit_tampering import StoreTamperer, edited
from tests.web.conftest import signed_in

DOC = Path(__file__).resolve().parents[2] / "docs" / "AUDIT_BUNDLE.md"
NOW = datetime(2026, 4, 1, tzinfo=UTC)
CHECKS = ("verify ID", "verify --all", "--against checkpoint", "endpoint and badge",
          "bundle offline")


def documented_matrix() -> dict[str, dict[str, str]]:
    """The rows of the tamper matrix table: attack -> {check: expected outcome}."""
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("<!-- tamper-matrix -->"):text.index("<!-- /tamper-matrix -->")]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    matrix = {}
    for line in rows:
        cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
        matrix[cells[0]] = dict(zip(CHECKS, cells[1:], strict=True))
    return matrix


MATRIX = documented_matrix()


class Scene:
    """A live store with two parcels, a kept checkpoint and digest, and a tamperer."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.app = make_app(env)
        self.ledger: ReturnsLedger = self.app.extensions["returns_ledger"].get()
        self.keys = issue_keys(self.app)
        self.parcel = SCENARIOS["amazon"](self.ledger, "")
        self.other = SCENARIOS["cdiscount"](self.ledger, "")
        self.log = AuditLog(self.ledger)
        self.kept_note = self.log.checkpoint(NOW)[0].note
        self.tamper = StoreTamperer(env)

    def close(self) -> None:
        self.app.extensions["returns_ledger"].close()

    def command_in_another_worker(self) -> None:
        worker = ReturnsLedger(self.env)
        try:
            worker.close_parcel(self.parcel, worker.get_parcel(self.parcel).modified_at)
        finally:
            worker.close()


def _edit_state(s: Scene) -> None:
    s.tamper.update_state(s.parcel, 3, edited(s.tamper.state(s.parcel, 3), reason="other"))


def _state_text(s: Scene) -> None:
    s.tamper.state_as_text(s.parcel, 4)


def _state_null(s: Scene) -> None:
    s.tamper.state_null(s.parcel, 4)


def _delete_middle(s: Scene) -> None:
    s.tamper.delete(s.parcel, 5)


def _delete_tail_then_command(s: Scene) -> None:
    s.tamper.delete(s.parcel, 10)  # the parcel's last event ...
    s.tamper.delete_last()  # ... and the store's last one (another parcel's)
    s.command_in_another_worker()


def _swap_versions(s: Scene) -> None:
    s.tamper.swap_versions(s.parcel, 2, 3)


def _respell(versions: tuple[int, ...], form: str) -> Callable[[Scene], None]:
    def attack(s: Scene) -> None:
        s.tamper.respell(s.parcel, versions, form)
    return attack


def _rewrite(s: Scene) -> None:
    s.tamper.rewrite_from(s.parcel, 8, {"actor": "someone-else"})


def _forge_before(s: Scene) -> None:
    """A correctly chained next version, stored at a position before the checkpoint's."""
    rows = s.tamper.rows(s.parcel)
    s.tamper.forge_next(s.parcel, 10, reference="AMZ-REF-FORGED")
    s.tamper.run(f"UPDATE {s.tamper.table} SET {s.tamper.id_column} = 0 WHERE "
                 f"{s.tamper.id_column} = ?", (s.tamper.max_position(),))
    assert len(s.tamper.rows(s.parcel)) == len(rows) + 1


def _forge_after(s: Scene) -> None:
    s.tamper.forge_next(s.parcel, 10, reference="AMZ-REF-FORGED")


def _move(s: Scene) -> None:
    position = s.tamper.positions(s.parcel)[4]
    s.tamper.run(f"UPDATE {s.tamper.table} SET {s.tamper.id_column} = ? WHERE "
                 f"{s.tamper.id_column} = ?", (s.tamper.max_position() + 1, position))


ATTACKS: dict[str, Callable[[Scene], None]] = {
    "edit state bytes": _edit_state,
    "state as TEXT": _state_text,
    "state NULL": _state_null,
    "delete a middle event": _delete_middle,
    "delete the tail, then a command": _delete_tail_then_command,
    "swap two versions": _swap_versions,
    **{f"re-spell a middle id ({form})": _respell((5,), form)
       for form in StoreTamperer.SPELLINGS},
    **{f"re-spell the tail ids ({form})": _respell((9, 10), form)
       for form in StoreTamperer.SPELLINGS},
    "rewrite a parcel consistently": _rewrite,
    "forged event before the checkpoint": _forge_before,
    "forged event after the checkpoint": _forge_after,
    "move an event to another position": _move,
}


def test_the_documented_matrix_lists_every_attack() -> None:
    assert list(MATRIX) == list(ATTACKS)


def _outcome(verification: Any) -> str:
    return "ok" if verification.ok else verification.breach.reason


def _run_checks(s: Scene) -> dict[str, str]:
    found = {"verify ID": _outcome(s.log.verify_parcel(s.parcel)),
             "verify --all": _outcome(s.log.verify_stored()),
             "--against checkpoint": _outcome(s.log.verify_all(s.kept_note))}
    client = s.app.test_client()
    answer = client.get(f"/v1/parcels/{s.parcel}/verification",
                        headers=bearer(s.keys.auditor))
    assert answer.status_code == 200, answer.get_data(True)
    endpoint = "ok" if answer.json["ok"] else answer.json["breach"]["reason"]
    page = signed_in(s.app, s.keys.auditor).get(f"/web/parcels/{s.parcel}")
    assert page.status_code in (200, 404, 500), page.status_code
    text = page.get_data(True)
    if page.status_code == 404:  # every event of the parcel hidden: no page, the API says it
        badge = endpoint
    else:
        badge = "ok" if 'class="badge ok" id="chain-badge"' in text else \
            _badge_reason(text)
    assert badge == endpoint, (badge, endpoint)
    found["endpoint and badge"] = endpoint
    found["bundle offline"] = _bundle_outcome(s)
    return found


def _badge_reason(page: str) -> str:
    match = re.search(r'class="badge broken" id="chain-badge".*?\(([a-z ]+)\)', page, re.S)
    assert match, page
    return match.group(1).replace(" ", "_")


def _bundle_outcome(s: Scene) -> str:
    """Export the parcel's complete bundle now (a new checkpoint first) and verify it with
    the log's public key, refusing a checkpoint older than the kept one."""
    try:
        s.log.checkpoint(NOW)
        lines = s.log.parcel_bundle(s.parcel, NOW)
    except DamagedStoreError as error:
        return f"export refused: {error.breach.reason}"
    except LogNotFoundError:
        return "export refused: not in the log"
    text = [json.dumps(line) for line in lines]
    try:
        verify_parcel_bundle(text, [s.log.signer.verifier], kept=[s.kept_note])
    except ProofError:
        return "refused"
    return "ok"


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_tamper_matrix(store_env, attack) -> None:
    expected = MATRIX[attack]
    scene = Scene(store_env)
    try:
        if scene.tamper.postgres and attack.startswith("re-spell"):
            pytest.skip("PostgreSQL's uuid column stores one spelling (test_audit_stored_form)")
        if scene.tamper.postgres and attack == "state as TEXT":
            pytest.skip("a bytea column holds no text")
        ATTACKS[attack](scene)
        found = _run_checks(scene)
    finally:
        scene.close()
    assert found == expected
