"""The event store and its views notice when they no longer belong together."""

from __future__ import annotations

import os
from typing import Any

import pytest
from click.testing import CliRunner

from application.ledger import ReturnsLedger
from interfaces.cli import main
from projections.binding import ViewMismatchError, mismatch
from projections.runners import close_runner, projection_env, start_runner
from projections.service import ViewStores
from tests.integration.audit_tampering import StoreTamperer
from tests.integration.projection_support import (  # noqa: F401 - fixtures
    app,
    catch_up,
    tt_parcel,
    view,
    view_env,
)


def _another_store(view_env: dict[str, str], tmp_path: Any) -> dict[str, str]:
    """The same view store, but a new, empty event store."""
    env = dict(view_env)
    if env["PERSISTENCE_MODULE"] == "eventsourcing.postgres":
        env["POSTGRES_SCHEMA"] = f"{env['POSTGRES_SCHEMA']}_other"
    else:
        env["SQLITE_DBNAME"] = str(tmp_path / "another.sqlite3")
    return env


def test_every_store_has_an_identity_kept_across_restarts(view_env) -> None:
    first = ReturnsLedger(view_env)
    again = ReturnsLedger(view_env)
    try:
        assert first.store_id and first.store_id == again.store_id
    finally:
        first.close()
        again.close()


def test_views_of_another_store_are_refused_everywhere(view_env, app, tmp_path,
                                                       monkeypatch) -> None:
    tt_parcel(app, "id-1")
    catch_up(view_env, app)
    other_env = _another_store(view_env, tmp_path)
    if other_env["PERSISTENCE_MODULE"] == "eventsourcing.postgres":
        from tests.integration.projection_support import drop_pg_schema

        _create_schema(other_env["POSTGRES_SCHEMA"])
    try:
        other = ReturnsLedger(other_env)  # a store made anew, with the old views beside it
        tt_parcel(other, "id-2")
        stores = ViewStores(other_env)
        try:
            problem = stores.mismatch("tracking")
            assert problem is not None and ("another" in problem or "no longer" in problem)
            with pytest.raises(ViewMismatchError, match="project rebuild tracking"):
                stores.checked_view("tracking")
        finally:
            stores.close()
        runner = start_runner("tracking", projection_env(other_env))
        error = close_runner(runner)
        assert isinstance(error, ViewMismatchError)  # the runner refuses to follow it
        for name, value in other_env.items():
            monkeypatch.setenv(name, value)
        status = CliRunner().invoke(main, ["project", "status"])
        assert status.exit_code == 1, status.output  # says what is wrong, and the fix
        assert "tracking" in status.output and "WRONG" in status.output
        assert "`returns-ledger project rebuild tracking`" in status.output
        other.close()
    finally:
        if other_env["PERSISTENCE_MODULE"] == "eventsourcing.postgres":
            drop_pg_schema(other_env["POSTGRES_SCHEMA"])


def test_a_deleted_tail_event_is_noticed_by_the_views(view_env, app) -> None:
    """The README's own tamper step: delete the last event, write a new command."""
    parcel = tt_parcel(app, "tail")
    catch_up(view_env, app)
    tamper = StoreTamperer(view_env)
    head = app.recorder.max_notification_id()
    tamper.run(f"DELETE FROM {tamper.table} WHERE {tamper.id_column} = ?", (head,))
    fresh = ReturnsLedger(view_env)  # a new process: nothing cached
    try:
        tt_parcel(fresh, "after")  # may reuse the deleted position on old SQLite stores
        problem = mismatch(view(view_env, "tracking"), fresh.recorder, fresh.store_id)
        assert problem is not None and "no longer the one stored there" in problem
    finally:
        fresh.close()
    assert parcel


def test_views_ahead_of_their_store_are_refused(view_env, app, tmp_path) -> None:
    tt_parcel(app, "ahead-1")
    tt_parcel(app, "ahead-2")
    catch_up(view_env, app)
    tamper = StoreTamperer(view_env)
    tamper.run(f"DELETE FROM {tamper.table}")
    problem = mismatch(view(view_env, "tracking"), app.recorder, app.store_id)
    assert problem is not None and "store ends at 0" in problem


def test_a_store_file_removed_under_the_service_makes_it_not_ready(sqlite_env) -> None:
    from tests.api.conftest import issue_keys, make_app

    app = make_app(sqlite_env)
    try:
        keys = issue_keys(app)
        client = app.test_client()
        assert client.get("/readyz").status_code == 200
        os.unlink(sqlite_env["SQLITE_DBNAME"])
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json["type"].endswith("store-replaced")
        posted = client.post("/v1/parcels", json={},
                             headers={"Authorization": f"Bearer {keys.admin}"})
        assert posted.status_code == 503  # never a 201 into an unlinked file
    finally:
        app.extensions["returns_ledger"].close()


def test_a_store_file_replaced_under_the_service_makes_it_not_ready(sqlite_env,
                                                                  tmp_path) -> None:
    """Another store moved over the file (a restore done wrong, a copy from elsewhere)."""
    from tests.api.conftest import issue_keys, make_app

    app = make_app(sqlite_env)
    try:
        keys = issue_keys(app)
        client = app.test_client()
        assert client.get("/readyz").status_code == 200
        other = {**sqlite_env, "SQLITE_DBNAME": str(tmp_path / "other.sqlite3")}
        ReturnsLedger(other).close()
        os.replace(other["SQLITE_DBNAME"], sqlite_env["SQLITE_DBNAME"])
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json["type"].endswith("store-replaced")
        posted = client.post("/v1/parcels", json={},
                             headers={"Authorization": f"Bearer {keys.admin}"})
        assert posted.status_code == 503
    finally:
        app.extensions["returns_ledger"].close()


def test_readyz_says_not_ready_when_the_views_belong_to_another_store(sqlite_env,
                                                                     tmp_path) -> None:
    from tests.api.conftest import make_app
    from tests.conftest import TEST_PERSONAL_DATA_KEY

    view_env = {**sqlite_env, "PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY,
                "VIEWS_SQLITE_DBNAME": str(tmp_path / "views.sqlite3")}
    first = ReturnsLedger(view_env)
    tt_parcel(first, "ready")
    catch_up(view_env, first)
    first.close()
    other_env = _another_store(view_env, tmp_path)
    service = make_app(other_env)
    try:
        ReturnsLedger(other_env).close()
        answer = service.test_client().get("/readyz")
        assert answer.status_code == 503 and answer.json["type"].endswith("views-mismatch")
        assert "project rebuild" in answer.json["detail"]
    finally:
        service.extensions["returns_ledger"].close()


def _create_schema(schema: str) -> None:
    import psycopg

    from tests.conftest import PG

    with psycopg.connect(host=PG["POSTGRES_HOST"], port=PG["POSTGRES_PORT"],
                         dbname=PG["POSTGRES_DBNAME"], user=PG["POSTGRES_USER"],
                         password=PG["POSTGRES_PASSWORD"] or None, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
