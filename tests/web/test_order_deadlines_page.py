"""The "Holds and deadlines" page lists the order stages waiting on the seller."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tests.web.conftest import Seeded, catch_up, signed_in


def test_lz3_cd3_holds_page_shows_order_and_question_deadlines(fresh: Seeded) -> None:
    ledger = fresh.ledger
    soon = datetime.now(UTC).replace(microsecond=0)
    ledger.create_order(platform="lazada", site="TH", seller_id="seller-th",
                        order_id="LZ-WEB-1", created_at=soon)
    ledger.create_order(platform="lazada", site="TH", seller_id="seller-th",
                        order_id="LZ-WEB-LATE", created_at=soon - timedelta(hours=49))
    ledger.ask_question(platform="cdiscount", seller_id="seller-th", question_id="Q-WEB",
                        kind="product", asked_at=soon, language="fr")
    catch_up(fresh.env, ledger)
    page = signed_in(fresh.app, fresh.keys["seller_th"]).get("/web/holds").get_data(True)
    assert re.search(r"LZ-WEB-1</td>.*?ready to ship.*?<span class=\"rule\">LZ-3</span>",
                     page, re.S)
    assert re.search(r"class=\"late-row\"><td>Lazada LZ-WEB-LATE</td>.*?<strong>delayed",
                     page, re.S | re.I)
    assert re.search(r"question Q-WEB</td>.*?preferably by.*?<span class=\"rule\">CD-3</span>",
                     page, re.S)
    other = signed_in(fresh.app, fresh.keys["seller_tt"]).get("/web/holds").get_data(True)
    assert "LZ-WEB-1" not in other  # another seller's orders stay out of sight


def test_tt1_tt3_timeline_shows_every_rule_of_a_decision(fresh: Seeded) -> None:
    page = signed_in(fresh.app, fresh.keys["auditor"]).get(
        f"/web/parcels/{fresh.parcels['tiktok_shop']}").get_data(True)
    routed = page[page.index('data-type="ReturnRouted"'):]
    routed = routed[:routed.index("</li>")]
    assert ('Decided by rules <span class="rule">TT-1</span>, <span class="rule">TT-3</span> '
            '(settled by <span class="rule">TT-3</span>)') in routed
    assert "<dt>rules</dt>" not in routed  # shown as the decision, not among the details


def test_rl2_timeline_shows_a_correction_of_the_earlier_event(fresh: Seeded) -> None:
    from domain.money import Money

    parcel = fresh.parcels["held"]
    fresh.ledger.correct_parcel(parcel, "amount_paid", Money.of("400.00", "THB"), "voucher",
                                datetime(2026, 3, 10, tzinfo=UTC))
    page = signed_in(fresh.app, fresh.keys["auditor"]).get(f"/web/parcels/{parcel}")
    html = page.get_data(True)
    assert 'Corrects <a href="#v1">v1</a>: amount paid was 450.00 THB' in html
    assert '<span class="rule">RL-2</span>' in html


def test_rl2_timeline_shows_a_correction_of_the_lines(fresh: Seeded) -> None:
    from domain.money import Money
    from domain.values import Line

    parcel = fresh.parcels["held"]
    before = fresh.ledger.get_parcel(parcel).lines
    price = before[0]["unit_price"]
    wrong = "; ".join(f"{line['sku']} x{line['quantity']} at {line['unit_price']}"
                      for line in before)
    fresh.ledger.correct_parcel(parcel, "lines", [*(Line(**line) for line in before),
                                                  Line("SKU-EXTRA", 1, Money.zero(price.currency))],
                                "a gift line was left out", datetime(2026, 3, 10, tzinfo=UTC))
    html = signed_in(fresh.app, fresh.keys["auditor"]).get(f"/web/parcels/{parcel}").get_data(True)
    assert f'Corrects <a href="#v1">v1</a>: lines was {wrong}' in html
