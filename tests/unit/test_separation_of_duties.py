"""Separation of duties on refunds (AM-3, AM-4), on the aggregate and the events it emits."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from domain.api_key import actor_key, actor_person, person_actor, person_of
from domain.errors import RuleViolationError
from domain.money import Money
from domain.parcel import ReturnParcel
from domain.refunds import is_person, same_person
from domain.values import RefundComponent
from tests.unit.support import DAY, T0, item, parcel, policies, replayed, types

P = ReturnParcel


def unreviewed_issued(events: list[Any]) -> Decimal:
    """Money that left without a second person's approval, counted from the events."""
    approved = {e.reference for e in events if isinstance(e, P.RefundApproved)}
    return sum((e.amount.amount for e in events
                if isinstance(e, P.RefundIssued) and e.reference not in approved), Decimal(0))


def test_am4_one_person_looping_issue_and_failure_leaves_at_most_the_threshold_unreviewed():
    """Threshold 100 MYR, 500.00 paid: eight times 'refund 90.00, then record it failed',
    all by one finance person, used to issue 720.00 without any review."""
    rules = policies(MYR="100")
    p = parcel(rules, price="500.00")
    policy = rules.for_platform("tiktok_shop")
    for i in range(8):
        at = T0 + (2 + i) * DAY
        try:
            p.request_refund(f"LOOP-{i}", item("90.00", "MYR"), policy, at, actor="alice")
            p.record_refund_failure(f"LOOP-{i}", "bounced", at, actor="alice")
        except RuleViolationError as refused:
            assert refused.rule in ("AM-3", "AM-4")
    events = p.collect_events()
    issued = [e for e in events if isinstance(e, P.RefundIssued)]
    assert unreviewed_issued(events) <= Decimal("100")
    assert sum(e.amount.amount for e in issued) <= Decimal("500.00")
    assert [e.reference for e in issued] == ["LOOP-0"]
    assert not [e for e in events if isinstance(e, P.RefundFailed)]


def test_am4_a_released_refund_still_counts_for_the_next_approval():
    rules = policies(MYR="100")
    p = parcel(rules, price="500.00")
    policy = rules.for_platform("tiktok_shop")
    p.request_refund("R-1", item("90.00", "MYR"), policy, T0 + 2 * DAY, actor="alice")
    p.record_refund_failure("R-1", "bounced", T0 + 3 * DAY, actor="bob")  # a second person
    second = p.request_refund("R-2", item("90.00", "MYR"), policy, T0 + 4 * DAY, actor="alice")
    assert second.status == "requested" and second.needs_approval
    requested = [e for e in p.collect_events() if isinstance(e, P.RefundRequested)]
    assert requested[-1].facts["refunds_before"] == "90.00"  # the failed R-1 counts
    assert requested[-1].rule == "AM-4"
    assert p.refunds.committed_total == Money.of("90.00", "MYR")  # AM-3: R-1 is free again


def test_am4_the_issuer_does_not_record_the_failure_or_reversal_of_their_refund():
    rules = policies()
    p = parcel(rules, price="500.00")
    policy = rules.for_platform("tiktok_shop")
    p.request_refund("R-1", item("50.00", "MYR"), policy, T0 + 2 * DAY, actor="alice")
    for command in (p.record_refund_failure, p.reverse_refund):
        with pytest.raises(RuleViolationError) as err:
            command("R-1", "bounced", T0 + 3 * DAY, actor="alice")
        assert err.value.rule == "AM-4" and err.value.facts["issued_by"] == "alice"
    p.reverse_refund("R-1", "charged back", T0 + 3 * DAY, actor="bob")
    assert p.refunds["R-1"].status == "reversed" and p.refunds["R-1"].released_by == "bob"


def test_am4_an_approved_refund_is_released_by_someone_other_than_its_approver():
    rules = policies(MYR="100")
    p = parcel(rules, price="500.00")
    policy = rules.for_platform("tiktok_shop")
    p.request_refund("R-1", item("200.00", "MYR"), policy, T0 + 2 * DAY, actor="alice")
    p.approve_refund("R-1", T0 + 3 * DAY, actor="bob")
    assert p.refunds["R-1"].issued_by == "bob"
    with pytest.raises(RuleViolationError):
        p.record_refund_failure("R-1", "bounced", T0 + 4 * DAY, actor="bob")
    p.record_refund_failure("R-1", "bounced", T0 + 4 * DAY, actor="carol")


@pytest.mark.parametrize("nobody", ["system", "unknown", "unowned", "unowned:5e1f", "",
                                    "deadlines", " System ", "system/key:k-1", "/key:k-1",
                                    "person:/key:k-1", "person:"])
def test_am4_an_actor_that_names_no_person_never_approves_nor_releases(nobody: str):
    assert not is_person(nobody)
    rules = policies(MYR="100")
    p = parcel(rules, price="500.00")
    policy = rules.for_platform("tiktok_shop")
    p.request_refund("R-1", item("200.00", "MYR"), policy, T0 + 2 * DAY, actor="alice")
    with pytest.raises(RuleViolationError) as err:
        p.approve_refund("R-1", T0 + 3 * DAY, actor=nobody)
    assert err.value.rule == "AM-4"
    p.request_refund("R-2", item("10.00", "MYR"), policy, T0 + 2 * DAY, actor="alice")
    p.approve_refund("R-1", T0 + 3 * DAY, actor="bob")
    with pytest.raises(RuleViolationError):
        p.record_refund_failure("R-1", "bounced", T0 + 4 * DAY, actor=nobody)


def test_am4_the_requester_never_approves_their_own_refund():
    rules = policies(MYR="100")
    p = parcel(rules, price="500.00")
    p.request_refund("R-1", item("200.00", "MYR"), rules.for_platform("tiktok_shop"),
                     T0 + 2 * DAY, actor="alice")
    with pytest.raises(RuleViolationError) as err:
        p.approve_refund("R-1", T0 + 3 * DAY, actor="alice")
    assert err.value.rule == "AM-4" and err.value.facts["requested_by"] == "alice"


# -- retries answer the same refund, in every state ---------------------------------------
def cd4_without_return(threshold: str | None = None) -> tuple[ReturnParcel, Any]:
    """A Cdiscount parcel whose seller offers a full refund without return (CD-4)."""
    rules = policies(EUR=threshold) if threshold else policies()
    policy = rules.for_platform("cdiscount")
    p = parcel(rules, "cdiscount", site="FR", currency="EUR", price="39.00", shipping="4.90",
               tracking="CD-1", tracking_url="https://t.example/1")
    p.record_delivery(T0 + 2 * DAY)
    p.request_return("defective", True, T0 + 3 * DAY)
    p.route_return(policy.route(p.facts(), [], T0 + 3 * DAY), T0 + 3 * DAY)
    assert p.status == "awaiting_refund"
    return p, policy


FULL = [RefundComponent("item", Money.of("39.00", "EUR")),
        RefundComponent("shipping", Money.of("4.90", "EUR"))]


def test_cd4_refund_retry_after_it_closed_the_parcel_is_the_same_refund():
    p, policy = cd4_without_return()
    first = p.request_refund("CD-R-1", FULL, policy, T0 + 4 * DAY, actor="alice")
    assert p.status == "closed"
    version = p.version
    again = p.request_refund("CD-R-1", list(reversed(FULL)), policy, T0 + 5 * DAY,
                             actor="alice")
    assert again is first and again.status == "issued" and p.version == version
    assert types(p.collect_events())[-3:] == ["RefundRequested", "RefundIssued",
                                              "ParcelClosed"]


def test_cd4_approval_and_release_retries_after_closure_are_the_same_refund():
    p, policy = cd4_without_return(threshold="10")
    p.request_refund("CD-R-1", FULL, policy, T0 + 4 * DAY, actor="alice")
    assert p.status == "awaiting_refund"  # waits for approval (AM-4)
    p.approve_refund("CD-R-1", T0 + 5 * DAY, actor="bob")
    assert p.status == "closed"
    version = p.version
    assert p.approve_refund("CD-R-1", T0 + 6 * DAY, actor="bob").status == "issued"
    p.reverse_refund("CD-R-1", "charged back", T0 + 7 * DAY, actor="carol")
    reversed_at = p.version
    assert p.reverse_refund("CD-R-1", "charged back", T0 + 8 * DAY,
                            actor="carol").status == "reversed"
    assert p.version == reversed_at == version + 1
    assert replayed(p.collect_events()).refunds == p.refunds


def test_a_rejection_retry_after_the_parcel_closed_is_the_same_refund():
    rules = policies(MYR="100")
    policy = rules.for_platform("tiktok_shop")
    p = parcel(rules, price="500.00")
    p.request_refund("R-1", item("200.00", "MYR"), policy, T0 + 2 * DAY, actor="alice")
    p.reject_refund("R-1", "no proof", T0 + 3 * DAY, actor="bob")
    p.record_delivery(T0 + 4 * DAY)
    p.close(T0 + 5 * DAY)
    version = p.version
    assert p.reject_refund("R-1", "no proof", T0 + 6 * DAY, actor="bob").status == "rejected"
    assert p.version == version


@pytest.mark.parametrize("again", ["alice", "Alice", " ALICE "])
def test_am4_the_same_person_written_differently_is_still_the_same_person(again: str):
    rules = policies(MYR="100")
    p = parcel(rules, price="500.00")
    policy = rules.for_platform("tiktok_shop")
    p.request_refund("R-1", item("200.00", "MYR"), policy, T0 + 2 * DAY, actor="alice")
    with pytest.raises(RuleViolationError):
        p.approve_refund("R-1", T0 + 3 * DAY, actor=again)
    p.request_refund("R-2", item("10.00", "MYR"), rules.for_platform("tiktok_shop"),
                     T0 + 2 * DAY, actor="bob")
    p.approve_refund("R-2", T0 + 3 * DAY, actor="carol")
    with pytest.raises(RuleViolationError):
        p.record_refund_failure("R-2", "bounced", T0 + 4 * DAY, actor=" Carol")


def test_am4_a_currency_without_a_threshold_fails_closed():
    rules = policies()
    policy = rules.for_platform("tiktok_shop")
    del policy.settings.large_refund_thresholds["MYR"]
    p = parcel(rules, price="500.00")
    refund = p.request_refund("R-1", item("0.01", "MYR"), policy, T0 + 2 * DAY, actor="alice")
    assert refund.status == "requested" and refund.needs_approval


# -- a person's actor names the key that acted; the rules compare the person ------------
ALICE_1, ALICE_2 = person_actor("alice", "k-1"), person_actor("alice", "k-2")
BOB_3, BOB_4 = person_actor("bob", "k-3"), person_actor("bob", "k-4")


def test_a_persons_actor_names_the_key_and_is_read_back_by_one_function():
    assert ALICE_1 == "person:alice/key:k-1"
    assert (actor_person(ALICE_1), actor_key(ALICE_1), person_of(ALICE_1)) == (
        "person:alice", "k-1", "alice")
    old = person_actor("alice")  # as recorded before the key was
    assert (old, actor_key(old), person_of(old)) == ("person:alice", None, "alice")
    assert actor_key("person:alice/KEY:k-9") == "k-9"  # the mark read in any case
    assert actor_key("5e1f0000-0000-0000-0000-000000000000") is None  # an unowned key
    assert same_person(ALICE_1, ALICE_2) and same_person(ALICE_1, old)
    assert same_person("person:alice/KEY:k-9", ALICE_1)
    assert not same_person(ALICE_1, BOB_3) and not same_person(ALICE_1, "person:alicia/key:k-1")


def test_am4_a_person_with_two_keys_cannot_approve_their_own_refund_with_the_other():
    rules = policies(MYR="100")
    p = parcel(rules, price="500.00")
    policy = rules.for_platform("tiktok_shop")
    p.request_refund("R-1", item("200.00", "MYR"), policy, T0 + 2 * DAY, actor=ALICE_1)
    for again in (ALICE_2, "person:alice", " person:ALICE/key:k-9 "):
        with pytest.raises(RuleViolationError) as err:
            p.approve_refund("R-1", T0 + 3 * DAY, actor=again)
        assert err.value.rule == "AM-4"
    approved = p.approve_refund("R-1", T0 + 3 * DAY, actor=BOB_3)
    assert approved.status == "issued" and approved.approved_by == BOB_3
    events = p.collect_events()
    assert [(type(e).__name__, e.actor) for e in events[-3:]] == [
        ("RefundRequested", ALICE_1), ("RefundApproved", BOB_3), ("RefundIssued", BOB_3)]


def test_am4_the_issuers_other_key_does_not_release_their_refund():
    rules = policies(MYR="100")
    p = parcel(rules, price="500.00")
    policy = rules.for_platform("tiktok_shop")
    p.request_refund("R-1", item("90.00", "MYR"), policy, T0 + 2 * DAY, actor=ALICE_1)
    for command in (p.record_refund_failure, p.reverse_refund):
        with pytest.raises(RuleViolationError) as err:
            command("R-1", "bounced", T0 + 3 * DAY, actor=ALICE_2)
        assert err.value.rule == "AM-4"
    assert p.record_refund_failure("R-1", "bounced", T0 + 3 * DAY,
                                   actor=BOB_3).released_by == BOB_3


def test_an_approval_retry_with_the_approvers_other_key_is_the_same_refund():
    rules = policies(MYR="100")
    p = parcel(rules, price="500.00")
    policy = rules.for_platform("tiktok_shop")
    p.request_refund("R-1", item("200.00", "MYR"), policy, T0 + 2 * DAY, actor=ALICE_1)
    p.approve_refund("R-1", T0 + 3 * DAY, actor=BOB_3)
    version = p.version
    again = p.approve_refund("R-1", T0 + 4 * DAY, actor=BOB_4)  # the same person
    assert again.status == "issued" and again.approved_by == BOB_3 and p.version == version
    with pytest.raises(RuleViolationError):  # another person: not a retry, nothing waits
        p.approve_refund("R-1", T0 + 4 * DAY, actor=person_actor("carol", "k-5"))
