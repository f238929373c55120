"""A hundred lines per transaction, and still exact: a batch the store refuses, or that a
failed command spoiled, is run again line by line; nothing is half applied or lost."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from application.imports.engine import ImportDesk
from application.ledger import ReturnsLedger
from domain.errors import RuleViolationError
from domain.money import Money
from domain.values import Line
from interfaces.api.catalog import ApiCommands
from tests.imports.conftest import outcomes, run_import
from tests.imports.support import as_csv, registration, step

T = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _register_by_hand(ledger: ReturnsLedger, tn: str) -> None:
    ledger.register_parcel(platform="tiktok_shop", site="MY", seller_id="s1",
                           order_id=f"O-{tn}", order_created_at=T, tracking_number=tn,
                           lines=[Line("SKU-MUG", 1, Money.of("39.80", "MYR"))],
                           amount_paid=Money.of("39.80", "MYR"), occurred_at=T)


def test_a_batch_with_a_parcel_registered_elsewhere_is_run_again_line_by_line(desk):
    _register_by_hand(desk.ledger, "TN-B-2")  # the file registers it again, mid-batch
    records = []
    for n in range(5):
        records += [registration(f"TN-B-{n}"), step("delivery-attempts", 2, f"TN-B-{n}",
                                                    reason="nobody home")]
    view = run_import(desk, as_csv(records))
    by_line = dict(outcomes(desk, view))
    assert by_line[6] == "refused"  # the second registration of TN-B-2
    [line] = [ln for ln in desk.lines(view.id) if ln["line_no"] == 6]
    assert line["problem_type"].endswith("duplicate-parcel")
    assert sorted(by_line.values()).count("applied") == 9
    for n in range(5):
        parcel = desk.ledger.find_parcel(f"TN-B-{n}", "tiktok_shop")
        assert (parcel.version, parcel.attempts) == (2, 1)


class SpoilingCommands(ApiCommands):
    """The API's commands, but one changes its parcel and then fails (as a buggy command
    could), to show such a batch is never flushed."""

    def run(self, ledger: Any, name: str, parcel_id: Any, loaded: dict[str, Any],
            actor: str) -> Any:
        if name == "deliveries":
            parcel, _ = ledger._parcel_for_command(parcel_id)
            parcel.record_delivery_attempt("changed, then failed", ledger._policy(parcel),
                                           loaded["occurred_at"], actor)
            raise RuleViolationError("TT-7", "refused after changing the parcel")
        return super().run(ledger, name, parcel_id, loaded, actor)


def test_a_command_that_fails_after_changing_its_parcel_spoils_the_batch(import_ledger,
                                                                         tmp_path):
    desk = ImportDesk(import_ledger, SpoilingCommands(), spool_dir=tmp_path)
    records = [registration("TN-S-1"), step("delivery-attempts", 2, "TN-S-1", reason="a"),
               step("deliveries", 3, "TN-S-1"), registration("TN-S-2"),
               step("delivery-attempts", 2, "TN-S-2", reason="b")]
    view = run_import(desk, as_csv(records))
    assert dict(outcomes(desk, view)) == {2: "applied", 3: "applied", 4: "refused",
                                          5: "applied", 6: "applied"}
    parcel = import_ledger.find_parcel("TN-S-1", "tiktok_shop")
    assert (parcel.version, parcel.attempts) == (2, 1)  # the spoiling change is not recorded
    assert import_ledger.find_parcel("TN-S-2", "tiktok_shop").version == 2


class ConcurrentCommands(ApiCommands):
    """Another process records an attempt on the parcel while the batch is being decided."""

    def __init__(self, other: ReturnsLedger) -> None:
        self.other = other
        self.done = False

    def run(self, ledger: Any, name: str, parcel_id: Any, loaded: dict[str, Any],
            actor: str) -> Any:
        result = super().run(ledger, name, parcel_id, loaded, actor)
        if name == "delivery-attempts" and not self.done:
            self.done = True
            # Another process: another thread, so none of this command's context (its
            # pending key, its batch, its source) is the other's.
            other = threading.Thread(target=self.other.record_delivery_attempt, args=(
                parcel_id, "by the other process", datetime(2026, 3, 3, tzinfo=UTC)))
            other.start()
            other.join()
        return result


def test_a_batch_that_meets_a_concurrent_change_decides_again_on_the_stored_parcel(
        sqlite_env, tmp_path):
    from tests.imports.conftest import with_address

    ledger = with_address(ReturnsLedger(sqlite_env))
    other = ReturnsLedger(sqlite_env)
    try:
        _register_by_hand(ledger, "TN-C-1")
        desk = ImportDesk(ledger, ConcurrentCommands(other), spool_dir=tmp_path)
        records = [step("delivery-attempts", 2, "TN-C-1", reason="first"),
                   step("delivery-attempts", 4, "TN-C-1", reason="second")]
        view = run_import(desk, as_csv(records))
        assert dict(outcomes(desk, view)) == {2: "applied", 3: "applied"}
        parcel = ledger.find_parcel("TN-C-1", "tiktok_shop")
        assert (parcel.version, parcel.attempts) == (4, 3)  # theirs and both of ours
    finally:
        other.close()
        ledger.close()


def test_a_stop_between_pages_leaves_the_import_to_be_resumed(desk):
    import io

    records = []
    for n in range(150):
        records += [registration(f"TN-P-{n}"),
                    step("delivery-attempts", 2, f"TN-P-{n}", reason="nobody home"),
                    step("delivery-attempts", 3, f"TN-P-{n}", reason="closed"),
                    step("delivery-failures", 4, f"TN-P-{n}", reason="refused")]
    view = desk.accept(io.BytesIO(as_csv(records)), "canonical", "s1", "t", "k",
                       datetime.now(UTC))
    stopped = desk.run(view.id, stopping=lambda: True)
    assert stopped.status == "applying"
    assert 0 < stopped.counts.get("applied", 0) < len(records)
    assert desk.resume() == [view.id]
    done = desk.get(view.id)
    assert (done.status, done.counts) == ("done", {"applied": len(records)})


def test_rl3_a_line_in_the_future_is_refused_and_its_batch_neighbours_applied(desk):
    """The future attempt is decided (an event on the batch's parcel) and then refused by
    the save path's RL-3 check: the batch is spoiled and run again line by line."""
    records = [registration("TN-F-1"), step("delivery-attempts", 2, "TN-F-1", reason="a"),
               {**step("delivery-attempts", 3, "TN-F-1", reason="b"),
                "occurred_at": "2099-01-01T00:00:00+00:00"},
               registration("TN-F-2"), step("delivery-attempts", 2, "TN-F-2", reason="c")]
    view = run_import(desk, as_csv(records))
    assert dict(outcomes(desk, view)) == {2: "applied", 3: "applied", 4: "refused",
                                          5: "applied", 6: "applied"}
    [line] = [ln for ln in desk.lines(view.id) if ln["line_no"] == 4]
    assert line["problem_rule"] == "RL-3"
    assert desk.ledger.find_parcel("TN-F-1", "tiktok_shop").attempts == 1
    assert desk.ledger.find_parcel("TN-F-2", "tiktok_shop").attempts == 1
