"""Out of order across files (TT-7: carrier scans arrive out of order): a line whose
parcel, or an earlier step of it, has not arrived yet waits (`waiting`), and is applied
by itself once its parcel advances, in a later import or through the API, in business-time
order among the lines it arrives with; the state it waits in is the store's, not a
process's."""

from __future__ import annotations

import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from application.imports.engine import WOKEN, ImportDesk
from application.ledger import ReturnsLedger
from interfaces.api.catalog import ApiCommands
from tests.api.conftest import bearer, issue_keys, serving
from tests.imports.conftest import outcomes, run_import, with_address
from tests.imports.support import TN, as_csv, as_jsonl, imported, lifecycle, registration, step
from tests.imports.test_ordering import _memory_desk, _state

TRUE_SEQUENCE = lifecycle()  # registered, attempts on days 2 and 3, failed, routed, received
REG, ATTEMPTS, FAILURE = 0, (1, 2), 3
TRUTHS: dict[frozenset[int], dict[str, Any]] = {}


def _truth_without(left_out: frozenset[int]) -> dict[str, Any]:
    """The state of the true sequence, minus these lines, applied once in order."""
    if left_out not in TRUTHS:
        ledger, desk = _memory_desk()
        try:
            for index, record in enumerate(TRUE_SEQUENCE):
                if index not in left_out:
                    run_import(desk, as_csv([record]))
            TRUTHS[left_out] = _state(ledger)
        finally:
            ledger.close()
    return TRUTHS[left_out]


def _all_lines(desk: ImportDesk) -> list[dict[str, Any]]:
    views, _ = desk.list_imports(None, limit=500)
    return [line for view in views for line in desk.lines(view.id)]


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), files=st.integers(1, 5), jsonl=st.booleans())
def test_tt7_any_arrival_order_split_over_any_files_ends_as_one_in_order_file(data, files,
                                                                              jsonl):
    """Each line of the true sequence goes to one of `files` files (some also again in
    others, later or earlier), each file in any order, the files imported one after the
    other, each maybe twice. The end state is the true sequence's applied once in one
    file, but for the attempts that arrive after the failure was applied (the parcel had
    moved past them: `late`, TT-7's rules no longer allow them); no line is left waiting."""
    n = len(TRUE_SEQUENCE)
    home = data.draw(st.lists(st.integers(0, files - 1), min_size=n, max_size=n))
    extra = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, files - 1)),
                               max_size=4))
    contents: list[list[int]] = [[] for _ in range(files)]
    for index, file_no in [*enumerate(home), *extra]:
        contents[file_no].append(index)
    orders = [data.draw(st.permutations(c)) for c in contents]
    twice = data.draw(st.lists(st.booleans(), min_size=files, max_size=files))

    arrival = {i: min(f for f, c in enumerate(contents) if i in c) for i in range(n)}
    failure_applied = max(arrival[REG], arrival[FAILURE])
    expected_late = frozenset(i for i in ATTEMPTS if arrival[i] > failure_applied)

    ledger, desk = _memory_desk()
    try:
        for file_no, order in enumerate(orders):
            if not order:
                continue
            records = [TRUE_SEQUENCE[i] for i in order]
            body = as_jsonl(records) if jsonl else as_csv(records)
            for _ in range(2 if twice[file_no] else 1):  # the same file: one import
                run_import(desk, body)
        assert _state(ledger) == _truth_without(expected_late)
        if not expected_late:
            assert _state(ledger) == _truth_without(frozenset())
        lines = _all_lines(desk)
        assert "waiting" not in {line["outcome"] for line in lines}
        applied = [line["source_key"] for line in lines if line["outcome"] == "applied"]
        assert sorted(applied) == sorted("id:" + TRUE_SEQUENCE[i]["id"] for i in range(n)
                                         if i not in expected_late)  # each once
        late = {line["source_key"] for line in lines if line["outcome"] == "late"}
        assert late == {"id:" + TRUE_SEQUENCE[i]["id"] for i in expected_late}
    finally:
        ledger.close()


def test_tt7_lines_before_their_registration_wait_then_apply_when_it_arrives(desk):
    steps = lifecycle()[1:]
    first = run_import(desk, as_csv(steps))
    assert {outcome for _, outcome in outcomes(desk, first)} == {"waiting"}
    waiting = list(desk.lines(first.id))
    assert waiting[0]["problem_type"].endswith("parcel-not-found")  # why it waits
    assert desk.get(first.id).status == "done"
    second = run_import(desk, as_csv(lifecycle()[:1]))
    assert outcomes(desk, second) == [(2, "applied")]
    lines = list(desk.lines(first.id))
    assert {line["outcome"] for line in lines} == {"applied"}
    assert {line["detail"] for line in lines} == {WOKEN}
    assert [line["version"] for line in sorted(lines, key=lambda r: r["occurred_at"])] == [
        2, 3, 4, 5, 6]  # in business-time order, whatever the file's order
    parcel = desk.ledger.find_parcel(TN, "tiktok_shop")
    assert (parcel.status, parcel.attempts) == ("received", 2)


def test_tt7_a_waiting_attempt_goes_before_a_later_files_failure(desk):
    """The attempt waited for the registration; the registration comes with the failure:
    the attempt is applied before the failure (its business time), not refused after it."""
    run_import(desk, as_csv([step("delivery-attempts", 3, reason="shop closed")]))
    view = run_import(desk, as_csv([step("delivery-failures", 4, reason="refused"),
                                    registration()]))
    assert {o for _, o in outcomes(desk, view)} == {"applied"}
    parcel = desk.ledger.find_parcel(TN, "tiktok_shop")
    assert (parcel.status, parcel.attempts) == ("delivery_failed", 1)
    events = [type(e).__name__ for e in desk.ledger.events.get(parcel.id)]
    assert events == ["ParcelRegistered", "DeliveryAttemptFailed", "DeliveryFailed"]


def test_tt7_a_waiting_step_waits_for_its_earlier_step_in_a_third_file(desk):
    """Registered, but the receipt and the route came before the failure: they wait (the
    state does not allow them yet, and the parcel has not moved past them)."""
    run_import(desk, as_csv(lifecycle()[:1]))
    early = run_import(desk, as_csv([lifecycle()[5], lifecycle()[4]]))
    assert [o for _, o in outcomes(desk, early)] == ["waiting", "waiting"]
    assert {ln["problem_type"] for ln in desk.lines(early.id)} == {
        "urn:returns-ledger:problem:invalid-transition"}
    run_import(desk, as_csv([lifecycle()[3]]))
    assert [o for _, o in outcomes(desk, early)] == ["applied", "applied"]
    assert desk.ledger.find_parcel(TN, "tiktok_shop").status == "received"


def test_a_waiting_line_the_parcel_moved_past_meanwhile_is_late_never_applied(desk):
    """The attempt waited for its parcel; the parcel was registered and failed by
    commands (as the API runs them, not an import): the attempt is then late (TT-7's
    rules no longer allow it), and the parcel does not move backwards."""
    view = run_import(desk, as_csv([step("delivery-attempts", 3, reason="shop closed")]))
    assert outcomes(desk, view) == [(2, "waiting")]
    catalog = ApiCommands()
    body = {k: v for k, v in registration().items() if k not in ("id", "command")}
    parcel = catalog.run(desk.ledger, "parcels", None, catalog.load("parcels", body), "api")
    failure = {k: v for k, v in step("delivery-failures", 4, reason="refused").items()
               if not k.startswith("parcel_") and k not in ("id", "command")}
    catalog.run(desk.ledger, "delivery-failures", parcel.id,
                catalog.load("delivery-failures", failure), "api")
    assert desk.wake_waiting() == 0
    [line] = list(desk.lines(view.id))
    assert (line["outcome"], line["problem_type"]) == (
        "late", "urn:returns-ledger:problem:invalid-transition")
    after = desk.ledger.find_parcel(TN, "tiktok_shop")
    assert (after.status, after.attempts, after.version) == ("delivery_failed", 0, 2)
    assert desk.wake_waiting() == 0 and outcomes(desk, view) == [(2, "late")]


def test_waiting_lines_survive_a_restart_the_store_keeps_them(store_env, tmp_path):
    """The waiting lines are rows of the store: another process (another ledger on the
    same database) applies them when their parcel arrives there."""
    env = {**store_env, "IMPORT_SPOOL_DIR": str(tmp_path / "spool")}
    ledger = with_address(ReturnsLedger(env))
    try:
        first = run_import(ImportDesk(ledger, ApiCommands()), as_csv(lifecycle()[1:4]))
    finally:
        ledger.close()
    ledger = ReturnsLedger(env)
    try:
        desk = ImportDesk(ledger, ApiCommands())
        assert desk.get(first.id).counts == {"waiting": 3}
        run_import(desk, as_csv(lifecycle()[:1]))
        assert desk.get(first.id).counts == {"applied": 3}
        parcel = ledger.find_parcel(TN, "tiktok_shop")
        assert (parcel.status, parcel.attempts, parcel.version) == ("delivery_failed", 2, 4)
    finally:
        ledger.close()


class Died(BaseException):
    """The process dies (not an error anything catches)."""


def test_a_death_while_waking_waiting_lines_resumes_and_applies_each_once(desk,
                                                                         monkeypatch):
    """The woken lines are recorded, the process dies before their outcomes (and the
    log's cursor) are written: the next worker pass applies none twice and still reports
    them applied (their events' source is their own import)."""
    first = run_import(desk, as_csv(lifecycle()[1:3]))
    assert desk.get(first.id).counts == {"waiting": 2}
    settle = desk.store.settle

    def die(import_id, rows):
        if import_id == first.id:
            raise Died
        return settle(import_id, rows)

    monkeypatch.setattr(desk.store, "settle", die)
    try:
        run_import(desk, as_csv(lifecycle()[:1]))
    except Died:
        pass
    assert desk.ledger.find_parcel(TN, "tiktok_shop").version == 3  # recorded
    assert desk.get(first.id).counts == {"waiting": 2}  # outcomes not written
    monkeypatch.setattr(desk.store, "settle", settle)
    desk.resume()  # the worker's next pass
    assert desk.get(first.id).counts == {"applied": 2}
    parcel = desk.ledger.find_parcel(TN, "tiktok_shop")
    assert (parcel.version, parcel.attempts) == (3, 2)


def test_retry_applies_waiting_lines_too_and_each_once(desk):
    first = run_import(desk, as_csv(lifecycle()[1:2]))
    assert desk.get(first.id).counts == {"waiting": 1}
    assert desk.retry(first.id) == 1
    assert desk.run(first.id).counts == {"waiting": 1}  # still nothing to apply it to


def test_a_parcel_registered_through_the_api_wakes_its_waiting_lines(store_env, tmp_path):
    with serving({**store_env, "IMPORTS_IN_PROCESS": "yes", "IMPORTS_WAITING_POLL": "0.1",
                  "IMPORT_SPOOL_DIR": str(tmp_path / "spool")}) as app:
        with_address(app.extensions["returns_ledger"].get())
        keys = issue_keys(app)
        client = app.test_client()
        report = imported(client, keys.client, as_csv(lifecycle()[1:4]))
        assert report["summary"]["waiting"] == 3, report
        body = {k: v for k, v in registration().items() if k not in ("id", "command")}
        answer = client.post("/v1/parcels", json=body, headers=bearer(keys.client))
        assert answer.status_code == 201, answer.get_json()
        location = f"/v1/imports/{report['id']}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            summary = client.get(location, headers=bearer(keys.client)).get_json()["summary"]
            if summary["applied"] == 3:
                break
            time.sleep(0.05)
        assert summary["applied"] == 3 and summary["waiting"] == 0, summary
        parcel = client.get(answer.headers["Location"], headers=bearer(keys.client)).get_json()
        assert (parcel["status"], parcel["attempts"]) == ("delivery_failed", 2)
