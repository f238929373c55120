"""Errors name what went wrong: a rule id only where a rule broke, never an assert."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from domain.address import ReturnAddress
from domain.errors import (
    InvalidValueError,
    NoApplicableRuleError,
    RuleViolationError,
    TransitionError,
)
from domain.parcel import ReturnParcel
from domain.policies import PlatformPolicy, RouteDecision
from domain.values import Destination, DisposalKind, Party, Status
from tests.unit.support import DAY, T0, parcel, policies

RULES = policies()


def failed_parcel() -> ReturnParcel:
    p = parcel(RULES)
    p.record_delivery_failure("refused", RULES.for_platform("tiktok_shop"), T0 + 2 * DAY)
    return p


def test_tt2_a_hold_without_its_end_is_refused_before_anything_is_recorded() -> None:
    """Under `python -O` the old assert let a hold without `hold_until` reach the views."""
    p = failed_parcel()
    p.collect_events()
    hold = RouteDecision(Destination.PROVIDER_WAREHOUSE, "TT-2", False, Party.NOBODY, {})
    with pytest.raises(InvalidValueError) as err:
        p.route_return(hold, T0 + 3 * DAY)
    assert err.value.field == "hold_until"
    assert p.collect_events() == [] and p.status is Status.DELIVERY_FAILED


def test_tt2_a_held_parcel_without_its_hold_end_is_not_disposed_of() -> None:
    facts = failed_parcel().facts()
    held = type(facts)(**{**facts.__dict__, "status": Status.HELD, "hold_until": None})
    with pytest.raises(RuleViolationError) as err:
        PlatformPolicy().disposal_ruling(held, DisposalKind.DESTROYED, T0 + 30 * DAY)
    assert err.value.rule == "TT-2"


def test_disposal_of_a_parcel_neither_held_nor_failed_is_a_transition_error() -> None:
    facts = parcel(RULES).facts()
    with pytest.raises(TransitionError) as err:
        PlatformPolicy().disposal_ruling(facts, DisposalKind.DESTROYED, T0 + 30 * DAY)
    assert (err.value.status, err.value.command) == ("registered", "dispose")
    assert not hasattr(err.value, "rule")


def test_a_platform_without_routing_rules_names_no_fake_rule() -> None:
    with pytest.raises(NoApplicableRuleError) as err:
        PlatformPolicy().route(failed_parcel().facts(), [], T0 + 3 * DAY)
    assert err.value.decision == "routing" and not hasattr(err.value, "rule")


def test_deactivating_an_address_twice_is_a_transition_error() -> None:
    address = ReturnAddress.register(
        seller_id="seller-1", platform="amazon", country_code="DE",
        address={"lines": ["Hauptstr. 1"], "city": "Berlin", "postcode": "10115"},
        effective_from=T0, occurred_at=T0)
    address.deactivate("moved", T0 + DAY)
    with pytest.raises(TransitionError) as err:
        address.deactivate("moved", T0 + 2 * DAY)
    assert (err.value.status, err.value.command, err.value.subject) == (
        "deactivated", "deactivate", "return address")


ROOT = Path(__file__).resolve().parents[2]


def _documented_rules() -> tuple[set[str], set[str]]:
    """The ids of the marketplace and ledger rule table in docs/LEDGER.md (one row per
    rule), and the ledger's own service rules the README states as `- *WH-1.*`."""
    table = (ROOT / "docs" / "LEDGER.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return (set(re.findall(r"^\| ([A-Z]{2}-\d+) \|", table, re.MULTILINE)),
            set(re.findall(r"^- \*([A-Z]{2}-\d+)\.\*", readme, re.MULTILINE)))


def _rule_ids_raised() -> dict[str, set[str]]:
    """Each literal (or module constant) rule id given to RuleViolationError, by place."""
    found: dict[str, set[str]] = {}
    for folder in ("domain", "application", "projections", "interfaces", "infrastructure"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            constants = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                         and isinstance(n.value, ast.Constant) for t in n.targets
                         if isinstance(t, ast.Name)}
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                        and node.func.id == "RuleViolationError" and node.args):
                    continue
                first = node.args[0]
                rule = (first.value if isinstance(first, ast.Constant)
                        else constants.get(first.id) if isinstance(first, ast.Name) else None)
                if rule is not None:
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    found.setdefault(str(rule), set()).add(where)
    return found


def test_rule_violations_name_only_rules_of_the_rule_table() -> None:
    """"address", "routing" and "disposal" were ids of no rule; a transition or a missing
    platform rule has its own error type."""
    raised = _rule_ids_raised()
    table, service = _documented_rules()
    assert len(table) >= 25 and len(raised) >= 20
    assert service <= {"WH-1"}  # webhooks' auto-disable; no other rule outside the table
    documented = table | service
    assert {rule: places for rule, places in raised.items() if rule not in documented} == {}
