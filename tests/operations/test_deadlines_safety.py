"""`deadlines run` cannot do damage by accident: a dry run, no --now in the future without
--force-future, disposals at the hold's end (TT-2), a stale view is an error, an empty
store has nothing to do."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from interfaces.cli import main
from projections.hold_expiry import HoldExpiryTimer, dispose_expired_holds
from tests.integration.projection_support import app, catch_up, view, view_env  # noqa: F401
from tests.operations.support import DAY, held_parcel

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def cli(view_env, monkeypatch):
    for key, value in view_env.items():
        monkeypatch.setenv(key, value)
    return CliRunner()


def test_tt2_disposal_is_recorded_at_the_hold_end_not_at_the_run(view_env, app):
    held, hold_until = held_parcel(app, "late", T0)
    catch_up(view_env, app, ("deadlines",))
    report = dispose_expired_holds(app, view(view_env, "deadlines"), hold_until + 5 * DAY)
    assert report.disposed == [str(held)]
    last = app.get_parcel_history(held)[-1]
    assert (last.type, last.occurred_at, last.data.get("rule")) == ("Destroyed", hold_until, "TT-2")


def test_tt2_in_process_timer_records_the_hold_end(view_env, app):
    held, hold_until = held_parcel(app, "timer", T0)
    catch_up(view_env, app, ("deadlines",))
    timer = HoldExpiryTimer(app, view(view_env, "deadlines"), interval=0.05,
                            clock=lambda: hold_until + 200 * DAY).start()
    try:
        for _ in range(200):
            if app.get_parcel(held).status == "destroyed":
                break
            time.sleep(0.05)
    finally:
        timer.stop()
    assert app.get_parcel_history(held)[-1].occurred_at == hold_until


def test_tt2_dry_run_says_what_it_would_do_and_records_nothing(view_env, app, cli):
    held, hold_until = held_parcel(app, "dry", T0)
    head = app.recorder.max_notification_id()
    out = cli.invoke(main, ["deadlines", "run", "--catch-up", "--dry-run", "--now",
                            (hold_until + DAY).isoformat()])
    assert out.exit_code == 0, out.output
    assert f"would destroy {held} (hold ended {hold_until.isoformat()})" in out.output
    assert "dry run: 1 would be disposed" in out.output
    assert app.recorder.max_notification_id() == head
    assert app.get_parcel(held).status == "held_at_warehouse"


def test_tt2_dry_run_asks_the_parcel_and_names_its_refusal(view_env, app):
    held, hold_until = held_parcel(app, "dry-redo", T0)
    catch_up(view_env, app, ("deadlines",))
    app.request_redelivery(held, hold_until - DAY)  # the view has not seen it yet
    head = app.recorder.max_notification_id()
    report = dispose_expired_holds(app, view(view_env, "deadlines"), hold_until + DAY,
                                   dry_run=True)
    assert report.disposed == [] and list(report.skipped) == [str(held)]
    assert "redeliver" in report.skipped[str(held)].lower()
    assert app.recorder.max_notification_id() == head


def test_now_ahead_of_the_clock_is_refused_without_force_future(view_env, app, cli):
    start = datetime.now(UTC) - 10 * DAY  # the hold ends in about 9 days
    held, hold_until = held_parcel(app, "future", start)
    catch_up(view_env, app, ("deadlines",))
    future = (hold_until + DAY).isoformat()
    refused = cli.invoke(main, ["deadlines", "run", "--now", future])
    assert refused.exit_code == 2, refused.output
    assert "ahead of the clock" in refused.output and "--force-future" in refused.output
    assert app.get_parcel(held).status == "held_at_warehouse"
    dry = cli.invoke(main, ["deadlines", "run", "--now", future, "--dry-run"])  # harmless
    assert dry.exit_code == 0 and f"would destroy {held}" in dry.output, dry.output
    assert app.get_parcel(held).status == "held_at_warehouse"
    forced = cli.invoke(main, ["deadlines", "run", "--now", future, "--force-future"])
    assert forced.exit_code == 0, forced.output
    # Forced or not, a disposal is recorded at the hold's end, which is still ahead: RL-3
    # refuses a business time in the future, so nothing is destroyed before its time.
    assert f"skipped {held}" in forced.output and "(RL-3)" in forced.output
    assert app.get_parcel(held).status == "held_at_warehouse"


def test_now_within_the_tolerance_is_accepted(view_env, app, cli):
    soon = datetime.now(UTC).replace(microsecond=0) + DAY / 24 / 60  # one minute ahead
    out = cli.invoke(main, ["deadlines", "run", "--now", soon.isoformat()])
    assert out.exit_code == 0, out.output


def test_a_stale_view_makes_the_run_fail(view_env, app, cli):
    held_parcel(app, "stale", T0)  # no runner applies it to the deadlines view
    out = cli.invoke(main, ["deadlines", "run", "--wait", "0.3", "--now",
                            (T0 + 60 * DAY).isoformat()])
    assert out.exit_code == 3, out.output
    assert "stale" in out.output and "deadlines view is at 0 of" in out.output


def test_an_empty_store_has_nothing_to_do(view_env, app, cli):
    for extra in ([], ["--catch-up"]):
        started = time.monotonic()
        out = cli.invoke(main, ["deadlines", "run", "--wait", "5", *extra])
        assert out.exit_code == 0, (extra, out.output, out.exception)
        assert "nothing to do: the event store has no events" in out.output
        assert time.monotonic() - started < 4
