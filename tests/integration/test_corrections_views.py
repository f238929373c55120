"""RL-2 in the views: a voided parcel leaves every view, a corrected field is shown."""

from __future__ import annotations

from projections.base import CORRECTED_COLUMNS
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


def test_rl2_a_corrected_order_store_or_site_is_what_every_view_shows(view_env, app):
    """Every view row that carries a corrected field shows the new value: the refunds
    view's order id is what finance reconciles against the platform's settlement."""
    from domain.money import Money
    from domain.values import Line, RefundComponent
    from tests.integration.projection_support import ADDRESS

    refunded = tt_parcel(app, "fix", site="MY")  # a free return: free_returns has a row
    app.request_refund(refunded, "R-FIX", [RefundComponent("item", Money.of("5.00", "MYR"))],
                       T0 + 6 * DAY)
    app.register_return_address(seller_id="seller-lz", platform="lazada", country="MY",
                                address=ADDRESS, effective_from=T0 - 30 * DAY,
                                occurred_at=T0 - 30 * DAY)
    customs = app.register_parcel(  # routed without customs data: on the LZ-2 work list
        platform="lazada", site="MY", seller_id="seller-lz", order_id="LZ-WRONG",
        order_created_at=T0, tracking_number="LZ-FIX",
        lines=[Line("SKU-NO-PROFILE", 1, Money.of("50.00", "MYR"))],
        amount_paid=Money.of("50.00", "MYR"), occurred_at=T0 + DAY).id
    app.record_failed_delivery(customs, "refused", T0 + 4 * DAY)
    app.route_return(customs, T0 + 5 * DAY)
    catch_up(view_env, app)
    for field, value in (("order_id", "ORDER-RIGHT"), ("store_id", "store-right"),
                         ("site", "SG")):
        app.correct_parcel(refunded, field, value, "typed wrongly", T0 + 7 * DAY)
    app.correct_parcel(customs, "order_id", "LZ-RIGHT", "typed wrongly", T0 + 7 * DAY)
    catch_up(view_env, app)
    expected = {str(refunded): {"order_id": "ORDER-RIGHT", "store_id": "store-right",
                                "site": "SG"},
                str(customs): {"order_id": "LZ-RIGHT", "site": "MY"}}
    seen: dict[str, set[str]] = {str(refunded): set(), str(customs): set()}
    for name in VIEWS:
        for table, rows in dump(view(view_env, name)).items():
            for row in rows:
                columns = dict(row)
                parcel = columns.get("parcel_id")
                if parcel not in expected:
                    continue
                for column, value in expected[parcel].items():
                    if column in columns:
                        assert columns[column] == value, (name, table, column, columns)
                        seen[parcel].add(f"{table}.{column}")
    kept = {f"{table}.{column}" for column, tables in CORRECTED_COLUMNS.items()
            for table in tables}
    assert seen[str(refunded)] | seen[str(customs)] == kept  # every table, each checked
    assert "customs_worklist.order_id" in seen[str(customs)]
