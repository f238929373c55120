"""`make demo`'s store: every platform over the days asked for, nothing in the future, and
nothing left for the hold-expiry timer to destroy (the fill disposed of ended holds itself,
at their end)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from uuid import UUID

from demo.fill import fill
from projections.hold_expiry import dispose_expired_holds
from tests.integration.projection_support import app, catch_up, view, view_env  # noqa: F401


def test_demo_fill_spans_platforms_and_days_and_leaves_the_timer_nothing(view_env, app):
    if view_env["PERSISTENCE_MODULE"] != "eventsourcing.sqlite":
        return  # one store is enough: the fill only calls the ledger's commands
    now = datetime.now(UTC)
    report = fill(app, now, days=20, per_day=1, run="t")
    assert set(report.parcels) == {"tiktok_shop MY", "tiktok_shop TH", "lazada", "amazon",
                                   "cdiscount"}
    assert all(count == 20 for count in report.parcels.values())
    statuses, platforms = Counter(), Counter()
    tracking = view(view_env, "tracking")
    catch_up(view_env, app)
    with tracking.reading() as tx:
        rows = tx.all("SELECT parcel_id, status, platform FROM {p}tracking_parcels")
    for row in rows:
        statuses[row["status"]] += 1
        platforms[row["platform"]] += 1
    assert set(platforms) == {"tiktok_shop", "lazada", "amazon", "cdiscount"}
    # old stories ended, recent ones are under way
    assert {"closed", "destroyed", "held_at_warehouse", "received"} <= set(statuses)
    for row in rows:
        for entry in app.get_parcel_history(UUID(row["parcel_id"])):
            assert entry.occurred_at <= now, (row, entry)
    left = dispose_expired_holds(app, view(view_env, "deadlines"), now, dry_run=True)
    assert left.disposed == []
