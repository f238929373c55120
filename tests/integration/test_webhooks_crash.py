"""`returns-ledger webhooks run` in real processes: one active at a time (a second waits and
says so), and SIGKILL mid-delivery loses nothing and repeats only what was in flight, with
the same webhook-id; on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from application.ledger import ReturnsLedger
from application.webhooks import WebhookEndpoints
from domain.money import Money
from domain.values import Line
from projections.webhooks import SEND_CHUNK
from tests.integration.projection_support import drop_pg_schema
from tests.integration.webhook_support import Received, Receiver

PARCELS = 40
CONCURRENCY = 4


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen(
        [sys.executable, "-c", "from interfaces.cli import main; main()", "webhooks", "run"],
        env={**os.environ, **env}, stdout=handle, stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parents[2])


def _wait(predicate, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _slow(receiver: Receiver, request: Received) -> tuple[int, dict[str, str], bytes]:
    time.sleep(0.15)  # keeps deliveries in flight when the dispatcher is killed
    return 200, {}, b""


def test_sigkill_mid_delivery_loses_nothing_and_a_second_dispatcher_takes_over(
        store_env, tmp_path):
    env = {**store_env, "WEBHOOK_ALLOW_LOOPBACK": "yes",
           "WEBHOOK_CONCURRENCY": str(CONCURRENCY), "WEBHOOK_IN_PROCESS": "no"}
    if env["PERSISTENCE_MODULE"] == "eventsourcing.postgres":
        env["VIEWS_POSTGRES_SCHEMA"] = f"{env['POSTGRES_SCHEMA']}_views"
    receiver = Receiver(_slow).start()
    ledger = ReturnsLedger(env)
    first: subprocess.Popen[bytes] | None = None
    second: subprocess.Popen[bytes] | None = None
    try:
        WebhookEndpoints(ledger).create(
            seller_id="s1", url=receiver.url, types=["ParcelRegistered"], description=None,
            enabled=True, occurred_at=datetime.now(UTC), actor="test")
        expected = set()
        for n in range(PARCELS):
            result = ledger.register_parcel(
                platform="tiktok_shop", site="MY", seller_id="s1", order_id=f"O-{n}",
                order_created_at=datetime(2026, 3, 1, tzinfo=UTC), tracking_number=f"TTK{n}",
                lines=[Line("SKU", 1, Money.of("10.00", "MYR"))],
                amount_paid=Money.of("10.00", "MYR"), occurred_at=datetime.now(UTC))
            expected.add(f"msg_{result.position}")
        first = _start(env, tmp_path / "first.log")
        _wait(lambda: "webhook dispatcher active" in (tmp_path / "first.log").read_text(),
              what="the first dispatcher")
        second = _start(env, tmp_path / "second.log")
        _wait(lambda: "another webhook dispatcher is active" in
              (tmp_path / "second.log").read_text(), what="the second to say it waits")
        _wait(lambda: len(receiver.received) >= 10, what="some deliveries")
        first.send_signal(signal.SIGKILL)  # mid-delivery: requests are being answered
        first.wait(10)
        before_kill = {r.webhook_id for r in receiver.received}
        _wait(lambda: "webhook dispatcher active" in (tmp_path / "second.log").read_text(),
              what="the second to take over")
        _wait(lambda: {r.webhook_id for r in receiver.received} >= expected, timeout=60,
              what="every delivery")
        time.sleep(0.5)
        counts = Counter(r.webhook_id for r in receiver.received)
        assert set(counts) == expected  # nothing lost, nothing else sent
        repeated = {i for i, n in counts.items() if n > 1}
        assert all(n <= 2 for n in counts.values())
        # Only what was in flight at the kill is sent again, with its webhook-id.
        assert repeated <= before_kill and len(repeated) <= CONCURRENCY * SEND_CHUNK
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
        receiver.stop()
        ledger.close()
        if "VIEWS_POSTGRES_SCHEMA" in env:
            drop_pg_schema(env["VIEWS_POSTGRES_SCHEMA"])
    assert second.returncode == 0, (tmp_path / "second.log").read_text()


@pytest.mark.postgres
def test_a_dispatcher_whose_lock_session_is_gone_stops_and_waits_for_the_lock(pg_schema):
    """PostgreSQL lets an advisory lock go with its session (a restarted server, a killed
    backend): the dispatcher that held it stops sending, and waits like a second one."""
    import psycopg

    from application.settings import Settings
    from projections.webhooks import Dispatcher
    from tests.conftest import TEST_PERSONAL_DATA_KEY, _pg_connect

    env = {**pg_schema, "PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY,
           "VIEWS_POSTGRES_SCHEMA": f"{pg_schema['POSTGRES_SCHEMA']}_views"}
    said: dict[str, list[str]] = {"a": [], "b": []}
    a = Dispatcher(Settings.from_env(env), say=said["a"].append).start()
    b: Dispatcher | None = None
    try:
        _wait(a.active.is_set, what="the first dispatcher")
        b = Dispatcher(Settings.from_env(env), say=said["b"].append).start()
        _wait(lambda: any("another webhook dispatcher" in s for s in said["b"]),
              what="the second to say it waits")
        assert not b.active.is_set()
        assert isinstance(a._lock._conn, psycopg.Connection)
        with _pg_connect() as admin:
            admin.execute("SELECT pg_terminate_backend(%s)",
                          (a._lock._conn.info.backend_pid,))
        _wait(b.active.is_set, what="the second to take the lock")
        _wait(lambda: not a.active.is_set(), timeout=10, what="the first to stop")
        _wait(lambda: any("another webhook dispatcher" in s for s in said["a"]),
              what="the first to say it waits now")
        assert b.active.is_set() and not a.active.is_set()
    finally:
        a.stop()
        if b is not None:
            b.stop()
        drop_pg_schema(env["VIEWS_POSTGRES_SCHEMA"])
