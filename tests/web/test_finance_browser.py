"""The finance pages in headless Chromium: approve and reject from the page, the refunds
table and the list of reconciliations, at 1280 px and at phone width (nothing cut off).
Screenshots go to test-artifacts/web/."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.browser import chromium, screenshot, serving
from tests.web.conftest import Seeded, close, seed
from tests.web.finance_support import with_waiting_refunds
from tests.web.test_browser import assert_accessible, sign_in

WIDE, PHONE = {"width": 1280, "height": 900}, {"width": 390, "height": 844}
# A settlement with a long detail per line: the column that used to be cut off at 1280 px.
SETTLEMENT = ("reference,currency,amount,order_id,kind\r\n"
              "AMZ-REF-1,EUR,899.00,AM-ORDER-1,item\r\n"
              "AMZ-REF-1,EUR,7.50,AM-ORDER-1,return_shipping\r\n"
              "NOT-OURS-9,EUR,12.00,X-1,item\r\n"
              "W-1,EUR,600.00,W-ORDER-1,item\r\n"
              "BAD-1,EUR,1.234,X-2,item\r\n")

# Whatever sticks out of the viewport or out of its own box (a cut-off column).
OVERFLOW = """() => {
  const width = window.innerWidth, out = [];
  if (document.documentElement.scrollWidth > width) out.push('page ' + document.documentElement.scrollWidth);
  for (const el of document.querySelectorAll('main table, main td, main th, main form, main li')) {
    const box = el.getBoundingClientRect();
    if (box.width && box.right > width + 1)
      out.push(el.tagName + ' ' + (el.id || el.className) + ' right ' + Math.round(box.right));
  }
  for (const el of document.querySelectorAll('main table')) {
    if (el.scrollWidth > el.clientWidth + 1) out.push('table ' + el.id + ' scrolls');
  }
  return out;
}"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Seeded, str]]:
    made = seed(tmp_path_factory.mktemp("finance-web"), PROJECTIONS_IN_PROCESS="yes")
    with_waiting_refunds(made, 3)
    with serving(made.app) as base:
        yield made, base
    close(made)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as context:
        yield context


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    browser.clear_cookies()
    tab = browser.new_page()
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    yield tab
    tab.close()
    assert errors == [], f"browser console errors: {errors}"


def fits(page: Any) -> None:
    assert page.evaluate(OVERFLOW) == []


def until(page: Any, url: str, selector: str, text: str) -> None:
    """Reload until the views have caught up with a write (read-your-writes is bounded)."""
    for _ in range(50):
        page.goto(url)
        if text in page.locator(selector).inner_text():
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared in {selector} at {url}")


def test_finance_approves_and_rejects_from_the_page(page: Any, world) -> None:
    seeded, site = world
    page.set_viewport_size(WIDE)
    sign_in(page, site, seeded.keys["finance"], "/web/finance")
    waiting = page.locator("#waiting")
    assert waiting.get_by_role("button", name="Approve W-1").is_visible()
    assert_accessible(page)
    fits(page)
    screenshot(page, "10-finance-waiting")
    waiting.get_by_role("button", name="Approve W-1").click()
    page.wait_for_load_state()
    assert page.locator("#notice").inner_text() == "Refund W-1: issued."
    screenshot(page, "11-finance-approved")
    item = page.locator('#waiting li[data-reference="W-2"]')
    item.get_by_label("Reason to reject").fill("duplicate of W-1")
    item.get_by_role("button", name="Reject W-2").click()
    page.wait_for_load_state()
    assert page.locator("#notice").inner_text() == "Refund W-2: rejected."
    until(page, site + "/web/finance/refunds?status=rejected", "#refunds", "duplicate of W-1")
    screenshot(page, "12-finance-rejected")


def test_the_requester_sees_why_the_approve_button_is_absent(page: Any, world) -> None:
    seeded, site = world
    page.set_viewport_size(WIDE)
    sign_in(page, site, seeded.keys["finance_b"], "/web/finance")
    item = page.locator('#waiting li[data-reference="W-3"]')
    assert item.get_by_role("button", name="Approve W-3").count() == 0
    assert "You asked for this refund" in item.locator(".why").inner_text()
    assert item.get_by_role("button", name="Reject W-3").is_visible()
    screenshot(page, "13-finance-no-approve-for-the-requester")


@pytest.mark.parametrize("size,name", [(WIDE, "1280"), (PHONE, "phone")])
def test_the_refunds_table_filters_and_fits(page: Any, world, size: dict, name: str) -> None:
    seeded, site = world
    page.set_viewport_size(size)
    sign_in(page, site, seeded.keys["admin"], "/web/finance/refunds")
    page.get_by_label("Status").select_option("requested")
    page.get_by_role("button", name="Show").click()
    page.wait_for_load_state()
    statuses = page.locator("#refunds tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.status)")
    assert statuses and set(statuses) == {"requested"}
    assert_accessible(page)
    fits(page)
    screenshot(page, f"14-refunds-table-{name}")
    page.get_by_label("Status").select_option("")
    page.get_by_role("button", name="Show").click()
    page.wait_for_load_state()
    assert page.locator("#refunds tbody tr").count() >= 4
    fits(page)


@pytest.mark.parametrize("size,name", [(WIDE, "1280"), (PHONE, "phone")])
def test_reconciliations_list_and_report_fit(page: Any, world, size: dict, name: str,
                                             tmp_path: Path) -> None:
    seeded, site = world
    page.set_viewport_size(size)
    sign_in(page, site, seeded.keys["finance"], "/web/finance")
    settlement = tmp_path / f"settlement-{name}.csv"
    settlement.write_text(SETTLEMENT + f"EXTRA-{name},EUR,1.00,X,item\r\n", newline="")
    page.get_by_label("Settlement file (CSV: ours, Amazon, TikTok Shop or Lazada)").set_input_files(
        str(settlement))
    page.get_by_role("button", name="Reconcile").click()
    page.wait_for_load_state()
    report = page.url
    until(page, report, "#run-status", "done")
    detail = page.locator("#rec-lines-table td.detail:not(:empty)").first
    assert detail.is_visible()
    box = detail.bounding_box()
    assert box["x"] + box["width"] <= size["width"], "the detail column is cut off"
    assert_accessible(page)
    fits(page)
    screenshot(page, f"15-reconciliation-report-{name}")
    page.goto(site + "/web/finance/reconciliations")
    runs = page.locator("#runs li")
    assert runs.first.get_attribute("data-status") == "done"
    assert f"settlement-{name}.csv" in runs.first.inner_text()  # newest first
    fits(page)
    screenshot(page, f"16-reconciliations-list-{name}")
