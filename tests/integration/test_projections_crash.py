"""A runner process killed mid catch-up resumes: nothing missed, nothing applied twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from application.ledger import ReturnsLedger
from domain.money import Money
from domain.parcel import ReturnParcel
from domain.values import Line
from tests.integration.projection_support import (  # noqa: F401 - fixtures
    DAY,
    T0,
    app,
    catch_up,
    drop_pg_schema,
    dump,
    view,
    view_env,
)

PARCELS = 1700  # six events each: 10,200 events
EVENTS_PER_PARCEL = 6
CLI = str(Path(sys.executable).with_name("returns-ledger"))
CRASH_VIEWS = ("tracking", "deadlines")


def write_parcels(ledger: ReturnsLedger, count: int, per_save: int = 250) -> None:
    """Many held parcels, many per save, so ten thousand events are written in seconds."""
    policy = ledger.policies.for_platform("tiktok_shop")
    for start in range(0, count, per_save):
        parcels = []
        for i in range(start, min(count, start + per_save)):
            parcel = ReturnParcel.register(
                platform="tiktok_shop", site="TH", seller_id=f"seller-{i % 7}",
                order_id=f"CR-{i}", order_created_at=T0, tracking_number=f"CR{i:06d}",
                lines=[Line("SKU-1", 1, Money.of("10.00", "THB"))],
                amount_paid=Money.of("10.00", "THB"), policy=policy, occurred_at=T0 + DAY)
            parcel.record_delivery_attempt("not at home", policy, T0 + 2 * DAY)
            parcel.record_delivery_attempt("not at home", policy, T0 + 3 * DAY)
            parcel.record_delivery_failure("refused", policy, T0 + 4 * DAY)
            parcel.route_return(policy.route(parcel.facts(), [], T0 + 5 * DAY), T0 + 5 * DAY)
            parcels.append(parcel)
        ledger.save(*parcels)


def start_project(env: dict[str, str], batch_size: int) -> subprocess.Popen[bytes]:
    """`returns-ledger project` for two views, as its own process."""
    full = {**os.environ, **env, "PROJECTION_BATCH_SIZE": str(batch_size)}
    command = [CLI, "project", *(arg for name in CRASH_VIEWS for arg in ("--view", name))]
    return subprocess.Popen(command, env=full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def positions(views: dict[str, Any]) -> dict[str, int]:
    return {name: v.max_tracking_id("ReturnsLedger") or 0 for name, v in views.items()}


def wait_until(done: Callable[[], bool], process: subprocess.Popen[bytes],
               timeout: float, pause: float) -> None:
    """Poll until done(); on timeout or if the runner process died, fail with its output."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            output = process.communicate()[0].decode(errors="replace")
            pytest.fail(f"runner did not get there (exit {process.returncode}):\n{output}")
        time.sleep(pause)


@pytest.mark.slow
def test_runner_killed_mid_catch_up_resumes_exactly_once(view_env, app, tmp_path):
    write_parcels(app, PARCELS)
    head = app.recorder.max_notification_id()
    assert head >= 10_000
    views = {name: view(view_env, name) for name in CRASH_VIEWS}
    process = start_project(view_env, batch_size=50)  # small batches: many commits to cut
    wait_until(lambda: positions(views)["tracking"] > 0, process, 30, 0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = positions(views)
    assert 0 < killed_at["tracking"] < head  # killed while catching up

    process = start_project(view_env, batch_size=1000)
    wait_until(lambda: min(positions(views).values()) >= head, process, 45, 0.1)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0, process.communicate()[0]

    resumed = {name: dump(v) for name, v in views.items()}
    assert len(resumed["tracking"]["tracking_checkpoints"]) == PARCELS * EVENTS_PER_PARCEL
    fresh = dict(view_env)
    if fresh["PERSISTENCE_MODULE"] == "eventsourcing.postgres":
        fresh["VIEWS_POSTGRES_SCHEMA"] = f"{view_env['VIEWS_POSTGRES_SCHEMA']}_fresh"
    else:
        fresh["VIEWS_SQLITE_DBNAME"] = str(tmp_path / "fresh-views.sqlite3")
    try:
        catch_up(fresh, app, CRASH_VIEWS)
        for name in CRASH_VIEWS:
            rebuilt = view(fresh, name)
            assert dump(rebuilt) == resumed[name], name
            rebuilt.datastore.close()
    finally:
        for v in views.values():
            v.datastore.close()
        if fresh["PERSISTENCE_MODULE"] == "eventsourcing.postgres":
            drop_pg_schema(fresh["VIEWS_POSTGRES_SCHEMA"])
