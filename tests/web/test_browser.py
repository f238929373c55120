"""The web pages in headless Chromium against the real service: sign in, search, timeline,
as-recorded-at replay, phone width, refunds dashboard. Screenshots go to test-artifacts/web/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.web.browser import chromium, screenshot, serving
from tests.web.conftest import Seeded


@pytest.fixture(scope="module")
def site(seeded: Seeded) -> Iterator[str]:
    with serving(seeded.app) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as context:
        yield context


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh tab with no session; fails the test on any console error (CSP included)."""
    browser.clear_cookies()
    tab = browser.new_page()
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.console_errors = errors  # a test expecting an error status clears it
    yield tab
    tab.close()
    assert errors == [], f"browser console errors: {errors}"


UNLABELLED = """[...document.querySelectorAll('input:not([type=hidden]), select, button')]
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
               && !(e.tagName === 'BUTTON' && e.textContent.trim()))
  .map(e => e.outerHTML)"""


def assert_accessible(page: Any) -> None:
    """Every control has a label, one h1, and the landmarks are there."""
    assert page.evaluate(UNLABELLED) == []
    assert page.locator("h1").count() == 1
    for landmark in ("banner", "main", "contentinfo"):
        assert page.get_by_role(landmark).count() == 1
    assert page.evaluate("[...document.querySelectorAll('svg')].every("
                         "s => s.getAttribute('role') === 'img' && s.querySelector('title'))")


def sign_in(page: Any, site: str, token: str, start: str = "/web/") -> None:
    page.goto(site + start)
    assert page.url.startswith(site + "/web/sign-in")
    assert_accessible(page)
    page.get_by_label("API key").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def test_auditor_finds_a_parcel_and_replays_its_timeline(page: Any, site: str,
                                                           seeded: Seeded, browser: Any) -> None:
    sign_in(page, site, seeded.keys["auditor"])
    assert_accessible(page)
    screenshot(page, "01-parcels")
    cookie = next(c for c in browser.cookies() if c["name"] == "returns_ledger_web")
    assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"], cookie["path"]) == (
        True, True, "Lax", "/web")
    assert seeded.keys["auditor"] not in cookie["value"]

    page.get_by_label("Tracking number").fill("TTMY0001")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("table.results tbody tr")
    assert rows.count() == 1
    rows.get_by_role("link", name="TTMY0001").click()
    page.wait_for_load_state()

    assert page.get_by_role("heading", level=1).inner_text() == "Parcel TTMY0001"
    events = page.locator("#timeline > li.event")
    assert events.count() == 9
    assert [events.nth(i).get_attribute("data-type") for i in (0, 4, 5, 8)] == [
        "ParcelRegistered", "DeliveryFailed", "ReturnRouted", "ParcelClosed"]
    routed = page.locator("#v6")
    # the eligibility and the free return (TT-1, TT-3), settled by TT-3
    assert routed.locator(".decision-box .rule").all_inner_texts() == ["TT-1", "TT-3", "TT-3"]
    assert "free return used before" in routed.locator("dl.facts").inner_text()
    assert "39.80 MYR" in page.locator("#v1 dl.details").inner_text()
    assert routed.locator(".actor").inner_text() == "system"
    assert page.locator("#chain-badge").inner_text().startswith("✔ Chain OK: 9 stored events")
    assert page.locator("#state-status").inner_text() == "closed"
    assert_accessible(page)
    screenshot(page, "02-timeline")
    page.set_viewport_size({"width": 1100, "height": 1000})
    screenshot(page, "timeline", full_page=False)  # the README's picture
    page.set_viewport_size({"width": 1280, "height": 900})

    # As recorded right after the carrier gave up (v5): five events, delivery failed.
    recorded = page.locator("#v5 time.recorded").get_attribute("datetime")
    page.get_by_label("As recorded at").fill(recorded)
    page.get_by_role("button", name="Replay").click()
    page.wait_for_load_state()
    assert events.count() == 5
    assert page.locator("#state-status").inner_text() == "delivery failed"
    assert "5 of 9 events" in page.locator("#as-of-notice").inner_text()
    assert page.locator("#chain-badge").inner_text().startswith("✔ Chain OK: 5 stored events")
    assert page.get_by_label("As recorded at").input_value() == recorded
    screenshot(page, "03-timeline-as-recorded")


def test_timeline_fits_a_phone(page: Any, site: str, seeded: Seeded) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, site, seeded.keys["auditor"], f"/web/parcels/{seeded.parcels['amazon']}")
    assert page.locator("#timeline > li.event").count() == 10
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px at phone width"
    page.keyboard.press("Tab")  # the first stop is the skip link, and it is visible
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    screenshot(page, "04-timeline-phone")


def test_seller_sees_only_its_own_parcels(page: Any, site: str, seeded: Seeded) -> None:
    sign_in(page, site, seeded.keys["seller_tt"])
    numbers = page.locator("table.results tbody tr td:first-child").all_inner_texts()
    assert numbers == ["TTMY0001"]
    response = page.goto(f"{site}/web/parcels/{seeded.parcels['tiktok_shop_hold']}")
    assert response.status == 404
    assert page.console_errors == ["Failed to load resource: the server responded with a "
                                   "status of 404 (NOT FOUND)"]
    page.console_errors.clear()
    assert page.get_by_role("heading", level=1).inner_text().startswith("Not found")


def test_finance_opens_the_refunds_dashboard(page: Any, site: str, seeded: Seeded) -> None:
    sign_in(page, site, seeded.keys["finance"])
    page.get_by_role("link", name="Refunds").click()
    page.wait_for_load_state()
    chart = page.locator("#chart-EUR")
    assert chart.locator("figcaption").inner_text() == (
        "EUR: 906.50 EUR in 1 refund, 2026-03-12 to 2026-03-12 (1 day)")
    assert chart.locator("svg rect").count() == 1
    assert page.locator("#chart-EUR svg").get_attribute("role") == "img"
    assert page.locator("#totals tbody tr").count() == 1  # seller-am's only: its key's scope
    with page.expect_download() as download:
        page.get_by_role("link", name="every refund (CSV)").click()
    lines = open(download.value.path(), encoding="utf-8").read().splitlines()
    assert lines[0].startswith("parcel_id,reference,")
    assert len(lines) == 2 and ",AMZ-REF-1," in lines[1] and ",906.50," in lines[1]
    assert_accessible(page)
    screenshot(page, "05-refunds-dashboard")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()
    assert page.url.startswith(site + "/web/sign-in")
    assert page.goto(site + "/web/finance").url.startswith(site + "/web/sign-in")


def test_signing_out_ends_the_session_even_for_a_copied_cookie(page: Any, site: str,
                                                               seeded: Seeded,
                                                               browser: Any) -> None:
    """The cookie from before sign-out, put back into the browser, opens nothing: the
    session ended on the server (it used to sign in for the rest of its 8 hours)."""
    sign_in(page, site, seeded.keys["auditor"])
    assert page.url.startswith(site + "/web/parcels")
    saved = [c for c in browser.cookies() if c["name"] == "returns_ledger_web"]
    assert saved
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()
    assert page.url.startswith(site + "/web/sign-in")
    browser.add_cookies(saved)  # the copy an attacker, or the back button, kept
    assert page.goto(site + "/web/parcels").url.startswith(site + "/web/sign-in")
    assert page.get_by_label("API key").count() == 1
