"""Replay a parcel as the ledger knew it: at a recorded moment, a version, or a business time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from application.ledger import ReturnsLedger
from demo.scenarios import SCENARIOS
from domain.errors import ParcelNotFoundError
from domain.money import Money
from domain.values import Line

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _register(ledger: ReturnsLedger) -> UUID:
    return ledger.register_parcel(
        platform="tiktok_shop", site="TH", seller_id="seller-th", order_id="O-1",
        order_created_at=T0, tracking_number="TTTH-LATE-1",
        lines=[Line("SKU-LAMP", 1, Money.of("450.00", "THB"))],
        amount_paid=Money.of("450.00", "THB"), occurred_at=T0 + DAY).id


def test_as_of_a_recorded_moment_replays_what_the_ledger_knew_then(ledger) -> None:
    parcel = _register(ledger)
    ledger.record_delivery_attempt(parcel, "not at home", T0 + 2 * DAY)
    between = datetime.now(UTC)
    ledger.record_failed_delivery(parcel, "refused", T0 + 4 * DAY)
    ledger.route_return(parcel, T0 + 5 * DAY)

    then = ledger.get_parcel_history(parcel, recorded_before=between)
    assert [e.type for e in then] == ["ParcelRegistered", "DeliveryAttemptFailed"]
    assert then.state.status == "registered" and then.state.version == 2
    assert then.state.attempts == 1
    now = ledger.get_parcel_history(parcel)
    assert [e.type for e in now][2:] == ["DeliveryFailed", "ReturnRouted", "HeldAtWarehouse"]
    assert now.state == ledger.get_parcel(parcel)
    # As of the exact recording time of an event, that event is included.
    exact = ledger.get_parcel_history(parcel, recorded_before=now[2].recorded_at)
    assert [e.version for e in exact] == [1, 2, 3]


def test_as_of_a_version_shows_the_state_at_that_version(ledger) -> None:
    parcel = SCENARIOS["tiktok_shop"](ledger, "")
    at_six = ledger.get_parcel_history(parcel, version=6)
    assert [e.version for e in at_six] == [1, 2, 3, 4, 5, 6]
    assert at_six.state == ledger.get_parcel(parcel, version=6)
    routed = at_six[-1]
    assert routed.type == "ReturnRouted"
    assert routed.data["rule"] == "TT-3"  # the free return, decided on TT-1's facts
    assert routed.data["facts"]["address_id"]


def test_before_the_parcel_was_known_there_is_no_state(ledger) -> None:
    before = datetime.now(UTC)
    parcel = _register(ledger)
    history = ledger.get_parcel_history(parcel, recorded_before=before - timedelta(seconds=1))
    assert list(history) == [] and history.state is None


def test_unknown_parcel_is_not_found(ledger) -> None:
    with pytest.raises(ParcelNotFoundError):
        ledger.get_parcel_history(UUID(int=7))


def test_tt7_late_carrier_scan_is_flagged_with_where_it_was_recorded(ledger) -> None:
    parcel = _register(ledger)
    ledger.record_delivery_attempt(parcel, "not at home", T0 + 3 * DAY)
    # The carrier's scan of an earlier attempt reaches the ledger afterwards.
    ledger.record_delivery_attempt(parcel, "shop closed", T0 + 2 * DAY)
    history = ledger.get_parcel_history(parcel)
    late = history[2]
    assert late.late == {"recorded_as_version": 3, "recorded_at": late.recorded_at.isoformat(),
                         "recorded_after_version": 2, "occurred_before_version": 2,
                         "occurred_before_type": "DeliveryAttemptFailed"}
    assert history.late_recorded == [late]
    assert history[1].late is None


def test_business_time_view_orders_by_occurred_at_and_cuts_there(ledger) -> None:
    parcel = _register(ledger)
    ledger.record_delivery_attempt(parcel, "not at home", T0 + 3 * DAY)
    ledger.record_delivery_attempt(parcel, "shop closed", T0 + 2 * DAY)  # late scan
    ledger.record_failed_delivery(parcel, "refused", T0 + 4 * DAY)

    everything = ledger.get_parcel_history(parcel, occurred_before=T0 + 10 * DAY)
    assert everything.view == "business"
    assert [e.version for e in everything] == [1, 3, 2, 4]  # in the order they happened

    by_day_two = ledger.get_parcel_history(parcel, occurred_before=T0 + 2 * DAY)
    assert [e.version for e in by_day_two] == [1, 3]
    assert by_day_two[1].late is not None  # still flagged: recorded after v2
    # The state applies what had happened by then (renumbered: one attempt known).
    assert by_day_two.state.status == "registered"
    assert by_day_two.state.attempts == 2 and by_day_two.state.version == 2


def test_business_time_and_recorded_time_combine(ledger) -> None:
    parcel = _register(ledger)
    ledger.record_delivery_attempt(parcel, "not at home", T0 + 3 * DAY)
    known = datetime.now(UTC)
    ledger.record_delivery_attempt(parcel, "shop closed", T0 + 2 * DAY)
    # What the ledger knew at `known` about what had happened by day 3: no late scan yet.
    view = ledger.get_parcel_history(parcel, recorded_before=known,
                                     occurred_before=T0 + 3 * DAY)
    assert [e.version for e in view] == [1, 2]
    assert all(e.late is None for e in view)
