"""The background worker that runs accepted imports and reconciliations."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

from application.background import ResumingWorker, runs_in_process
from application.finance.worker import ReconciliationWorker


class Counting(ResumingWorker):
    name = "counting"

    def __init__(self, fail_first: bool = False, hold: threading.Event | None = None) -> None:
        super().__init__()
        self.passes = 0
        self.fail_first = fail_first
        self.hold = hold
        self.entered = threading.Event()

    def work(self, stopping: Callable[[], bool]) -> None:
        self.passes += 1
        self.entered.set()
        if self.hold is not None:
            self.hold.wait(5)
        if self.fail_first and self.passes == 1:
            raise RuntimeError("the store is away")


def test_a_failing_pass_is_logged_and_the_thread_runs_the_next(caplog: Any) -> None:
    worker = Counting(fail_first=True)
    try:
        worker.wake()
        assert worker.idle.wait(5)
        worker.wake()
        assert worker.idle.wait(5)
        assert worker.passes >= 2
        assert "a pass failed" in caplog.text
    finally:
        worker.stop()


def test_work_accepted_during_a_pass_is_not_reported_idle_before_a_new_pass() -> None:
    hold = threading.Event()
    worker = Counting(hold=hold)
    try:
        worker.wake()
        assert worker.entered.wait(5)
        worker.entered.clear()
        worker.wake()  # accepted while the first pass runs: that pass may have missed it
        hold.set()
        assert worker.entered.wait(5), "no second pass for work accepted mid-pass"
        assert worker.idle.wait(5)
        assert worker.passes == 2
    finally:
        worker.stop()


def test_stop_ends_the_thread_and_a_stopped_worker_can_start_again() -> None:
    worker = Counting()
    worker.wake()
    assert worker.idle.wait(5)
    worker.stop()
    assert not any(t.name == "counting" for t in threading.enumerate())
    worker.wake()
    try:
        assert worker.idle.wait(5)
        assert worker.passes == 2
    finally:
        worker.stop()


class FakeDesk:
    def __init__(self, broken: set[UUID]) -> None:
        self.broken = broken
        self.ran: list[UUID] = []
        self.resumes = 0

    def run(self, run_id: UUID) -> None:
        if run_id in self.broken:
            raise RuntimeError("the store is away")
        self.ran.append(run_id)

    def resume(self) -> list[UUID]:
        self.resumes += 1
        return []


def test_a_reconciliation_that_cannot_be_run_does_not_hold_up_the_next(caplog: Any) -> None:
    broken, fine = uuid4(), uuid4()
    desk = FakeDesk({broken})
    worker = ReconciliationWorker(lambda: desk)  # type: ignore[arg-type, return-value]
    try:
        worker.submit(broken)
        worker.submit(fine)
        assert worker.idle.wait(5)
        assert desk.ran == [fine]
        assert f"reconciliation {broken} could not be run" in caplog.text
        assert desk.resumes == 1, "runs a crash left running are resumed on the first pass"
    finally:
        worker.stop()


def test_work_runs_where_it_was_accepted_unless_told_or_on_postgresql() -> None:
    variable = "IMPORTS_IN_PROCESS"
    assert runs_in_process({}, variable)
    assert not runs_in_process({"PERSISTENCE_MODULE": "eventsourcing.postgres"}, variable)
    assert runs_in_process({"PERSISTENCE_MODULE": "eventsourcing.postgres",
                            variable: "yes"}, variable)
    assert not runs_in_process({variable: "no"}, variable)


def test_a_worker_process_looks_for_runs_accepted_elsewhere_every_poll() -> None:
    desk = FakeDesk(set())
    worker = ReconciliationWorker(lambda: desk, poll=0.02)  # type: ignore[arg-type, return-value]
    worker.start()
    try:
        deadline = threading.Event()
        for _ in range(250):
            if desk.resumes >= 3:
                break
            deadline.wait(0.02)
        assert desk.resumes >= 3
    finally:
        worker.stop()
