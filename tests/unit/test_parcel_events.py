"""What the parcel's events say for themselves: status, goods value, investigation rule, topic.

Views derive from the events what the domain declares on them, so these tests pin the
declarations to what the aggregate does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from eventsourcing.utils import get_topic

from domain.money import Money
from domain.parcel import ReturnParcel
from domain.policies import AddressFacts, Policies
from domain.values import Status
from tests.unit.support import DAY, T0, parcel, policies

P = ReturnParcel
RULES = policies()
TIKTOK = RULES.for_platform("tiktok_shop")
MY_ADDRESS = AddressFacts("addr-1", "tiktok_shop", "MY", T0 - 30 * DAY, T0 - 30 * DAY, None,
                          "not_required", None)


def failed(addresses: list[AddressFacts]) -> ReturnParcel:
    p = parcel(RULES)
    p.record_delivery_attempt("not home", TIKTOK, T0 + 2 * DAY)
    p.record_delivery_failure("refused", TIKTOK, T0 + 3 * DAY)
    p.route_return(TIKTOK.route(p.facts(), addresses, T0 + 4 * DAY), T0 + 4 * DAY)
    return p


def held_redelivered_closed() -> ReturnParcel:
    p = failed([])
    p.request_redelivery(TIKTOK, T0 + 5 * DAY)
    p.record_delivery(T0 + 6 * DAY)
    p.close(T0 + 7 * DAY)
    return p


def held_destroyed() -> ReturnParcel:
    p = failed([])
    p.dispose("destroyed", TIKTOK, T0 + 30 * DAY)
    return p


def returned_received_closed() -> ReturnParcel:
    p = failed([MY_ADDRESS])
    p.issue_return_label("DHL", "RET-1", TIKTOK, T0 + 5 * DAY)
    p.receive(TIKTOK, T0 + 8 * DAY)
    p.inspect("resellable", T0 + 8 * DAY)
    p.close(T0 + 9 * DAY)
    return p


def return_failed_investigated_abandoned() -> ReturnParcel:
    p = failed([MY_ADDRESS])
    p.record_return_failure("carrier", TIKTOK, T0 + 6 * DAY)
    ticket = p.open_investigation("failed_return", T0 + 7 * DAY)
    p.resolve_investigation(ticket, "lost by the carrier", "provider", T0 + 8 * DAY)
    p.dispose("abandoned", TIKTOK, T0 + 9 * DAY)
    return p


def amazon_requested_returning() -> ReturnParcel:
    amazon = RULES.for_platform("amazon")
    p = parcel(RULES, "amazon", site="DE", currency="EUR", price="30.00")
    p.record_delivery(T0 + 2 * DAY)
    p.request_return("broken", True, T0 + 3 * DAY)
    p.route_return(amazon.route(p.facts(), [], T0 + 3 * DAY), T0 + 3 * DAY)
    return p


def cdiscount_refund_without_return(rules: Policies = RULES) -> ReturnParcel:
    cdiscount = rules.for_platform("cdiscount")
    p = parcel(rules, "cdiscount", site="FR", currency="EUR", price="39.00", shipping="4.90",
               tracking="CD-1", tracking_url="https://t.example/1")
    p.record_delivery(T0 + 2 * DAY)
    p.request_return("defective", True, T0 + 3 * DAY)
    p.route_return(cdiscount.route(p.facts(), [], T0 + 3 * DAY), T0 + 3 * DAY)
    return p


def registered_by_mistake_voided() -> ReturnParcel:
    p = parcel(RULES, "tiktok_shop")
    p.void("a test parcel", T0 + 2 * DAY)  # RL-2
    return p


FLOWS: dict[str, Callable[[], ReturnParcel]] = {
    "registered_by_mistake_voided": registered_by_mistake_voided,
    "held_redelivered_closed": held_redelivered_closed,
    "held_destroyed": held_destroyed,
    "returned_received_closed": returned_received_closed,
    "return_failed_investigated_abandoned": return_failed_investigated_abandoned,
    "amazon_requested_returning": amazon_requested_returning,
    "cdiscount_refund_without_return": cdiscount_refund_without_return,
}


def statuses_as_a_view_derives(events: list[Any]) -> list[Status | None]:
    derived: Status | None = None
    out = []
    for domain_event in events:
        derived = domain_event.status_after() or derived
        out.append(derived)
    return out


def statuses_of_the_aggregate(events: list[Any]) -> list[Status]:
    aggregate: Any = None
    out = []
    for domain_event in events:
        aggregate = domain_event.mutate(aggregate)
        out.append(aggregate.status)
    return out


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_each_event_declares_the_status_the_aggregate_moves_to(flow: str) -> None:
    """A transition added to the aggregate but not declared on its event fails here."""
    events = FLOWS[flow]().collect_events()
    assert statuses_as_a_view_derives(events) == statuses_of_the_aggregate(events)


def test_the_flows_reach_every_status() -> None:
    seen = {status for make in FLOWS.values()
            for status in statuses_of_the_aggregate(make().collect_events())}
    assert seen == set(Status)


def test_return_routed_leads_where_the_destination_says() -> None:
    held = failed([]).collect_events()
    returning = failed([MY_ADDRESS]).collect_events()
    keeps = cdiscount_refund_without_return().collect_events()
    routed = [next(e for e in events if isinstance(e, P.ReturnRouted))
              for events in (held, returning, keeps)]
    assert [e.status_after() for e in routed] == [
        Status.HELD, Status.RETURNING, Status.AWAITING_REFUND]


def test_the_registration_event_knows_the_goods_value() -> None:
    p = parcel(RULES, price="12.30")
    registered = p.collect_events()[0]
    assert isinstance(registered, P.ParcelRegistered)
    assert registered.goods_value() == p.goods_value == Money.of("12.30", "MYR")


@pytest.mark.parametrize(("flow", "kind", "rule"), [
    ("return_failed_investigated_abandoned", "failed_return", "TT-5")])
def test_tt5_a_resolved_investigation_names_its_kind_and_rule(flow: str, kind: str,
                                                              rule: str) -> None:
    resolved = [e for e in FLOWS[flow]().collect_events()
                if isinstance(e, P.InvestigationResolved)]
    assert [(e.kind, e.rule) for e in resolved] == [(kind, rule)]


def test_tt6_a_resolved_false_return_names_its_kind_and_rule() -> None:
    p = failed([MY_ADDRESS])
    claim = p.open_investigation("false_return", T0 + 30 * DAY)
    p.resolve_investigation(claim, "delivered after all", "seller", T0 + 31 * DAY)
    resolved = p.collect_events()[-1]
    assert isinstance(resolved, P.InvestigationResolved)
    assert (resolved.kind, resolved.rule) == ("false_return", "TT-6")


@pytest.mark.parametrize(("investigation_id", "kind", "rule"), [
    ("false_return-1", "false_return", "TT-6"), ("failed_return-2", "failed_return", "TT-5")])
def test_an_investigation_resolved_stored_before_kind_and_rule_is_upcast(
        investigation_id: str, kind: str, rule: str) -> None:
    state: dict[str, Any] = {"investigation_id": investigation_id, "outcome": "found",
                             "liability": "provider"}
    P.InvestigationResolved.upcast_v1_v2(state)
    assert (state["kind"], state["rule"]) == (kind, rule)
    P.InvestigationResolved.upcast_v2_v3(state)  # then it lists its rules, as decisions do
    assert state["rules"] == [rule]
    assert P.InvestigationResolved.class_version == 3


# The topics stored events carry: renaming or moving an event class breaks every store.
STORED_TOPICS = [f"domain.parcel:ReturnParcel.{name}" for name in (
    "ParcelRegistered", "DeliveryAttemptFailed", "DeliveryFailed", "Delivered",
    "ReturnRequested", "ReturnRouted", "HeldAtWarehouse", "RedeliveryRequested",
    "Redelivered", "ReturnLabelIssued", "ReturnFailed", "Received", "Inspected",
    "RefundRequested", "RefundApproved", "RefundIssued", "RefundRejected", "RefundFailed",
    "RefundReversed", "Destroyed", "Abandoned", "InvestigationOpened",
    "InvestigationResolved", "ParcelClosed",
    "ParcelVoided", "FieldCorrected", "BuyerContacted", "ReplacementAgreed")]  # RL-2, TT-8, AM-6


def test_every_event_keeps_the_topic_it_is_stored_under() -> None:
    emitted = {get_topic(type(e)) for make in FLOWS.values() for e in make().collect_events()}
    assert emitted <= set(STORED_TOPICS)
    for topic in STORED_TOPICS:
        name = topic.rsplit(".", 1)[1]
        assert get_topic(getattr(ReturnParcel, name)) == topic
