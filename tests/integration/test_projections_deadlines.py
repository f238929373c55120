"""TT-2 hold expiry with an injected clock: exactly at 14 days, once, never after TT-4 routing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner

from interfaces.cli import main
from projections.hold_expiry import HoldExpiryTimer, dispose_expired_holds
from tests.integration.projection_support import (  # noqa: F401 - fixtures
    DAY,
    T0,
    app,
    catch_up,
    tt_parcel,
    view,
    view_env,
)

HOLD_UNTIL = T0 + 5 * DAY + 14 * DAY  # routed on day 5, held 14 days (TT-2)
MICROSECOND = timedelta(microseconds=1)


def test_tt2_hold_expires_exactly_at_14_days(view_env, app):
    held = tt_parcel(app, "exp", site="TH", eligible_address=False)
    catch_up(view_env, app, ("deadlines",))
    deadlines = view(view_env, "deadlines")
    early = dispose_expired_holds(app, deadlines, HOLD_UNTIL - MICROSECOND)
    assert (early.disposed, early.skipped) == ([], {})
    on_time = dispose_expired_holds(app, deadlines, HOLD_UNTIL)
    assert on_time.disposed == [str(held)]
    last = app.get_parcel_history(held)[-1]
    assert (last.type, last.occurred_at, last.actor) == ("Destroyed", HOLD_UNTIL, "deadlines")
    assert app.get_parcel(held).status == "destroyed"


def test_tt2_expiry_is_idempotent_even_when_the_view_lags(view_env, app):
    held = tt_parcel(app, "idem", site="TH", eligible_address=False)
    catch_up(view_env, app, ("deadlines",))
    deadlines = view(view_env, "deadlines")
    later = HOLD_UNTIL + DAY
    assert dispose_expired_holds(app, deadlines, later).disposed == [str(held)]
    version = app.get_parcel(held).version
    again = dispose_expired_holds(app, deadlines, later)  # the view has not seen it yet
    assert again.disposed == [] and list(again.skipped) == [str(held)]
    assert app.get_parcel(held).version == version
    catch_up(view_env, app, ("deadlines",))
    assert deadlines.holds() == []
    assert dispose_expired_holds(app, deadlines, later + DAY).skipped == {}


def test_tt2_redelivery_inside_the_hold_is_not_disposed(view_env, app):
    held = tt_parcel(app, "redo", site="TH", eligible_address=False)
    app.request_redelivery(held, HOLD_UNTIL - DAY)
    catch_up(view_env, app, ("deadlines",))
    report = dispose_expired_holds(app, view(view_env, "deadlines"), HOLD_UNTIL + DAY)
    assert (report.disposed, report.skipped) == ([], {})
    assert app.get_parcel(held).status == "redelivering"


def test_tt4_parcel_returning_to_the_seller_is_never_disposed(view_env, app):
    from domain.errors import RuleViolationError

    returning = tt_parcel(app, "tt4")
    with pytest.raises(RuleViolationError) as refused:
        app.request_redelivery(returning, T0 + 6 * DAY)
    assert refused.value.rule == "TT-4"
    catch_up(view_env, app, ("deadlines",))
    deadlines = view(view_env, "deadlines")
    assert deadlines.holds() == []
    assert dispose_expired_holds(app, deadlines, T0 + 60 * DAY).disposed == []
    assert app.get_parcel(returning).status == "returning_to_seller"


def test_tt2_expiry_timer_runs_on_the_injected_clock(view_env, app):
    held = tt_parcel(app, "timer", site="TH", eligible_address=False)
    catch_up(view_env, app, ("deadlines",))
    timer = HoldExpiryTimer(app, view(view_env, "deadlines"), interval=0.05,
                            clock=lambda: HOLD_UNTIL).start()
    try:
        for _ in range(100):
            if app.get_parcel(held).status == "destroyed":
                break
            timer._stopping.wait(0.05)
    finally:
        timer.stop()
    assert app.get_parcel(held).status == "destroyed"


def test_tt2_deadlines_run_command(view_env, app, monkeypatch):
    held = tt_parcel(app, "cli", site="TH", eligible_address=False)
    for key, value in view_env.items():
        monkeypatch.setenv(key, value)
    cli = CliRunner()
    early = cli.invoke(main, ["deadlines", "run", "--catch-up", "--now",
                              (HOLD_UNTIL - DAY).isoformat()])
    assert early.exit_code == 0, early.output
    assert "0 disposed" in early.output
    bad = cli.invoke(main, ["deadlines", "run", "--now", "2026-03-30T00:00:00"])
    assert bad.exit_code == 2 and "time zone" in bad.output
    done = cli.invoke(main, ["deadlines", "run", "--catch-up", "--now", HOLD_UNTIL.isoformat()])
    assert done.exit_code == 0, done.output
    assert f"destroyed {held}" in done.output


def test_one_process_per_sqlite_view_store_runs_the_embedded_views(view_env, app):
    from projections.embedded import EmbeddedProjections

    if view_env["PERSISTENCE_MODULE"] != "eventsourcing.sqlite":
        first = EmbeddedProjections(app, view_env).start()  # PROJECTIONS_IN_PROCESS decides
        assert first.active
        first.stop()
        return
    first = EmbeddedProjections(app, view_env).start()
    second = EmbeddedProjections(app, view_env).start()  # e.g. a second gunicorn worker
    try:
        assert (first.active, second.active) == (True, False)
        first.stop()
        third = EmbeddedProjections(app, view_env).start()
        assert third.active
        third.stop()
    finally:
        first.stop()
        second.stop()


def test_tt7_return_window_setting_reaches_the_deadlines_view(view_env) -> None:
    """POLICY_RETURN_WINDOW_DAYS was ignored by the view, which used the default 15 days."""
    from application.ledger import ReturnsLedger
    from tests.integration.projection_support import catch_up, tt_parcel, view

    env = {**view_env, "POLICY_RETURN_WINDOW_DAYS": "7"}
    ledger = ReturnsLedger(env)
    try:
        tt_parcel(ledger, "window")  # last failed attempt on T0 + 4 days
        catch_up(env, ledger, ("deadlines",))
        (row,) = view(env, "deadlines").returns_in_transit()
    finally:
        ledger.close()
    assert str(row["due_at"]).startswith("2026-03-13")  # T0 + 4 days + 7 days, not + 15
