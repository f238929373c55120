"""A cached parcel's copy is independent of it, though it shares immutable values."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from domain.money import Money
from domain.parcel import ReturnParcel
from domain.policies import Policies, PolicySettings
from domain.values import Line, RefundComponent

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _parcel() -> tuple[ReturnParcel, object]:
    policy = Policies(PolicySettings()).for_platform("cdiscount")
    parcel = ReturnParcel.register(
        platform="cdiscount", site="FR", seller_id="s1", order_id="o1", order_created_at=T0,
        tracking_number="CD1", lines=[Line("SKU", 1, Money.of("39.00", "EUR"))],
        amount_paid=Money.of("39.00", "EUR"), shipping_paid=Money.of("4.90", "EUR"),
        store_id=None, tracked_shipping=True, tracking_url="https://t.example/CD1",
        ready_to_ship_at=None, policy=policy, occurred_at=T0, actor="t")
    parcel.record_delivery(T0 + timedelta(days=2))
    return parcel, policy


def test_copy_has_the_same_state_and_shares_immutable_values() -> None:
    parcel, _ = _parcel()
    clone = copy.deepcopy(parcel)
    assert vars(clone).keys() == vars(parcel).keys()
    assert clone.version == parcel.version and clone.status is parcel.status
    assert clone.amount_paid is parcel.amount_paid  # frozen Money: shared, not copied
    assert clone.lines == parcel.lines and clone.lines is not parcel.lines
    assert clone.refunds is not parcel.refunds


def test_command_on_the_copy_leaves_the_original_unchanged() -> None:
    parcel, policy = _parcel()
    parcel.collect_events()
    clone = copy.deepcopy(parcel)
    clone.request_return("defective", True, T0 + timedelta(days=3))
    clone.route_return(policy.route(clone.facts(), [], T0 + timedelta(days=3), None),
                       T0 + timedelta(days=3))
    clone.request_refund("R1", [RefundComponent("item", Money.of("39.00", "EUR")),
                                RefundComponent("shipping", Money.of("4.90", "EUR"))],
                         policy, T0 + timedelta(days=4))
    assert [r.reference for r in clone.refunds] == ["R1"]
    assert list(parcel.refunds) == []
    assert parcel.version == 2 and not parcel.pending_events
    assert clone.version > parcel.version


def test_a_copy_of_a_parcel_with_refunds_and_investigations_changes_alone() -> None:
    """The refund book and the investigations (dicts of dicts) are copied to the bottom;
    only dicts of immutable values are copied flat."""
    parcel, policy = _parcel()
    parcel.request_return("defective", True, T0 + timedelta(days=3))
    parcel.route_return(policy.route(parcel.facts(), [], T0 + timedelta(days=3), None),
                        T0 + timedelta(days=3))
    parcel.request_refund("R1", [RefundComponent("item", Money.of("39.00", "EUR")),
                                 RefundComponent("shipping", Money.of("4.90", "EUR"))],
                          policy, T0 + timedelta(days=4))
    parcel.investigations["I1"] = {"status": "open"}
    status = parcel.refunds["R1"].status
    clone = copy.deepcopy(parcel)
    clone.refunds["R1"].status = "rejected"
    clone.refunds.refunds["R2"] = clone.refunds["R1"]
    clone.investigations["I1"]["status"] = "resolved"
    assert parcel.refunds["R1"].status == status and list(parcel.refunds.refunds) == ["R1"]
    assert parcel.investigations == {"I1": {"status": "open"}}
    parcel.__dict__["flat"] = {"a": "x", "b": 1}  # as an address's fields
    clone = copy.deepcopy(parcel)
    clone.flat["a"] = "y"
    assert parcel.flat == {"a": "x", "b": 1}
