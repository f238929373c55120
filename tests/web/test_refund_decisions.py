"""Finance pages that act: approve and reject (CSRF, AM-4's second person), the refunds
table with status filters and paging, the list of reconciliations newest first."""

from __future__ import annotations

import re

from tests.web.conftest import Seeded, catch_up, csrf_of, signed_in
from tests.web.finance_support import with_waiting_refunds


def decide(client, page: str, reference: str, decision: str, reason: str = "") -> object:
    parcel = re.search(rf'name="parcel_id" value="([^"]+)">\s*<input type="hidden" '
                       rf'name="reference" value="{reference}"', page).group(1)
    return client.post("/web/finance/refund-decisions", data={
        "csrf_token": csrf_of(page), "parcel_id": parcel, "reference": reference,
        "decision": decision, "reason": reason, "next": "/web/finance"})


def test_am4_a_second_person_approves_from_the_page(fresh: Seeded) -> None:
    with_waiting_refunds(fresh)
    finance = signed_in(fresh.app, fresh.keys["finance"])
    page = finance.get("/web/finance").get_data(True)
    assert "Approve W-1</button>" in page and "Reject W-1</button>" in page
    answer = decide(finance, page, "W-1", "approve")
    assert answer.status_code == 303 and answer.headers["Location"] == "/web/finance"
    catch_up(fresh.env, fresh.app.extensions["returns_ledger"].get())
    after = finance.get("/web/finance").get_data(True)
    assert "Refund W-1: issued." in after and "Approve W-1</button>" not in after
    table = finance.get("/web/finance/refunds?status=issued").get_data(True)
    assert 'data-reference="W-1" data-status="issued"' in table
    assert "approved by finance" in table  # the person, not a key id


def test_am4_the_requester_sees_why_there_is_no_approve_button(fresh: Seeded) -> None:
    with_waiting_refunds(fresh)
    own = signed_in(fresh.app, fresh.keys["finance_b"])
    page = own.get("/web/finance").get_data(True)
    assert "Approve W-1</button>" not in page
    assert "You asked for this refund: a second person approves it (AM-4)." in page
    refused = decide(own, page.replace("Reject W-1", ""), "W-1", "approve")
    assert refused.status_code == 409 and "AM-4" in refused.get_data(True)
    auditor = signed_in(fresh.app, fresh.keys["auditor"]).get("/web/finance").get_data(True)
    assert "Only a finance key approves a refund (AM-4)." in auditor
    assert "Reject W-1</button>" not in auditor


def test_reject_needs_a_reason_and_a_csrf_token(fresh: Seeded) -> None:
    with_waiting_refunds(fresh)
    finance = signed_in(fresh.app, fresh.keys["finance"])
    page = finance.get("/web/finance").get_data(True)
    assert decide(finance, page, "W-2", "reject").status_code == 400
    forged = finance.post("/web/finance/refund-decisions", data={
        "csrf_token": "forged", "parcel_id": "x", "reference": "W-2", "decision": "reject",
        "reason": "duplicate"})
    assert forged.status_code == 400 and "expired" in forged.get_data(True)
    assert decide(finance, page, "W-2", "reject", "duplicate claim").status_code == 303
    catch_up(fresh.env, fresh.app.extensions["returns_ledger"].get())
    table = finance.get("/web/finance/refunds?status=rejected").get_data(True)
    assert 'data-reference="W-2" data-status="rejected"' in table and "duplicate claim" in table


def test_refunds_table_filters_by_status_and_pages(fresh: Seeded, monkeypatch) -> None:
    import interfaces.web.finance as pages

    with_waiting_refunds(fresh, 3)
    admin = signed_in(fresh.app, fresh.keys["admin"])
    waiting = admin.get("/web/finance/refunds?status=requested").get_data(True)
    assert re.findall(r'data-reference="([^"]+)" data-status="requested"', waiting) == [
        "W-1", "W-2", "W-3"]
    monkeypatch.setattr(pages, "REFUNDS_PAGE", 2)
    first = admin.get("/web/finance/refunds").get_data(True)
    assert len(re.findall(r"<tr data-reference=", first)) == 2 and 'rel="next"' in first
    third = admin.get("/web/finance/refunds?page=3").get_data(True)
    assert len(re.findall(r"<tr data-reference=", third)) == 1 and 'rel="next"' not in third
    assert admin.get("/web/finance/refunds?status=lost").status_code == 400


def test_reconciliations_are_listed_newest_first(fresh: Seeded) -> None:
    import io
    import time

    finance = signed_in(fresh.app, fresh.keys["finance"])
    for name, text in (("first.csv", "reference,currency,amount\r\nA,EUR,1.00\r\n"),
                       ("second.csv", "reference,currency,amount\r\nB,EUR,2.00\r\n")):
        token = csrf_of(finance.get("/web/finance").get_data(True))
        answer = finance.post("/web/finance/reconciliations", data={
            "csrf_token": token, "settlement": (io.BytesIO(text.encode()), name)},
            content_type="multipart/form-data")
        assert answer.status_code == 303
    for _ in range(200):
        listing = finance.get("/web/finance/reconciliations").get_data(True)
        if 'data-status="running"' not in listing:
            break
        time.sleep(0.02)
    assert listing.index("second.csv") < listing.index("first.csv")
    assert listing.count('data-status="done"') == 2
    assert "1 settled not in ledger" in listing
