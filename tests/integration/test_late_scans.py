"""TT-7: scans recorded out of order; the aggregate and the deadlines view agree."""

from __future__ import annotations

from domain.money import Money
from domain.values import Line
from tests.integration.projection_support import (  # noqa: F401 - fixtures
    ADDRESS,
    DAY,
    T0,
    app,
    catch_up,
    view,
    view_env,
)


def test_tt7_expected_back_by_agrees_between_aggregate_and_view_after_a_late_scan(view_env, app):
    app.register_return_address(seller_id="seller-late", platform="tiktok_shop", country="MY",
                                address=ADDRESS, effective_from=T0 - 30 * DAY,
                                occurred_at=T0 - 30 * DAY)
    parcel = app.register_parcel(
        platform="tiktok_shop", site="MY", seller_id="seller-late", order_id="ORDER-late",
        order_created_at=T0, tracking_number="TN-late",
        lines=[Line("SKU-1", 1, Money.of("100.00", "MYR"))],
        amount_paid=Money.of("100.00", "MYR"), occurred_at=T0 + DAY).id
    app.record_delivery_attempt(parcel, "not at home", T0 + 5 * DAY)
    app.record_delivery_attempt(parcel, "closed shop", T0 + 3 * DAY)  # recorded late
    app.record_failed_delivery(parcel, "unreachable", T0 + 4 * DAY)
    app.route_return(parcel, T0 + 6 * DAY)
    state = app.get_parcel(parcel)
    assert state.expected_back_by == T0 + 5 * DAY + 15 * DAY
    catch_up(view_env, app, ("deadlines",))
    [row] = view(view_env, "deadlines").returns_in_transit()
    assert row["parcel_id"] == str(parcel)
    assert row["due_at"] == state.expected_back_by.isoformat()
    assert row["last_failed_at"] == (T0 + 5 * DAY).isoformat()
