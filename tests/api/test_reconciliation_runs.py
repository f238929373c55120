"""POST /v1/reconciliations answers at once (202) and the run is readable at once.

No 404 for an accepted run, no half-recorded run: the run is recorded as running before
any line is read, reconciled in the background (the web process's thread, or
`returns-ledger finance worker`), and ends done or failed with the reason.
"""

from __future__ import annotations

import time

import pytest
from click.testing import CliRunner
from flask import Flask

from interfaces.api.finance import WORKER
from interfaces.cli import main
from tests.api.conftest import bearer, issue_keys, make_app
from tests.conftest import TEST_PERSONAL_DATA_KEY

SETTLEMENT = "reference,currency,amount\r\nR-1,MYR,30.00\r\n"


@pytest.fixture
def worker_app(sqlite_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Flask:
    """The production shape: the web process only accepts, a worker process runs."""
    env = {**sqlite_env, "RECONCILIATIONS_IN_PROCESS": "no"}
    for name, value in {**env, "PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY}.items():
        monkeypatch.setenv(name, value)
    app = make_app(env)
    yield app
    app.extensions["returns_ledger"].close()


def test_an_accepted_run_is_readable_at_once_and_a_worker_finishes_it(worker_app) -> None:
    keys = issue_keys(worker_app)
    client = worker_app.test_client()
    accepted = client.post("/v1/reconciliations", data=SETTLEMENT,
                           headers=bearer(keys.finance, **{"Content-Type": "text/csv"}))
    assert accepted.status_code == 202, accepted.get_json()
    location = accepted.headers["Location"]
    assert accepted.headers["Retry-After"] == "1"
    running = client.get(location, headers=bearer(keys.finance))
    assert running.status_code == 200 and running.get_json()["status"] == "running"
    assert running.get_json()["lines"] == []
    not_yet = client.get(location + "?format=csv", headers=bearer(keys.finance))
    assert not_yet.status_code == 409 and not_yet.headers["Retry-After"] == "1"
    assert not_yet.headers["Content-Type"] == "application/problem+json"
    listed = client.get("/v1/reconciliations", headers=bearer(keys.finance)).get_json()
    assert [r["status"] for r in listed["reconciliations"]] == ["running"]
    done = CliRunner().invoke(main, ["finance", "worker", "--once"])
    assert done.exit_code == 0, done.output
    assert done.output.split() == [location.rsplit("/", 1)[1], "done"]
    report = client.get(location, headers=bearer(keys.finance)).get_json()
    assert report["status"] == "done" and report["counts"]["settled_not_in_ledger"] == 1
    again = client.post("/v1/reconciliations", data=SETTLEMENT,
                        headers=bearer(keys.finance, **{"Content-Type": "text/csv"}))
    assert again.status_code == 200 and again.get_json()["already_recorded"] is True


def test_the_embedded_default_runs_it_in_a_background_thread(app: Flask, keys) -> None:
    client = app.test_client()
    accepted = client.post("/v1/reconciliations", data=SETTLEMENT,
                           headers=bearer(keys.finance, **{"Content-Type": "text/csv"}))
    assert accepted.status_code == 202
    for _ in range(200):
        summary = client.get(accepted.headers["Location"], headers=bearer(keys.finance))
        assert summary.status_code == 200
        if summary.get_json()["status"] == "done":
            break
        time.sleep(0.02)
    assert summary.get_json()["status"] == "done"


def test_the_background_thread_stops_before_the_ledger_closes(sqlite_env) -> None:
    """A thread left running a statement on a SQLite connection the app then closes
    crashed the whole process (a segmentation fault in the suite)."""
    app = make_app(sqlite_env)
    keys = issue_keys(app)
    client = app.test_client()
    accepted = client.post("/v1/reconciliations", data=SETTLEMENT,
                           headers=bearer(keys.finance, **{"Content-Type": "text/csv"}))
    assert accepted.status_code == 202
    worker = app.extensions[WORKER]
    assert worker.idle.wait(10)
    thread = worker._thread
    assert thread is not None and thread.is_alive()
    app.extensions["returns_ledger"].close()
    assert not thread.is_alive()


def test_a_run_that_fails_says_why(app: Flask, keys) -> None:
    good = "".join(f"R-{i},MYR,1.00\r\n" for i in range(5000))
    body = ("reference,currency,amount\r\n" + good).encode() + b"\xff\xfe,MYR,1\r\n"
    client = app.test_client()
    accepted = client.post("/v1/reconciliations", data=body,
                           headers=bearer(keys.finance, **{"Content-Type": "text/csv"}))
    assert accepted.status_code == 202
    for _ in range(300):
        summary = client.get(accepted.headers["Location"], headers=bearer(keys.finance))
        if summary.get_json()["status"] != "running":
            break
        time.sleep(0.02)
    assert summary.get_json()["status"] == "failed"
    assert "UTF-8" in summary.get_json()["failure"]


def test_an_unknown_layout_is_refused_before_anything_is_recorded(app: Flask, keys) -> None:
    client = app.test_client()
    refused = client.post("/v1/reconciliations", data="a;b\r\n1;2\r\n",
                          headers=bearer(keys.finance, **{"Content-Type": "text/csv"}))
    assert refused.status_code == 422
    listed = client.get("/v1/reconciliations", headers=bearer(keys.finance)).get_json()
    assert listed["reconciliations"] == []


def test_an_upload_over_the_limit_is_refused(app: Flask, keys, monkeypatch) -> None:
    import interfaces.api.finance as finance_api

    monkeypatch.setattr(finance_api, "SETTLEMENT_MAX_BYTES", 100)
    refused = app.test_client().post(
        "/v1/reconciliations", data=SETTLEMENT + "R-2,MYR,1.00\r\n" * 20,
        headers=bearer(keys.finance, **{"Content-Type": "text/csv"}))
    assert refused.status_code == 413
    assert refused.headers["Content-Type"] == "application/problem+json"
