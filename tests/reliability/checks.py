"""After the faults: what the store holds against what was acknowledged; views against a rebuild."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from application.ledger import ReturnsLedger
from domain.parcel import parcel_id
from infrastructure.view_store import ViewRecorder
from projections.base import APPLICATION_NAME
from projections.runners import VIEWS, close_runner, open_view, projection_env, start_runner
from tests.reliability.load import Walk, expected_types, lifecycle


def stored_types(ledger: ReturnsLedger, tracking: str) -> list[tuple[int, str]]:
    """(version, event type) of every event stored for the parcel, in order."""
    events = ledger.events.get(parcel_id("tiktok_shop", tracking))
    return [(e.originator_version, type(e).__name__) for e in events]


def exactly_once(ledger: ReturnsLedger, walks: list[Walk], seller: str) -> dict[str, Any]:
    """Each acknowledged step's events exist exactly once, at the version that was answered.

    A step the client gave up on may have happened (its answer lost) or not, but only once.
    """
    problems, found, duplicates = [], 0, 0
    for walk in walks:
        stored = stored_types(ledger, walk.tracking)
        found += len(stored)
        types = [t for _, t in stored]
        expected = expected_types(walk, seller)
        allowed = [expected]
        if walk.gave_up:
            more = Walk(walk.tracking, acks=[*walk.acks, (walk.gave_up, 0)])
            allowed.append(expected_types(more, seller))
        if types not in allowed:
            problems.append((walk.tracking, expected, types))
            duplicates += max(0, len(types) - len(allowed[-1]))
        versions = dict(stored)
        steps = {name: kinds for name, _, _, kinds in lifecycle(seller, walk.tracking)}
        for step, version in walk.acks:
            if versions.get(version) != steps[step][-1]:
                problems.append((walk.tracking, step, version, versions.get(version)))
    return {"problems": problems, "events_found": found, "duplicates": duplicates}


def positions(env: Mapping[str, str]) -> dict[str, int]:
    """{view: the last notification id it applied}."""
    full = projection_env({**env, "CREATE_TABLE": "no"})  # read only: no DDL beside a runner
    out = {}
    for name in VIEWS:
        view = open_view(name, full)
        try:
            out[name] = view.max_tracking_id(APPLICATION_NAME) or 0  # type: ignore[attr-defined]
        finally:
            view.datastore.close()  # type: ignore[attr-defined]
    return out


def wait_caught_up(env: Mapping[str, str], head: int, timeout: float = 60) -> dict[str, int]:
    """Wait until every view has applied the notification log up to `head`."""
    deadline = time.monotonic() + timeout
    while min((seen := positions(env)).values()) < head:
        if time.monotonic() > deadline:
            raise TimeoutError(f"views did not reach {head}: {seen}")
        time.sleep(0.5)
    return seen


def dump(view: ViewRecorder) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of a view, in a stable order."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with view.reading() as tx:  # type: ignore[attr-defined]
        for table in view.tables:
            rows = tx.all(f"SELECT * FROM {{p}}{table}")
            out[table] = sorted((tuple(sorted(r.items())) for r in rows), key=repr)
    return out


def dump_views(env: Mapping[str, str]) -> dict[str, Any]:
    full = projection_env({**env, "CREATE_TABLE": "no"})  # read only: no DDL beside a runner
    out = {}
    for name in VIEWS:
        view = open_view(name, full)
        try:
            out[name] = dump(view)
        finally:
            view.datastore.close()  # type: ignore[attr-defined]
    return out


def rebuilt_views(env: Mapping[str, str], head: int, schema: str) -> dict[str, Any]:
    """The views built from scratch, in another schema, from the whole notification log."""
    fresh = projection_env({**env, "VIEWS_POSTGRES_SCHEMA": schema})
    for name in VIEWS:
        runner = start_runner(name, fresh)
        try:
            runner.wait(head, timeout=120)
        finally:
            error = close_runner(runner)
        if error is not None:
            raise error
    return dump_views(fresh)
