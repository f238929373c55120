"""Events stored before a change still load: topics are stable, old versions are upcast."""

from __future__ import annotations

from typing import Any

from eventsourcing.application import project_aggregate
from eventsourcing.persistence import StoredEvent

from application.dto import ParcelView
from tests.integration.rules.conftest import DAY, T0, failed_tiktok_parcel, tiktok_address


def stored(ledger: Any, parcel: Any) -> list[StoredEvent]:
    return list(ledger.recorder.select_events(parcel))


def as_version_1(ledger: Any, record: StoredEvent, drop: tuple[str, ...]) -> StoredEvent:
    """The record as an older ledger wrote it: without the fields added since."""
    mapper = ledger.mapper
    assert mapper.cipher is None and mapper.compressor is None  # the tests' plain store
    state = mapper.transcoder.decode(record.state)
    for name in (*drop, "class_version"):
        state.pop(name, None)
    return StoredEvent(record.originator_id, record.originator_version, record.topic,
                       mapper.transcoder.encode(state))


def test_every_stored_parcel_event_carries_its_topic_under_the_aggregate(ledger) -> None:
    tiktok_address(ledger, registered_at=T0 - 30 * DAY)
    parcel = failed_tiktok_parcel(ledger)
    ledger.route_return(parcel, T0 + 6 * DAY)
    ledger.record_return_failure(parcel, "carrier", T0 + 8 * DAY)
    ledger.open_investigation(parcel, "failed_return", T0 + 9 * DAY)
    topics = [r.topic for r in stored(ledger, parcel)]
    assert topics == [f"domain.parcel:ReturnParcel.{name}" for name in (
        "ParcelRegistered", "DeliveryFailed", "ReturnRouted", "ReturnFailed",
        "InvestigationOpened")]


def test_tt5_an_investigation_resolved_stored_without_kind_and_rule_still_loads(ledger) -> None:
    tiktok_address(ledger, registered_at=T0 - 30 * DAY)
    parcel = failed_tiktok_parcel(ledger)
    ledger.route_return(parcel, T0 + 6 * DAY)
    ledger.record_return_failure(parcel, "carrier", T0 + 8 * DAY)
    ticket = ledger.open_investigation(parcel, "failed_return", T0 + 9 * DAY).extra[
        "investigation_id"]
    ledger.resolve_investigation(parcel, ticket, "lost", "provider", T0 + 10 * DAY)
    records = stored(ledger, parcel)
    assert records[-1].topic == "domain.parcel:ReturnParcel.InvestigationResolved"
    old = [*records[:-1], as_version_1(ledger, records[-1], ("kind", "rule"))]
    events = [ledger.mapper.to_domain_event(r) for r in old]
    resolved = events[-1]
    assert (resolved.kind, resolved.rule) == ("failed_return", "TT-5")
    assert ParcelView.of(project_aggregate(None, events)) == ledger.get_parcel(parcel)


def test_tt3_decisions_stored_without_rules_still_load_with_their_rule(ledger) -> None:
    tiktok_address(ledger, registered_at=T0 - 30 * DAY)
    parcel = failed_tiktok_parcel(ledger)
    ledger.route_return(parcel, T0 + 6 * DAY)
    records = stored(ledger, parcel)
    old = [as_version_1(ledger, r, ("rules",)) for r in records]
    events = [ledger.mapper.to_domain_event(r) for r in old]
    routed, failed = events[2], events[1]
    assert (routed.rule, routed.rules) == ("TT-3", ["TT-3"])
    assert (failed.rule, failed.rules) == (None, [])
    assert ParcelView.of(project_aggregate(None, events)) == ledger.get_parcel(parcel)


def test_lz3_cd3_creations_cite_their_rules_and_old_ones_still_load(ledger) -> None:
    from domain.messages import BuyerQuestion
    from domain.order import Order

    order = ledger.create_order(platform="lazada", site="MY", seller_id="s1",
                                order_id="LZ-OLD", created_at=T0).id
    question = ledger.ask_question(platform="cdiscount", seller_id="s1", question_id="Q-OLD",
                                   kind="product", asked_at=T0, language="fr").id
    for aggregate, rule in ((order, "LZ-3"), (question, "CD-3")):
        created = ledger.get_parcel_history(aggregate)[0]
        assert (created.data["rule"], created.data["rules"]) == (rule, [rule])
        (record,) = stored(ledger, aggregate)
        old = ledger.mapper.to_domain_event(as_version_1(ledger, record, ("rules",)))
        assert (old.rule, old.rules) == (rule, [rule])
    order_events = [ledger.mapper.to_domain_event(as_version_1(ledger, r, ("rules",)))
                    for r in stored(ledger, order)]
    assert isinstance(project_aggregate(None, order_events), Order)
    question_events = [ledger.mapper.to_domain_event(as_version_1(ledger, r, ("rules",)))
                       for r in stored(ledger, question)]
    assert isinstance(project_aggregate(None, question_events), BuyerQuestion)
