"""GET /v1/events: log order, cursor, filters, seller scope, long polling; on both stores."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from uuid import UUID

import pytest
from flask import Flask

from tests.api.conftest import ADDRESS, bearer, issue_keys, make_app, post, register


@pytest.fixture
def feed_app(store_env) -> Iterator[Flask]:
    application = make_app(store_env)
    yield application
    application.extensions["returns_ledger"].close()


def _page(client, token, **query):
    response = client.get("/v1/events", query_string=query, headers=bearer(token))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _all(client, token, limit=3, **query):
    seen, after = [], 0
    while True:
        page = _page(client, token, after=after, limit=limit, **query)
        seen += page["events"]
        if page["next"] == after:
            return seen
        after = page["next"]


def _lifecycle(client, token, tracking, seller="s1"):
    parcel = register(client, token, tracking=tracking, seller=seller)
    post(client, token, f"/v1/parcels/{parcel}/delivery-attempts", {"reason": "nobody home"})
    post(client, token, f"/v1/parcels/{parcel}/delivery-failures", {"reason": "refused"})
    return parcel


@pytest.mark.parametrize("after", [2**62 - 1, 2**62])
def test_a_cursor_beyond_any_position_is_an_empty_page_not_a_500(feed_app, after):
    """Found by the contract fuzzing: with parcel_id=, SQLite refused the number (500)."""
    keys, client = issue_keys(feed_app), feed_app.test_client()
    parcel = _lifecycle(client, keys.client, "TTMY-F9")
    for query in ({}, {"parcel_id": parcel}):
        page = _page(client, keys.admin, after=after, **query)
        assert page["events"] == [] and page["next"] == after


@pytest.mark.parametrize("after", [2**62 + 1, 2**63 - 1, 2**63, 429189294316617024481001472])
def test_a_cursor_past_the_documented_bound_is_a_422_naming_it(feed_app, after):
    """Past 2**62, the bound the document states for every integer, a cursor is refused."""
    keys, client = issue_keys(feed_app), feed_app.test_client()
    parcel = _lifecycle(client, keys.client, "TTMY-F9")
    for query in ({}, {"parcel_id": parcel}):
        answer = client.get("/v1/events", query_string={"after": after, **query},
                            headers=bearer(keys.admin))
        assert answer.status_code == 422, answer.get_json()
        assert "after" in answer.get_json()["errors"]


def test_feed_is_the_log_in_order_with_the_history_data(feed_app):
    keys, client = issue_keys(feed_app), feed_app.test_client()
    parcel = _lifecycle(client, keys.client, "TTMY-F1")
    events = _all(client, keys.admin)
    ids = [e["id"] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    mine = [e for e in events if e["parcel_id"] == parcel]
    assert [e["type"] for e in mine] == ["ParcelRegistered", "DeliveryAttemptFailed",
                                         "DeliveryFailed"]
    history = client.get(f"/v1/parcels/{parcel}/history",
                         headers=bearer(keys.admin)).get_json()["events"]
    for entry, seen in zip(history, mine, strict=True):
        assert seen["data"] == entry["data"] and seen["version"] == entry["version"]
        assert seen["actor"] == entry["actor"] and seen["seller_id"] == "s1"
    # API keys are not in the feed: their events would show key hashes.
    assert not any(e["type"].startswith("ApiKey") for e in events)


def test_feed_pages_join_up_without_gaps_or_repeats(feed_app):
    keys, client = issue_keys(feed_app), feed_app.test_client()
    for n in range(4):
        _lifecycle(client, keys.client, f"TTMY-P{n}")
    whole = _page(client, keys.admin, limit=1000)["events"]
    assert [e["id"] for e in _all(client, keys.admin, limit=2)] == [e["id"] for e in whole]
    assert len(whole) == 12


def test_seller_key_never_sees_another_sellers_events(feed_app):
    keys, client = issue_keys(feed_app), feed_app.test_client()
    _lifecycle(client, keys.client, "TTMY-S1")
    theirs = _lifecycle(client, keys.other_seller, "TTMY-S2", seller="s2")
    post(client, keys.client, "/v1/return-addresses", ADDRESS)
    seen = _all(client, keys.other_seller)
    assert {e["seller_id"] for e in seen} == {"s2"}
    assert {e["parcel_id"] for e in seen} == {theirs}
    # Filtering by the other seller's parcel answers nothing, not a leak.
    s1_parcel = [e for e in _all(client, keys.client) if e["parcel_id"]][0]["parcel_id"]
    assert _page(client, keys.other_seller, parcel_id=s1_parcel)["events"] == []
    assert {e["aggregate_type"] for e in _all(client, keys.client)} == {"parcel",
                                                                        "return_address"}


def test_types_and_parcel_filters(feed_app):
    keys, client = issue_keys(feed_app), feed_app.test_client()
    first = _lifecycle(client, keys.client, "TTMY-T1")
    _lifecycle(client, keys.client, "TTMY-T2")
    failed = _all(client, keys.client, types="DeliveryFailed")
    assert len(failed) == 2 and {e["type"] for e in failed} == {"DeliveryFailed"}
    one = _all(client, keys.client, limit=1, parcel_id=first)
    assert [e["version"] for e in one] == [1, 2, 3]
    assert _all(client, keys.client, parcel_id=first, types="ParcelRegistered")[0][
        "version"] == 1


def test_bad_queries_are_problems(feed_app):
    keys, client = issue_keys(feed_app), feed_app.test_client()
    for query in ({"types": "NoSuchEvent"}, {"wait": "31"}, {"limit": "0"},
                  {"limit": "1001"}, {"after": "-1"}, {"parcel_id": "nope"}):
        response = client.get("/v1/events", query_string=query, headers=bearer(keys.admin))
        assert response.status_code == 422, query
        assert response.mimetype == "application/problem+json"
    assert client.get("/v1/events").status_code == 401


def test_long_poll_answers_as_soon_as_an_event_is_recorded(feed_app):
    keys, client = issue_keys(feed_app), feed_app.test_client()
    head = _page(client, keys.client)["head"]
    writer = threading.Timer(0.5, lambda: register(feed_app.test_client(), keys.client,
                                                   tracking="TTMY-LP"))
    started = time.monotonic()
    writer.start()
    page = _page(client, keys.client, after=head, wait=10)
    elapsed = time.monotonic() - started
    writer.join()
    assert [e["type"] for e in page["events"]] == ["ParcelRegistered"]
    assert 0.4 < elapsed < 5
    # Nothing new: the answer waits about `wait` seconds, then is empty with the same cursor.
    started = time.monotonic()
    empty = _page(client, keys.client, after=page["next"], wait=0.6)
    assert empty["events"] == [] and empty["next"] == page["next"]
    assert 0.5 < time.monotonic() - started < 3


def test_feed_shows_identity_data_sealed_as_the_history_does(feed_app):
    keys, client = issue_keys(feed_app), feed_app.test_client()
    address = post(client, keys.client, "/v1/return-addresses", {
        **ADDRESS, "platform": "lazada", "country": "CN", "seller_country": "CN",
        "address": {"lines": ["88 Jianguo Road"], "city": "Beijing", "postcode": "100022"},
    }).get_json()
    identity = {"name": "Tan Mei Ling", "id_number": "900101-14-5678",
                "document_front": "front.jpg", "document_back": "back.jpg",
                "occurred_at": "2026-01-02T00:00:00Z"}
    response = post(client, keys.client,
                    f"/v1/return-addresses/{address['id']}/real-name-verifications", identity)
    assert response.status_code == 201, response.get_json()
    page = _all(client, keys.client, types="RealNameVerified")
    assert len(page) == 1
    text = str(page[0]["data"])
    assert "Tan Mei Ling" not in text and "900101-14-5678" not in text
    ledger = feed_app.extensions["returns_ledger"].get()
    history = ledger.get_parcel_history(UUID(address["id"]))  # auditors replay addresses
    assert page[0]["data"] == history[-1].data
    assert set(page[0]["data"]["sealed_identity"]) == {"name", "id_number",
                                                       "document_front", "document_back"}


def test_openapi_documents_the_feed(feed_app):
    spec = feed_app.test_client().get("/openapi.json").get_json()
    get = spec["paths"]["/v1/events"]["get"]
    assert {p["name"] for p in get["parameters"]} >= {"after", "limit", "types",
                                                     "parcel_id", "wait"}
    assert "EventPageResponse" in str(get["responses"]["200"])


def test_every_event_class_of_the_public_aggregates_is_a_feed_type():
    from eventsourcing.domain import Aggregate

    from application.events_feed import KNOWN_TYPES, PUBLIC_AGGREGATES

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    for aggregate in PUBLIC_AGGREGATES.values():
        for event_class in subclasses(aggregate.Event):
            name = event_class.__name__
            if event_class.__qualname__.startswith(aggregate.__name__ + ".") and \
                    not hasattr(Aggregate, name):
                assert name in KNOWN_TYPES, name


def test_a_parcels_page_never_shows_an_event_again_when_one_lands_while_it_is_read(
        feed_app, monkeypatch):
    """The log's head is read before the parcel's events: one recorded in between is on
    this page, so `next` must be past it, or the following page shows it a second time."""
    from application.events_feed import EventFeed

    keys, client = issue_keys(feed_app), feed_app.test_client()
    parcel = register(client, keys.client, tracking="TTMY-RACE")
    ledger = feed_app.extensions["returns_ledger"].get()
    before = ledger.recorder.max_notification_id()
    post(client, keys.client, f"/v1/parcels/{parcel}/delivery-attempts", {"reason": "away"})
    monkeypatch.setattr(ledger.recorder, "max_notification_id", lambda: before)  # stale
    feed = EventFeed(ledger)
    first = feed.read(0, 100, parcel_id=UUID(parcel))
    assert [e["version"] for e in first.events] == [1, 2]
    monkeypatch.undo()
    again = feed.read(first.next, 100, parcel_id=UUID(parcel))
    assert again.events == [] and first.next >= first.events[-1]["id"]
