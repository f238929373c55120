"""Queries from a real PostgreSQL streaming replica, commands on the primary, and
`min_position` waiting for the replica's replay: against a primary and a replica this test
makes itself on loopback (tests/operations/replication.py). Skipped loudly when they cannot
be made here; in CI (CI=true) it must run."""

from __future__ import annotations

import base64
import os
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime

import pytest

from application.ledger import ReturnsLedger
from interfaces.api import create_app
from interfaces.api.replica import EXTENSION
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
    init = ReturnsLedger({**env, "CREATE_TABLE": "yes"})
    token = init.issue_api_key("admin", None, T0, "replica test").token
    init.close()
    app = create_app({"TESTING": True})
    try:
        yield app, token, primary, replica
    finally:
        app.extensions[EXTENSION].close()
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

    with replica.connect() as conn:  # the replica stops replaying
        conn.execute("SELECT pg_wal_replay_pause()")
    try:
        failed = _fail(client, token, parcel)  # commands still work: they use the primary
        assert failed["status"] == "delivery_failed"
        stale = client.get(f"/v1/parcels/{parcel}", headers=auth)  # no min_position: replica
        assert stale.status_code == 200 and stale.get_json()["status"] == "registered"
        started = time.monotonic()
        behind = client.get(f"/v1/parcels/{parcel}?min_position={failed['position']}",
                            headers=auth)
        waited = time.monotonic() - started
        assert behind.status_code == 503, behind.get_json()
        assert behind.get_json()["type"].endswith("replica-behind")
        assert behind.headers["Retry-After"] == "1" and 1.9 <= waited < 10
        history = client.get(f"/v1/parcels/{parcel}/history?min_position="
                             f"{failed['position']}", headers=auth)
        assert history.status_code == 503

        answers = {}

        def read() -> None:
            answers["late"] = client.get(
                f"/v1/parcels/{parcel}/history?min_position={failed['position']}",
                headers=auth)

        reader = threading.Thread(target=read)
        reader.start()
        time.sleep(0.5)
    finally:
        with replica.connect() as conn:
            conn.execute("SELECT pg_wal_replay_resume()")
    reader.join(timeout=10)
    late = answers["late"]  # waited for the replay, then answered
    assert late.status_code == 200, late.get_json()
    assert [e["type"] for e in late.get_json()["events"]][-1] == "DeliveryFailed"


def test_replica_lag_under_command_load(replica_app, capsys):
    """Figures for docs/OPERATIONS.md: the bench's command workload (register, fail the
    delivery, route: bench/commands.py) from two threads on the primary, and a probe every
    20 ms timing how long the replica takes to replay the primary's last position."""
    from bench.commands import parcel_steps, prepare_ledger

    app, token, primary, replica = replica_app
    reads = app.extensions[EXTENSION]
    writer = ReturnsLedger(app.extensions["returns_ledger_settings"])
    prepare_ledger(writer)
    stop, done, lags = threading.Event(), [0], []

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
            lags.append((time.monotonic() - seen) * 1000)
            time.sleep(0.02)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        writer.close()
    elapsed = time.monotonic() - started
    lags.sort()
    p50, p99 = statistics.median(lags), lags[max(int(len(lags) * 0.99) - 1, 0)]
    with capsys.disabled():
        print(f"\nreplica lag under {done[0] / elapsed:.0f} commands/s for {elapsed:.0f} s: "
              f"{len(lags)} probes, replayed after p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
              f"max {lags[-1]:.1f} ms")
    assert p99 < 2000
