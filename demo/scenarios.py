"""One full lifecycle per platform, through the application: the demo and the tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

from application.ledger import ReturnsLedger
from domain.money import Money
from domain.values import Line, RefundComponent, RefundComponentKind

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
ADDRESS = {"lines": ["No. 8, Jalan Example"], "city": "Kuala Lumpur", "postcode": "50000"}


def tiktok_shop(ledger: ReturnsLedger, suffix: str = "") -> UUID:
    """TT-1/TT-3: refused parcel, free return to the seller's overseas address, refund."""
    seller = f"seller-tt{suffix}"
    ledger.register_return_address(seller_id=seller, platform="tiktok_shop", country="MY",
                                   address=ADDRESS, effective_from=T0 - 30 * DAY,
                                   occurred_at=T0 - 30 * DAY)
    parcel = ledger.register_parcel(
        platform="tiktok_shop", site="MY", seller_id=seller, order_id=f"TT-ORDER-1{suffix}",
        order_created_at=T0, tracking_number=f"TTMY0001{suffix}",
        lines=[Line("SKU-MUG", 2, Money.of("19.90", "MYR"))],
        amount_paid=Money.of("39.80", "MYR"), occurred_at=T0 + DAY).id
    for attempt in (3, 4, 5):
        ledger.record_delivery_attempt(parcel, "buyer not at home", T0 + attempt * DAY)
    ledger.record_failed_delivery(parcel, "unreachable", T0 + 5 * DAY)
    ledger.route_return(parcel, T0 + 6 * DAY)
    ledger.receive(parcel, T0 + 15 * DAY, location="KL return warehouse")
    ledger.inspect(parcel, "resellable", T0 + 15 * DAY)
    ledger.close_parcel(parcel, T0 + 16 * DAY)
    return parcel


def tiktok_shop_hold(ledger: ReturnsLedger, suffix: str = "") -> UUID:
    """TT-2: no eligible address, 14-day hold at the provider, then destroyed."""
    parcel = ledger.register_parcel(
        platform="tiktok_shop", site="TH", seller_id=f"seller-th{suffix}",
        order_id=f"TT-ORDER-2{suffix}", order_created_at=T0,
        tracking_number=f"TTTH0002{suffix}", lines=[Line("SKU-LAMP", 1, Money.of("450.00", "THB"))],
        amount_paid=Money.of("450.00", "THB"), occurred_at=T0 + DAY).id
    ledger.record_failed_delivery(parcel, "refused", T0 + 4 * DAY)
    ledger.route_return(parcel, T0 + 5 * DAY)
    ledger.dispose(parcel, "destroyed", T0 + 19 * DAY)
    return parcel


def lazada(ledger: ReturnsLedger, suffix: str = "") -> UUID:
    """LZ-1/LZ-2: back to a verified CN address; customs data per SKU."""
    seller = f"seller-lz{suffix}"
    address = ledger.register_return_address(
        seller_id=seller, platform="lazada", country="CN", seller_country="CN",
        address={"lines": ["88 Example Road"], "city": "Shenzhen", "postcode": "518000"},
        effective_from=T0 - 10 * DAY, occurred_at=T0 - 10 * DAY)
    ledger.verify_real_name(address.id, {"name": "Recipient Name", "id_number": "ID-0001",
                                         "document_front": "doc-front-ref",
                                         "document_back": "doc-back-ref"}, T0 - 9 * DAY)
    ledger.set_customs_profile(seller_id=seller, sku="SKU-CASE", hs_code="420292",
                               declared_name_local="手机壳", declared_name_en="Phone case",
                               declared_value=Money.of("3.50", "USD"), material="silicone",
                               use="protects a phone", brand="NoBrand", occurred_at=T0 - DAY)
    parcel = ledger.register_parcel(
        platform="lazada", site="PH", seller_id=seller, order_id=f"LZ-ORDER-1{suffix}",
        order_created_at=T0, tracking_number=f"LZPH0001{suffix}",
        lines=[Line("SKU-CASE", 3, Money.of("150.00", "PHP"))],
        amount_paid=Money.of("450.00", "PHP"), ready_to_ship_at=T0 + DAY,
        occurred_at=T0 + DAY).id
    ledger.record_failed_delivery(parcel, "bad_address", T0 + 5 * DAY)
    ledger.route_return(parcel, T0 + 6 * DAY)
    ledger.receive(parcel, T0 + 20 * DAY, location="Shenzhen")
    return parcel


def amazon(ledger: ReturnsLedger, suffix: str = "") -> UUID:
    """AM-1..AM-4: return requested, label, received, inspected, large refund approved."""
    seller = f"seller-am{suffix}"
    parcel = ledger.register_parcel(
        platform="amazon", site="DE", seller_id=seller, order_id=f"AM-ORDER-1{suffix}",
        order_created_at=T0, tracking_number=f"AMDE0001{suffix}",
        lines=[Line("SKU-DRONE", 1, Money.of("899.00", "EUR"))],
        amount_paid=Money.of("899.00", "EUR"), shipping_paid=Money.of("5.99", "EUR"),
        occurred_at=T0).id
    ledger.record_delivery(parcel, T0 + 2 * DAY)
    ledger.request_return(parcel, "arrived damaged", seller_fault=True,
                          return_shipping_cost=Money.of("7.50", "EUR"), occurred_at=T0 + 5 * DAY)
    ledger.route_return(parcel, T0 + 5 * DAY)
    ledger.issue_return_label(parcel, "DHL", f"DHL-RET-1{suffix}", T0 + 5 * DAY)
    ledger.receive(parcel, T0 + 9 * DAY)
    ledger.inspect(parcel, "damaged", T0 + 9 * DAY)
    ledger.request_refund(parcel, f"AMZ-REF-1{suffix}", [
        RefundComponent(RefundComponentKind.ITEM, Money.of("899.00", "EUR")),
        RefundComponent(RefundComponentKind.RETURN_SHIPPING, Money.of("7.50", "EUR"))],
        T0 + 10 * DAY,
        actor="clerk")
    ledger.approve_refund(parcel, f"AMZ-REF-1{suffix}", T0 + 10 * DAY, actor="finance-lead")
    return parcel


def cdiscount(ledger: ReturnsLedger, suffix: str = "") -> UUID:
    """CD-2/CD-4: tracked parcel; defect, no French address: refund without return."""
    seller = f"seller-cd{suffix}"
    parcel = ledger.register_parcel(
        platform="cdiscount", site="FR", seller_id=seller, order_id=f"CD-ORDER-1{suffix}",
        order_created_at=T0, tracking_number=f"CDFR0001{suffix}",
        tracking_url="https://tracking.example/CDFR0001",
        lines=[Line("SKU-KETTLE", 1, Money.of("39.00", "EUR"))],
        amount_paid=Money.of("39.00", "EUR"), shipping_paid=Money.of("4.90", "EUR"),
        occurred_at=T0).id
    ledger.record_delivery(parcel, T0 + 3 * DAY)
    ledger.request_return(parcel, "defective", seller_fault=True, occurred_at=T0 + 6 * DAY)
    ledger.route_return(parcel, T0 + 6 * DAY)
    ledger.request_refund(parcel, f"CD-REF-1{suffix}", [
        RefundComponent(RefundComponentKind.ITEM, Money.of("39.00", "EUR")),
        RefundComponent(RefundComponentKind.SHIPPING, Money.of("4.90", "EUR"))], T0 + 7 * DAY)
    return parcel


SCENARIOS: dict[str, Callable[[ReturnsLedger, str], UUID]] = {
    "tiktok_shop": tiktok_shop,
    "tiktok_shop_hold": tiktok_shop_hold,
    "lazada": lazada,
    "amazon": amazon,
    "cdiscount": cdiscount,
}
