"""Queries from a real PostgreSQL streaming replica, commands on the primary, and
`min_position` waiting for the replica's replay (and, for the views' queries, for the view
on the replica to have applied it): against a primary and a replica this test makes itself
on loopback (tests/operations/replication.py). Skipped loudly when they cannot be made here;
in CI (CI=true) it must run."""

from __future__ import annotations

import base64
import contextlib
import os
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from application.ledger import ReturnsLedger
from application.settings import load
from interfaces.api import create_app
from interfaces.api.replica import EXTENSION
from interfaces.api.views import EXTENSION as VIEWS_EXTENSION
from interfaces.cli.store import initialise
from projections.base import APPLICATION_NAME
from projections.service import Runners
from tests.conftest import IN_CI
from tests.operations import replication

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def servers():
    why = replication.unavailable()
    if why:
        if IN_CI:
            pytest.fail(f"cannot make a primary and a replica: {why} (CI=true: mandatory)")
        pytest.skip(f"READ REPLICA TEST SKIPPED: {why}")
    with replication.primary_and_replica() as pair:
        yield pair


@pytest.fixture
def replica_app(servers, monkeypatch):
    primary, replica = servers
    dbname = f"ledger_{uuid.uuid4().hex[:8]}"
    with primary.connect() as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    env = {**primary.env(dbname), "PERSISTENCE_MODULE": "eventsourcing.postgres",
           "POSTGRES_READ_HOST": "127.0.0.1", "POSTGRES_READ_PORT": str(replica.port),
           "POSTGRES_READ_WAIT_SECONDS": "2", "PROJECTIONS_IN_PROCESS": "no",
           "PERSONAL_DATA_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
           "SECRET_KEY": "s" * 48}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("SQLITE_DBNAME", "VIEWS_SQLITE_DBNAME"):
        monkeypatch.delenv(key, raising=False)
    initialise(load())  # db init: the event store's, the audit log's and the views' tables
    # Every process after db init runs with CREATE_TABLE=no, as deployed (docs/OPERATIONS.md).
    monkeypatch.setenv("CREATE_TABLE", "no")
    init = ReturnsLedger({**env, "CREATE_TABLE": "no"})
    token = init.issue_api_key("admin", None, T0, "replica test").token
    init.close()
    app = create_app({"TESTING": True, "VIEW_WAIT_SECONDS": "1"})
    try:
        yield app, token, primary, replica
    finally:
        app.extensions[EXTENSION].close()
        app.extensions[VIEWS_EXTENSION].close()
        app.extensions["returns_ledger"].close()
        with primary.connect() as conn:
            conn.execute(f'DROP DATABASE "{dbname}" WITH (FORCE)')


def _register(client, token, n: int) -> dict:
    answer = client.post("/v1/parcels", headers={"Authorization": f"Bearer {token}"}, json={
        "platform": "tiktok_shop", "site": "TH", "seller_id": "seller-th",
        "order_id": f"RR-{n}", "order_created_at": T0.isoformat(),
        "tracking_number": f"TTTHRR{n:05d}",
        "lines": [{"sku": "SKU-LAMP", "quantity": 1,
                   "unit_price": {"amount": "450.00", "currency": "THB"}}],
        "amount_paid": {"amount": "450.00", "currency": "THB"},
        "occurred_at": T0.isoformat()})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def _fail(client, token, parcel: str) -> dict:
    answer = client.post(f"/v1/parcels/{parcel}/delivery-failures",
                         headers={"Authorization": f"Bearer {token}"},
                         json={"reason": "refused", "occurred_at": T0.isoformat()})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


@contextlib.contextmanager
def _replay_paused(replica) -> Iterator[None]:
    """The replica stops replaying the primary's WAL, and replays again afterwards."""
    with replica.connect() as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        with replica.connect() as conn:
            conn.execute("SELECT pg_wal_replay_resume()")


def _answered_behind(client, url: str, auth: dict) -> None:
    """A query asking for a position the replica has not replayed waits about 2 s, then 503."""
    started = time.monotonic()
    behind = client.get(url, headers=auth)
    waited = time.monotonic() - started
    assert behind.status_code == 503, behind.get_json()
    assert behind.get_json()["type"].endswith("replica-behind")
    assert behind.headers["Retry-After"] == "1" and 1.9 <= waited < 10


def _answered_once_replayed(replica, client, url: str, auth: dict):
    """Asks while the replay is paused, then lets the replica replay: the answer that waited."""
    answers = {}

    def read() -> None:
        answers["late"] = client.get(url, headers=auth)

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.5)
    with replica.connect() as conn:
        conn.execute("SELECT pg_wal_replay_resume()")
    reader.join(timeout=10)
    return answers["late"]


def test_queries_read_the_replica_commands_the_primary_min_position_waits(replica_app):
    app, token, primary, replica = replica_app
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    reads = app.extensions[EXTENSION]
    assert reads.env["POSTGRES_PORT"] == str(replica.port)  # queries: the replica's port

    created = _register(client, token, 1)
    parcel, position = created["id"], created["position"]
    state = client.get(f"/v1/parcels/{parcel}?min_position={position}", headers=auth)
    assert state.status_code == 200 and state.get_json()["status"] == "registered"

    with _replay_paused(replica):
        failed = _fail(client, token, parcel)  # commands still work: they use the primary
        assert failed["status"] == "delivery_failed"
        stale = client.get(f"/v1/parcels/{parcel}", headers=auth)  # no min_position: replica
        assert stale.status_code == 200 and stale.get_json()["status"] == "registered"
        _answered_behind(client, f"/v1/parcels/{parcel}?min_position={failed['position']}",
                         auth)
        history = client.get(f"/v1/parcels/{parcel}/history?min_position="
                             f"{failed['position']}", headers=auth)
        assert history.status_code == 503
        found = client.get("/v1/parcels?tracking_number=TTTHRR00001", headers=auth)
        assert [p["status"] for p in found.get_json()["items"]] == ["registered"]  # replica
        found = client.get(f"/v1/parcels?tracking_number=TTTHRR00001&min_position="
                           f"{failed['position']}", headers=auth)
        assert found.status_code == 503 and found.get_json()["type"].endswith("replica-behind")
        late = _answered_once_replayed(  # waited for the replay, then answered
            replica, client, f"/v1/parcels/{parcel}/history?min_position={failed['position']}",
            auth)
    assert late.status_code == 200, late.get_json()
    assert [e["type"] for e in late.get_json()["events"]][-1] == "DeliveryFailed"


VIEW_QUERIES = {  # every view's query endpoint, and the view it reads
    "tracking": "/v1/parcels?platform=tiktok_shop",
    "tracking report": "/v1/reports/parcels?tracking_numbers=TTTHRR00007",
    "free_return": "/v1/reports/free-returns",
    "deadlines": "/v1/reports/deadlines",
    "liabilities": "/v1/reports/liabilities",
    "refunds": "/v1/refunds",
}


@pytest.fixture
def runners(replica_app):
    """The five view runners on the primary (as `returns-ledger project` runs them)."""
    started = Runners(restart_delay=0.5).start()
    yield started
    started.stop()


def _status_in_views(client, auth, position: int) -> dict:
    """Each view query with min_position: {query: (status code, body)}."""
    answers = {}
    for name, path in VIEW_QUERIES.items():
        answer = client.get(f"{path}&min_position={position}" if "?" in path
                            else f"{path}?min_position={position}", headers=auth)
        answers[name] = (answer.status_code, answer.get_json())
    return answers


def test_view_queries_read_the_replica_and_wait_for_replay_and_view(replica_app, runners):
    """Read-your-writes over the replica, for every view's query: a `min_position` waits
    until the replica replayed it AND the view there applied it; replay paused is a 503
    `replica-behind`, a view runner behind is `caught_up: false`, a position the primary
    never recorded is a 409 `position-not-recorded`."""
    app, token, primary, replica = replica_app
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    views = app.extensions[VIEWS_EXTENSION]
    assert views.read_stores().env["POSTGRES_PORT"] == str(replica.port)
    assert views.stores().env["POSTGRES_PORT"] == str(primary.port)  # runners, metrics

    created = _register(client, token, 7)
    parcel, position = created["id"], created["position"]
    for name, (status, body) in _status_in_views(client, auth, position).items():
        assert status == 200, (name, body)
        assert body["caught_up"] is True and body["position"] >= position, (name, body)
    listed = client.get(f"/v1/parcels?platform=tiktok_shop&min_position={position}",
                        headers=auth).get_json()
    assert [p["status"] for p in listed["items"] if p["parcel_id"] == parcel] == ["registered"]

    with _replay_paused(replica):
        failed = _fail(client, token, parcel)
        assert views.stores().caught_up("tracking", failed["position"], 5)  # on the primary
        stale = client.get("/v1/parcels?platform=tiktok_shop", headers=auth).get_json()
        assert [p["status"] for p in stale["items"] if p["parcel_id"] == parcel] == \
            ["registered"]  # without min_position: what the replica has replayed
        _answered_behind(client, f"/v1/reports/liabilities?min_position={failed['position']}",
                         auth)
        late = _answered_once_replayed(  # waited for the replay and the view, then answered
            replica, client,
            f"/v1/parcels?platform=tiktok_shop&min_position={failed['position']}", auth)
    assert late.status_code == 200 and late.get_json()["caught_up"] is True, late.get_json()
    assert [p["status"] for p in late.get_json()["items"] if p["parcel_id"] == parcel] == \
        ["delivery_failed"]
    for name, (status, body) in _status_in_views(client, auth, failed["position"]).items():
        assert status == 200 and body["caught_up"] is True, (name, body)

    runners.stop()  # the views stop; the replica still replays the events
    again = _register(client, token, 8)
    assert views.read_stores().caught_up("tracking", failed["position"], 0)
    for name, (status, body) in _status_in_views(client, auth, again["position"]).items():
        assert status == 200 and body["caught_up"] is False, (name, body)  # flagged, answered
        assert body["position"] < again["position"]

    unknown = client.get(f"/v1/reports/deadlines?min_position={again['position'] + 1000}",
                         headers=auth)
    assert unknown.status_code == 409, unknown.get_json()
    assert unknown.get_json()["type"].endswith("position-not-recorded")
    state = client.get(f"/v1/parcels/{parcel}?min_position={again['position'] + 1000}",
                       headers=auth)
    assert state.status_code == 409 and state.get_json()["type"].endswith(
        "position-not-recorded")


def _percentiles(values: list[float]) -> str:
    values = sorted(values)
    p50, p99 = statistics.median(values), values[max(int(len(values) * 0.99) - 1, 0)]
    return f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {values[-1]:.1f} ms"


def test_replica_lag_under_command_load(replica_app, runners, capsys):
    """Figures for docs/OPERATIONS.md: the bench's command workload (register, fail the
    delivery, route: bench/commands.py) from two threads on the primary, the five view
    runners on the primary, and a probe every 20 ms timing how long after the primary's
    last position the replica replayed it, and how long until the tracking view on the
    replica had applied it (what a view query with that `min_position` waits for)."""
    from bench.commands import parcel_steps, prepare_ledger

    app, token, primary, replica = replica_app
    reads = app.extensions[EXTENSION]
    replica_tracking = app.extensions[VIEWS_EXTENSION].read_stores().view("tracking")
    writer = ReturnsLedger(app.extensions["returns_ledger_settings"])
    prepare_ledger(writer)
    stop, done, replayed, viewed = threading.Event(), [0], [], []

    def load(offset: int) -> None:
        n = offset
        while not stop.is_set():
            for step in parcel_steps(writer, n):
                step()
                done[0] += 1
            n += 2

    threads = [threading.Thread(target=load, args=(k,)) for k in range(2)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        while time.monotonic() - started < 6:
            head = writer.recorder.max_notification_id() or 0
            seen = time.monotonic()
            assert reads.wait_for(head, timeout=5)
            replayed.append((time.monotonic() - seen) * 1000)
            while (replica_tracking.max_tracking_id(APPLICATION_NAME) or 0) < head:
                assert time.monotonic() - seen < 10, "the replica's view never got there"
                time.sleep(0.002)
            viewed.append((time.monotonic() - seen) * 1000)
            time.sleep(0.02)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        writer.close()
    elapsed = time.monotonic() - started
    with capsys.disabled():
        print(f"\nreplica under {done[0] / elapsed:.0f} commands/s for {elapsed:.0f} s, "
              f"{len(replayed)} probes: events replayed after {_percentiles(replayed)}; "
              f"tracking view on the replica after {_percentiles(viewed)}")
    assert sorted(replayed)[max(int(len(replayed) * 0.99) - 1, 0)] < 2000
