"""Events stored before a change still load: topics are stable, old versions are upcast."""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.application import project_aggregate
from eventsourcing.persistence import StoredEvent

from application.audit.verification import LedgerAudit
from application.dto import ParcelView
from domain.api_key import person_actor
from domain.errors import RuleViolationError
from tests.integration.audit_tampering import StoreTamperer, edited
from tests.integration.rules.conftest import (
    DAY,
    T0,
    eur,
    failed_tiktok_parcel,
    item,
    register,
    tiktok_address,
)


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


def _waiting_refund(ledger: Any, actor: str) -> Any:
    """R-BIG, 900 EUR of a 1000 EUR parcel: above the AM-4 threshold, it waits."""
    parcel = register(ledger, "tiktok_shop", currency="EUR", price="1000.00")
    ledger.request_refund(parcel, "R-BIG", [item(eur("900.00"))], T0 + 2 * DAY, actor=actor)
    return parcel


def test_am4_refunds_stored_with_a_persons_actor_alone_still_load_and_compare_the_person(
        ledger) -> None:
    """Before the acting key was recorded, an owned key's events said `person:<owner>`
    alone: the same event stored that way loads, and none of that person's keys may
    approve it (AM-4); another person's key may."""
    parcel = _waiting_refund(ledger, person_actor("clerk", "k-1"))
    records = stored(ledger, parcel)
    assert records[-1].topic == "domain.parcel:ReturnParcel.RefundRequested"
    state = ledger.mapper.transcoder.decode(records[-1].state)
    assert state["actor"] == "person:clerk/key:k-1"  # the key is in the stored bytes
    state["actor"] = "person:clerk"
    old = StoredEvent(records[-1].originator_id, records[-1].originator_version,
                      records[-1].topic, ledger.mapper.transcoder.encode(state))
    events = [ledger.mapper.to_domain_event(r) for r in [*records[:-1], old]]
    loaded = project_aggregate(None, events)
    assert loaded.refunds["R-BIG"].requested_by == "person:clerk"
    for own in (person_actor("clerk", "k-2"), person_actor("clerk")):
        with pytest.raises(RuleViolationError) as refused:
            loaded.approve_refund("R-BIG", T0 + 3 * DAY, actor=own)
        assert refused.value.rule == "AM-4"
    approved = loaded.approve_refund("R-BIG", T0 + 3 * DAY, actor=person_actor("lead", "k-3"))
    assert approved.status == "issued"


def test_the_acting_key_is_in_the_hash_chain(ledger, ledger_env) -> None:
    """Changing which key asked for a refund (same person, another key id) breaks the
    chain at the next event, and the ledger digest taken before no longer verifies."""
    parcel = _waiting_refund(ledger, person_actor("clerk", "k-1"))
    asked = len(stored(ledger, parcel))
    ledger.approve_refund(parcel, "R-BIG", T0 + 3 * DAY, actor=person_actor("lead", "k-3"))
    taken = LedgerAudit(ledger).digest()
    tamper = StoreTamperer(ledger_env)
    assert LedgerAudit(ledger).verify_parcel(parcel).ok
    tamper.update_state(parcel, asked, edited(tamper.state(parcel, asked),
                                              actor=person_actor("clerk", "k-2")))
    breach = LedgerAudit(ledger).verify_parcel(parcel).breach
    assert breach is not None and (breach.reason, breach.version) == ("hash_mismatch",
                                                                      asked + 1)
    assert not LedgerAudit(ledger).verify_all(taken.token).ok
