"""One full lifecycle per platform, on the in-memory store, SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from application.ledger import ReturnsLedger
from demo.scenarios import SCENARIOS

EXPECTED = {
    "tiktok_shop": ("closed", "0.00 MYR", ["ParcelRegistered", "DeliveryAttemptFailed",
                                            "DeliveryAttemptFailed", "DeliveryAttemptFailed",
                                            "DeliveryFailed", "ReturnRouted", "Received",
                                            "Inspected", "ParcelClosed"]),
    "tiktok_shop_hold": ("destroyed", "0.00 THB", ["ParcelRegistered", "DeliveryFailed",
                                                   "ReturnRouted", "HeldAtWarehouse",
                                                   "Destroyed"]),
    "lazada": ("received", "0.00 PHP", ["ParcelRegistered", "DeliveryFailed", "ReturnRouted",
                                        "Received"]),
    "amazon": ("received", "906.50 EUR", ["ParcelRegistered", "Delivered", "ReturnRequested",
                                          "ReturnRouted", "ReturnLabelIssued", "Received",
                                          "Inspected", "RefundRequested", "RefundApproved",
                                          "RefundIssued"]),
    "cdiscount": ("closed", "43.90 EUR", ["ParcelRegistered", "Delivered", "ReturnRequested",
                                          "ReturnRouted", "RefundRequested", "RefundIssued",
                                          "ParcelClosed"]),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_full_lifecycle_per_platform(any_store_env, name) -> None:
    ledger = ReturnsLedger(any_store_env)
    parcel_id = SCENARIOS[name](ledger, "")
    status, refunded, types = EXPECTED[name]
    state = ledger.get_parcel(parcel_id)
    assert state.status == status
    assert str(state.refunded_total) == refunded
    history = ledger.get_parcel_history(parcel_id)
    assert [e.type for e in history] == types
    assert [e.version for e in history] == list(range(1, len(types) + 1))
    if any_store_env["PERSISTENCE_MODULE"] == "eventsourcing.popo":
        # In memory there is no second process: the state is rebuilt from the events.
        assert ledger.get_parcel(parcel_id, version=state.version) == state
        ledger.close()
        return
    ledger.close()

    # A second application on the same store rebuilds the same state from the events.
    again = ReturnsLedger(any_store_env)
    assert again.get_parcel(parcel_id) == state
    again.close()
