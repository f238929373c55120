"""RL-2 in the views: a voided parcel leaves every view, a corrected site is shown."""

from __future__ import annotations

from projections.runners import VIEWS
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


def _rows_of(env, parcel) -> dict[str, int]:
    found = {}
    for name in VIEWS:
        for table, rows in dump(view(env, name)).items():
            found[f"{name}.{table}"] = sum(1 for r in rows if ("parcel_id", str(parcel)) in r)
    return found


def test_rl2_a_voided_parcel_leaves_every_view(view_env, app):
    held = tt_parcel(app, "void", site="TH", eligible_address=False)  # in every view
    kept = tt_parcel(app, "kept", site="TH", eligible_address=False)
    catch_up(view_env, app)
    assert sum(_rows_of(view_env, held).values()) > 0
    app.void_parcel(held, "registered twice by the ERP", T0 + 6 * DAY)
    catch_up(view_env, app)
    assert sum(_rows_of(view_env, held).values()) == 0, _rows_of(view_env, held)
    assert [r["parcel_id"] for r in view(view_env, "deadlines").holds()] == [str(kept)]


def test_rl2_voided_in_the_same_batch_as_its_registration_leaves_no_row(view_env, app):
    from domain.money import Money
    from domain.values import Line

    parcel = app.register_parcel(
        platform="tiktok_shop", site="MY", seller_id="s1", order_id="O-BATCH",
        order_created_at=T0, tracking_number="T-BATCH",
        lines=[Line("SKU-1", 1, Money.of("10.00", "MYR"))],
        amount_paid=Money.of("10.00", "MYR"), occurred_at=T0 + DAY).id
    app.void_parcel(parcel, "test parcel", T0 + DAY)
    catch_up(view_env, app)
    assert sum(_rows_of(view_env, parcel).values()) == 0


def test_rl2_a_corrected_site_is_the_site_in_the_views(view_env, app):
    parcel = tt_parcel(app, "site", site="MY")
    app.correct_parcel(parcel, "site", "SG", "wrong site", T0 + 6 * DAY)
    catch_up(view_env, app)
    rows = [r for r in view(view_env, "deadlines").returns_in_transit()
            if r["parcel_id"] == str(parcel)]
    assert [r["site"] for r in rows] == ["SG"]
