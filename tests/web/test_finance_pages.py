"""The refunds dashboard (totals, inline SVG chart, CSV exports), reconciliations, the lists."""

from __future__ import annotations

import io
import re
import time
from decimal import Decimal

from interfaces.web.chart import PLOT_HEIGHT, charts
from tests.web.conftest import Seeded, csrf_of, signed_in

SETTLEMENT = ("reference,currency,amount,order_id,kind\r\n"
              "AMZ-REF-1,EUR,899.00,AM-ORDER-1,item\r\n"
              "AMZ-REF-1,EUR,7.50,AM-ORDER-1,return_shipping\r\n"
              "NOT-OURS-9,EUR,12.00,X-1,item\r\n")


def test_dashboard_totals_and_chart_per_currency(seeded: Seeded) -> None:
    page = signed_in(seeded.app, seeded.keys["auditor"]).get("/web/finance").get_data(True)
    assert '<figure class="chart" id="chart-EUR">' in page
    assert "<strong>EUR</strong>: 950.40 EUR in 2 refunds" in page  # 906.50 + 43.90, exact
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert 'role="img"' in svg and "<title id=" in svg
    # Every day of the range, the days without refunds too, and the year shown.
    assert ("2026-03-09: 43.90 EUR; 2026-03-10: 0 EUR; 2026-03-11: 0 EUR; "
            "2026-03-12: 906.50 EUR;") in svg
    assert svg.count('<g class="bar">') == 4
    assert '<text x="16" y="176" class="month">Mar 2026</text>' in svg
    assert "<script" not in page


def test_the_chart_spans_the_filtered_range_with_zero_days(seeded: Seeded) -> None:
    page = signed_in(seeded.app, seeded.keys["auditor"]).get(
        "/web/finance?from=2026-02-25&to=2026-03-14").get_data(True)
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert svg.count('<g class="bar">') == 18  # 25 Feb to 14 Mar, both included
    assert "2026-02-25: 0 EUR;" in svg and "2026-03-14: 0 EUR;" in svg
    assert ">Feb 2026</text>" in svg and ">Mar 2026</text>" in svg


def test_dashboard_filters_narrow_the_totals(seeded: Seeded) -> None:
    client = signed_in(seeded.app, seeded.keys["admin"])
    page = client.get("/web/finance?platform=cdiscount").get_data(True)
    assert "<strong>EUR</strong>: 43.90 EUR in 1 refund" in page
    assert 'href="/web/finance/refunds.csv?platform=cdiscount"' in page
    assert "No refund has been issued for these filters." in client.get(
        "/web/finance?currency=myr").get_data(True)


def test_refund_exports_are_csv_in_the_keys_scope(seeded: Seeded) -> None:
    finance = signed_in(seeded.app, seeded.keys["finance"])  # seller-am only
    answer = finance.get("/web/finance/refunds.csv")
    assert answer.mimetype == "text/csv"
    assert answer.headers["Content-Disposition"] == 'attachment; filename="refunds.csv"'
    lines = answer.get_data(True).splitlines()
    assert len(lines) == 2 and "AMZ-REF-1" in lines[1] and "CD-REF-1" not in lines[1]
    totals = finance.get("/web/finance/refund-totals.csv").get_data(True).splitlines()
    assert totals[0] == "seller_id,platform,currency,day,refunds,item,shipping," \
                        "return_shipping,amount"
    assert totals[1:] == ["seller-am,amazon,EUR,2026-03-12,1,899.00,0.00,7.50,906.50"]


def test_finance_reconciles_a_settlement_file_and_reads_the_report(fresh: Seeded) -> None:
    client = signed_in(fresh.app, fresh.keys["finance"])
    token = csrf_of(client.get("/web/finance").get_data(True))
    answer = client.post("/web/finance/reconciliations", data={
        "csrf_token": token, "settlement": (io.BytesIO(SETTLEMENT.encode()), "amazon.csv")},
        content_type="multipart/form-data")
    assert answer.status_code == 303
    report_url = answer.headers["Location"]
    report = client.get(report_url).get_data(True)  # readable at once, running or done
    for _ in range(200):
        if 'id="run-status">running<' not in report:
            break
        time.sleep(0.02)
        report = client.get(report_url).get_data(True)
    assert 'id="run-status">done<' in report
    assert "The recorded lines still add up to the run's digest." in report
    assert re.search(r'<tr class="outcome-matched">\s*<td data-label="Outcome">matched</td>'
                     r'\s*<td data-label="Reference">AMZ-REF-1</td>', report)
    assert '<tr class="outcome-settled_not_in_ledger">' in report
    run_id = report_url.rsplit("/", 1)[1]
    assert f'href="/web/finance/reconciliations/{run_id}"' in client.get(
        "/web/finance").get_data(True)  # listed among the runs, newest first
    lines = client.get(f"{report_url}.csv").get_data(True).splitlines()
    assert lines[0].startswith("outcome,reference,parcel_id,")
    assert len(lines) == 3
    auditor = signed_in(fresh.app, fresh.keys["auditor"])
    assert auditor.get(report_url).status_code == 200
    found = auditor.get("/web/finance/reconciliations", query_string={"id": run_id})
    assert found.headers["Location"] == report_url


def test_only_finance_keys_reconcile(seeded: Seeded) -> None:
    auditor = signed_in(seeded.app, seeded.keys["auditor"])
    page = auditor.get("/web/finance").get_data(True)
    assert 'enctype="multipart/form-data"' not in page
    answer = auditor.post("/web/finance/reconciliations", data={
        "csrf_token": csrf_of(page),
        "settlement": (io.BytesIO(SETTLEMENT.encode()), "amazon.csv")})
    assert answer.status_code == 403


def test_unknown_reconciliation_is_a_404_page(seeded: Seeded) -> None:
    client = signed_in(seeded.app, seeded.keys["auditor"])
    answer = client.get("/web/finance/reconciliations/00000000-0000-0000-0000-000000000000")
    assert answer.status_code == 404 and "text/html" in answer.content_type


def test_lists_free_returns_liabilities_and_holds(seeded: Seeded) -> None:
    client = signed_in(seeded.app, seeded.keys["auditor"])
    free = client.get("/web/free-returns").get_data(True)
    assert re.search(r">TTMY0001</a>.*?<span class=\"rule\">TT-3</span>.*?received", free,
                     re.S)  # TT-3: the one free return, received
    liable = client.get("/web/liabilities").get_data(True)
    assert re.search(r">TTTH0002</a>.*?<td>seller</td>\s*<td class=\"num money\">450.00 THB"
                     r"</td><td>loss</td><td><span class=\"rule\">TT-2</span>", liable,
                     re.S)  # TT-2: destroyed after the hold, the seller bears the loss
    holds = client.get("/web/holds").get_data(True)
    assert re.search(r">TTTH0003</a>.*?2026-03-21 09:00:00 UTC</time> <strong>expired</strong>"
                     r"</td><td><span class=\"rule\">TT-2</span>", holds, re.S)  # 14 days


def test_chart_bars_are_proportional_and_sums_exact() -> None:
    drawn = charts([
        {"currency": "EUR", "day": "2026-03-02", "amount": "0.10", "refunds": 1},
        {"currency": "EUR", "day": "2026-03-02", "amount": "0.20", "refunds": 1},
        {"currency": "EUR", "day": "2026-03-03", "amount": "0.60", "refunds": 2},
        {"currency": "JPY", "day": "2026-03-03", "amount": "1500", "refunds": 1},
    ])
    eur, jpy = drawn
    assert eur.total == Decimal("0.90") and eur.refunds == 4  # 0.1 + 0.2 exactly, no float
    assert [b.height for b in eur.bars] == [PLOT_HEIGHT // 2, PLOT_HEIGHT]
    assert [b.y + b.height for b in eur.bars] == [eur.baseline, eur.baseline]
    assert eur.bars[0].x < eur.bars[1].x and eur.width > eur.bars[1].x + eur.bar_width
    assert (jpy.currency, jpy.bars[0].height) == ("JPY", PLOT_HEIGHT)
