"""One process per view: `project rebuild` refuses while a runner holds the view's lock and
says which process; a second runner says it waits for the first, and takes over when it stops."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from click.testing import CliRunner

from interfaces.cli import main
from projections.locks import ViewBusyError, ViewLock
from projections.runners import projection_env
from projections.service import Runners, rebuild
from tests.integration.projection_support import app, view_env  # noqa: F401
from tests.operations.support import CLI, Process, held_parcel
from tests.operations.test_deadlines_safety import T0


def _until(check, timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_rebuild_refuses_while_the_views_runner_runs_and_names_its_pid(view_env, app,
                                                                      monkeypatch):
    held_parcel(app, "busy", T0)
    runners = Runners(view_env, names=["liabilities"]).start()
    try:
        assert runners.waiting() == {} and "liabilities" in runners.runners
        for key, value in view_env.items():
            monkeypatch.setenv(key, value)
        out = CliRunner().invoke(main, ["project", "rebuild", "liabilities"])
        assert out.exit_code == 1, out.output
        assert f"process {os.getpid()} on" in out.output and "(runner)" in out.output
        assert "stop that process first" in out.output
        with pytest.raises(ViewBusyError):
            rebuild("liabilities", view_env)
    finally:
        runners.stop()
    # once the runner stopped, the rebuild runs
    assert rebuild("liabilities", view_env) == app.recorder.max_notification_id()


def test_a_runner_waits_for_a_rebuild_and_then_runs(view_env, app):
    held_parcel(app, "wait", T0)
    rebuilding = ViewLock("tracking", projection_env(view_env), role="rebuild")
    assert rebuilding.acquire()
    runners = Runners(view_env, names=["tracking"], restart_delay=0.2).start()
    try:
        holder = runners.waiting()["tracking"]
        assert holder is not None and (holder.pid, holder.role) == (os.getpid(), "rebuild")
        assert "tracking" not in runners.runners
        rebuilding.release()
        _until(lambda: "tracking" in runners.runners, what="the runner to take over")
        assert runners.waiting() == {}
    finally:
        rebuilding.release()
        runners.stop()


def test_second_project_process_says_it_waits_for_the_first(view_env, app):
    held_parcel(app, "procs", T0)
    env = {**os.environ, **view_env, "PYTHONUNBUFFERED": "1"}
    first = Process([CLI, "project", "--view", "tracking"], env)
    second = None
    try:
        first.expect("projecting tracking")
        second = Process([CLI, "project", "--view", "tracking"], env)
        waited = second.expect(f"tracking: waiting for process {first.pid} on")
        assert not any(line.startswith("projecting") for line in second.lines[:waited])
        refused = subprocess.run([CLI, "project", "rebuild", "tracking"], env=env,
                                 capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1
        assert f"process {first.pid} on" in refused.stderr, refused.stderr
        assert first.stop() == 0
        second.expect("projecting tracking: the other process let it go", after=waited)
    finally:
        for process in (first, second):
            if process is not None:
                process.stop()


def test_project_status_says_who_runs_each_view_and_fails_on_lag(view_env, app, monkeypatch):
    held_parcel(app, "status", T0)
    for key, value in view_env.items():
        monkeypatch.setenv(key, value)
    runners = Runners(view_env, names=["tracking"]).start()
    try:
        _until(lambda: runners.positions()["tracking"][1] == 0, what="tracking to catch up")
        out = CliRunner().invoke(main, ["project", "status", "--max-lag", "0"])
        lines = {line.split()[0]: line for line in out.output.splitlines() if line.strip()}
        assert f"run by process {os.getpid()} on" in lines["tracking"]
        assert "not running" in lines["deadlines"]
        assert out.exit_code == 3 and "lagging more than 0 events: free_return" in out.output
        fine = CliRunner().invoke(main, ["project", "status", "--max-lag", "1000"])
        assert fine.exit_code == 0, fine.output
    finally:
        runners.stop()
