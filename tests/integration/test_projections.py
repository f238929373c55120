"""The views on SQLite and PostgreSQL, fed by the application's scenarios."""

from __future__ import annotations

from decimal import Decimal

import pytest
from eventsourcing.projection import ProjectionRunner

from demo.scenarios import SCENARIOS
from domain.money import Money
from domain.values import RefundComponent
from projections.runners import (
    BatchingProjectionRunner,
    close_runner,
    projection_env,
    start_runner,
)
from projections.service import ViewStores, rebuild
from projections.tracking import ParcelQuery
from tests.integration.projection_support import (  # noqa: F401 - fixtures
    DAY,
    T0,
    app,
    catch_up,
    dump,
    tt_parcel,
    view,
    view_env,
)


def test_tracking_view_mirrors_each_scenario(view_env, app):
    parcels = {name: scenario(app, "-v") for name, scenario in SCENARIOS.items()}
    catch_up(view_env, app)
    tracking = view(view_env, "tracking")
    for parcel_id in parcels.values():
        state, row = app.get_parcel(parcel_id), tracking.get(str(parcel_id))
        history = app.get_parcel_history(parcel_id)
        assert (row["status"], row["version"]) == (state.status, state.version)
        assert [p["type"] for p in row["timeline"]] == [e.type for e in history]
        assert row["last_event_type"] == history[-1].type
        assert row["timeline"][-1]["occurred_at"] == history[-1].occurred_at.isoformat()
    held = tracking.get(str(parcels["tiktok_shop_hold"]))
    assert (held["destination"], held["hold_until"]) == (
        "provider_warehouse", (T0 + 5 * DAY + 14 * DAY).isoformat())  # TT-2
    assert tracking.get(str(parcels["tiktok_shop"]))["free_return"] == "received"  # TT-3


def test_tracking_view_filters_and_pages(view_env, app):
    for scenario in SCENARIOS.values():
        scenario(app, "-q")
    catch_up(view_env, app, ("tracking",))
    tracking = view(view_env, "tracking")
    seen, cursor = [], None
    while True:
        page, cursor = tracking.find(ParcelQuery(limit=2, cursor=cursor))
        seen += [row["tracking_number"] for row in page]
        if cursor is None:
            break
    assert sorted(seen) == sorted(set(seen)) and len(seen) == len(SCENARIOS)
    by = lambda **kw: [r["tracking_number"] for r in tracking.find(ParcelQuery(**kw))[0]]  # noqa: E731
    assert by(seller_id="seller-am-q") == ["AMDE0001-q"]
    assert by(platform="tiktok_shop", site="TH") == ["TTTH0002-q"]
    assert by(status="destroyed") == ["TTTH0002-q"]
    assert sorted(by(tracking_numbers=("CDFR0001-q", "LZPH0001-q", "NOPE"))) == [
        "CDFR0001-q", "LZPH0001-q"]
    assert sorted(by(registered_from=T0 + DAY, registered_to=T0 + 2 * DAY)) == [
        "LZPH0001-q", "TTMY0001-q", "TTTH0002-q"]
    assert by(sellers=("seller-cd-q",)) == ["CDFR0001-q"]
    assert by(sellers=()) == []


def test_tt3_tt5_free_return_failed_by_the_seller_is_on_the_seller(view_env, app):
    used = tt_parcel(app, "fr1")
    app.receive(used, T0 + 12 * DAY)
    failed = tt_parcel(app, "fr2")
    app.record_return_failure(failed, "seller_unreachable", T0 + 13 * DAY)
    in_transit = tt_parcel(app, "fr3")
    never = tt_parcel(app, "fr4", eligible_address=False)
    catch_up(view_env, app)
    free = view(view_env, "free_return")
    rows = {r["parcel_id"]: r for r in free.list()}
    assert set(rows) == {str(used), str(failed), str(in_transit)}
    assert rows[str(used)]["outcome"] == "received"
    assert (rows[str(failed)]["outcome"], rows[str(failed)]["liability"]) == ("failed", "seller")
    assert rows[str(in_transit)]["outcome"] == "in_transit"
    assert rows[str(used)]["address_id"] and rows[str(used)]["used_at"] == (
        T0 + 5 * DAY).isoformat()
    assert free.get(str(never)) == {"parcel_id": str(never), "used": False}
    assert {(t["seller_id"], t["used"], t["failed"], t["seller_liable"])
            for t in free.totals()} == {("seller-fr1", 1, 0, 0), ("seller-fr2", 1, 1, 1),
                                        ("seller-fr3", 1, 0, 0)}
    liabilities = view(view_env, "liabilities").list()
    assert [(r["parcel_id"], r["party"], r["amount"], r["basis"]) for r in liabilities] == [
        (str(failed), "seller", {"amount": "100.00", "currency": "MYR"}, "goods_value")]


def test_liabilities_after_disposal_and_investigation(view_env, app):
    held = tt_parcel(app, "lb1", site="TH", eligible_address=False, price="450.50")
    app.dispose(held, "destroyed", T0 + 19 * DAY)
    other = tt_parcel(app, "lb2", site="TH", eligible_address=False, price="0.25")
    app.dispose(other, "abandoned", T0 + 20 * DAY)
    failed = tt_parcel(app, "lb3")
    app.record_return_failure(failed, "carrier", T0 + 13 * DAY)
    ticket = app.open_investigation(failed, "failed_return", T0 + 14 * DAY).extra[
        "investigation_id"]
    app.resolve_investigation(failed, ticket, "lost by carrier", "provider", T0 + 20 * DAY)
    catch_up(view_env, app)
    liabilities = view(view_env, "liabilities")
    rows = {r["parcel_id"]: r for r in liabilities.list()}
    assert (rows[str(held)]["party"], rows[str(held)]["amount"], rows[str(held)]["basis"]) == (
        "seller", {"amount": "450.50", "currency": "THB"}, "loss")
    assert rows[str(other)]["event_type"] == "Abandoned"
    assert (rows[str(failed)]["party"], rows[str(failed)]["rule"]) == ("provider", "TT-5")
    totals = {(t["seller_id"], t["party"]): t["amount"] for t in liabilities.totals()}
    assert totals[("seller-lb1", "seller")] == {"amount": "450.50", "currency": "THB"}
    assert Decimal(totals[("seller-lb3", "provider")]["amount"]) == Decimal("100.00")
    assert view(view_env, "deadlines").open_investigations() == []


def test_deadlines_view_holds_overdue_returns_approvals_tickets(view_env, app):
    held = tt_parcel(app, "dl1", site="TH", eligible_address=False)
    returning = tt_parcel(app, "dl2")
    claimed = tt_parcel(app, "dl3")
    ticket = app.open_investigation(claimed, "false_return", T0 + 25 * DAY).extra[
        "investigation_id"]
    refund = tt_parcel(app, "dl4", price="3000.00")
    app.receive(refund, T0 + 10 * DAY)
    app.request_refund(refund, "REF-BIG", [RefundComponent("item", Money.of("3000.00", "MYR"))],
                       T0 + 11 * DAY, actor="clerk")  # above the MYR 2500 AM-4 threshold
    catch_up(view_env, app)
    deadlines = view(view_env, "deadlines")
    assert [(h["parcel_id"], h["hold_until"]) for h in deadlines.holds()] == [
        (str(held), (T0 + 19 * DAY).isoformat())]  # TT-2: 14 days from routing
    assert deadlines.holds(expired_at=T0 + 19 * DAY - DAY / 1_000_000) == []
    due = T0 + 4 * DAY + 15 * DAY  # TT-7: 15 days after the last failure (day 4)
    transit = {r["parcel_id"]: r["due_at"] for r in deadlines.returns_in_transit()}
    assert transit[str(returning)] == due.isoformat()
    assert deadlines.overdue_returns(due) == []
    assert {r["parcel_id"] for r in deadlines.overdue_returns(due + DAY)} == {
        str(returning), str(claimed)}
    assert [(i["parcel_id"], i["investigation_id"], i["rule"])
            for i in deadlines.open_investigations()] == [(str(claimed), ticket, "TT-6")]
    assert [(r["parcel_id"], r["reference"], r["amount"], r["requested_by"])
            for r in deadlines.pending_refunds()] == [
        (str(refund), "REF-BIG", {"amount": "3000.00", "currency": "MYR"}, "clerk")]  # AM-4


def test_am4_refund_waiting_for_approval_leaves_when_approved(view_env, app):
    parcel = SCENARIOS["amazon"](app, "-am4")
    catch_up(view_env, app, ("deadlines",))
    assert view(view_env, "deadlines").pending_refunds() == []
    history = [e.type for e in app.get_parcel_history(parcel)]
    assert "RefundApproved" in history  # the scenario's large refund went through AM-4


def test_read_your_writes_waits_for_the_position(view_env, app):
    tt_parcel(app, "ryw")
    stores = ViewStores(view_env)
    try:
        head = app.recorder.max_notification_id()
        assert not stores.caught_up("tracking", head, timeout=0.3)
        catch_up(view_env, app, ("tracking",))
        assert stores.caught_up("tracking", head, timeout=0.3)
        assert stores.positions()["tracking"] == (head, 0)
        assert stores.positions()["liabilities"] == (0, head)
    finally:
        stores.close()


def test_rebuild_replays_to_the_same_view(view_env, app):
    for scenario in SCENARIOS.values():
        scenario(app, "-rb")
    catch_up(view_env, app)
    before = {name: dump(view(view_env, name)) for name in ("tracking", "deadlines")}
    steps: list[tuple[int, int]] = []
    for name in before:
        assert rebuild(name, view_env, progress=lambda p, t: steps.append((p, t))) == \
            app.recorder.max_notification_id()
        assert dump(view(view_env, name)) == before[name]
    assert steps[-1][0] == steps[-1][1]


@pytest.mark.parametrize("batch", [False, True], ids=["per_event", "batched"])
def test_each_event_is_applied_once_per_event_or_batched(view_env, app, batch):
    for scenario in SCENARIOS.values():
        scenario(app, "-once")
    head = app.recorder.max_notification_id()
    runner_class = BatchingProjectionRunner if batch else ProjectionRunner
    runner = start_runner("tracking", projection_env(view_env), runner_class)
    runner.wait(head, timeout=30)
    assert close_runner(runner) is None
    rows = dump(view(view_env, "tracking"))
    versions = [dict(r)["version"] for r in rows["tracking_parcels"]]
    assert len(rows["tracking_checkpoints"]) == sum(versions)  # one checkpoint per event
    assert view(view_env, "tracking").max_tracking_id("ReturnsLedger") == head


def _varied_lifecycles(app) -> None:
    """Every scenario, plus what the views hold and merge within a batch: a free return
    in transit, received, failed and then investigated, a hold ended by redelivery and
    held again, parcels destroyed and abandoned, a large refund waiting for approval."""
    for scenario in SCENARIOS.values():
        scenario(app, "-eq")
    tt_parcel(app, "eq0")  # stays in transit: its return deadline stays in the view
    app.receive(tt_parcel(app, "eq1"), T0 + 12 * DAY)
    failed = tt_parcel(app, "eq2")
    app.record_return_failure(failed, "carrier", T0 + 13 * DAY)
    ticket = app.open_investigation(failed, "failed_return", T0 + 14 * DAY).extra[
        "investigation_id"]
    app.resolve_investigation(failed, ticket, "lost by carrier", "provider", T0 + 20 * DAY)
    held = tt_parcel(app, "eq3", site="TH", eligible_address=False)
    app.request_redelivery(held, T0 + 7 * DAY)
    app.record_failed_delivery(held, "unreachable", T0 + 9 * DAY)
    app.route_return(held, T0 + 10 * DAY)  # held again, with a later deadline
    app.dispose(tt_parcel(app, "eq4", site="TH", eligible_address=False), "destroyed",
                T0 + 19 * DAY)
    app.dispose(tt_parcel(app, "eq5", site="TH", eligible_address=False), "abandoned",
                T0 + 20 * DAY)
    big = tt_parcel(app, "eq6", price="3000.00")
    app.receive(big, T0 + 10 * DAY)
    app.request_refund(big, "REF-EQ", [RefundComponent("item", Money.of("3000.00", "MYR"))],
                       T0 + 11 * DAY, actor="clerk")


@pytest.mark.parametrize("batch_size", [1000, 2, 3, 4, 5])
def test_every_view_batched_equals_the_view_built_event_by_event(view_env, app, batch_size):
    """A batch holds writes to its end (a parcel's row is written once per batch with what
    its events in the batch made of it; later events merge into a held row): the rows must
    come out as the library's one-event-per-transaction runner makes them, whether a
    parcel's events share a batch (1000) or fall on both sides of batch ends (2 to 5)."""
    from projections.runners import VIEWS, open_view

    _varied_lifecycles(app)
    head = app.recorder.max_notification_id()
    env = {**projection_env(view_env), "PROJECTION_BATCH_SIZE": str(batch_size)}
    for name in VIEWS:
        built = {}
        for kind, runner_class in (("per_event", ProjectionRunner),
                                   ("batched", BatchingProjectionRunner)):
            recorder = open_view(name, env)
            recorder.drop()
            recorder.datastore.close()
            runner = start_runner(name, env, runner_class)
            runner.wait(head, timeout=30)
            assert close_runner(runner) is None
            built[kind] = dump(view(view_env, name))
        assert built["batched"] == built["per_event"], name
        assert sum(len(rows) for rows in built["batched"].values()) > 0, name
