"""TT-7: the return window counts from the latest failed attempt, in any order of scans."""

from __future__ import annotations

from domain.parcel import ReturnParcel
from domain.policies import AddressFacts
from tests.unit.support import DAY, HOUR, T0, parcel, policies

RULES = policies()
TIKTOK = RULES.for_platform("tiktok_shop")
MY_ADDRESS = AddressFacts("addr-1", "tiktok_shop", "MY", T0 - 30 * DAY, T0 - 30 * DAY, None,
                          "not_required", None)


def test_tt7_a_scan_recorded_late_does_not_move_the_last_failed_attempt_back() -> None:
    p = parcel(RULES)
    p.record_delivery_attempt("not home", TIKTOK, T0 + 5 * DAY)
    p.record_delivery_attempt("closed shop", TIKTOK, T0 + 3 * DAY)  # the earlier one, late
    assert p.last_failed_attempt_at == T0 + 5 * DAY
    p.record_delivery_failure("refused", TIKTOK, T0 + 4 * DAY)  # reported before the last
    assert p.last_failed_attempt_at == T0 + 5 * DAY
    p.route_return(TIKTOK.route(p.facts(), [MY_ADDRESS], T0 + 6 * DAY), T0 + 6 * DAY)
    assert p.expected_back_by == T0 + 5 * DAY + 15 * DAY
    routed = p.collect_events()[-1]
    assert isinstance(routed, ReturnParcel.ReturnRouted)
    assert routed.facts["last_failed_attempt_at"] == (T0 + 5 * DAY).isoformat()


def test_tt7_the_failure_itself_counts_when_it_is_the_latest() -> None:
    p = parcel(RULES)
    p.record_delivery_attempt("not home", TIKTOK, T0 + 2 * DAY)
    p.record_delivery_failure("refused", TIKTOK, T0 + 2 * DAY + HOUR)
    assert p.last_failed_attempt_at == T0 + 2 * DAY + HOUR
