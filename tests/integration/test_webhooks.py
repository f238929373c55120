"""Webhooks end to end: real receivers on loopback, the dispatcher with a fake clock; on
SQLite and PostgreSQL. Signatures are checked with the spec's algorithm written out in
tests/integration/webhook_support.py, not with the ledger's own code."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from flask import Flask
from standardwebhooks.webhooks import Webhook

from application.events_feed import KNOWN_TYPES
from application.webhooks import WebhookEndpoints
from demo.scenarios import SCENARIOS
from domain.money import Money
from domain.values import Line, RefundComponent
from domain.webhooks import RULE_AUTO_DISABLE
from interfaces.api.ledger import SETTINGS_EXTENSION
from projections.webhooks import Dispatcher
from tests.api.conftest import ADDRESS as ADDRESS_BODY
from tests.api.conftest import Keys, bearer, issue_keys, make_app, post, register
from tests.integration.projection_support import drop_pg_schema
from tests.integration.webhook_support import FakeClock, Received, Receiver, verify


@dataclass
class Hooks:
    app: Flask
    keys: Keys
    clock: FakeClock
    dispatcher: Dispatcher
    receivers: list[Receiver] = field(default_factory=list)

    @property
    def client(self) -> Any:
        return self.app.test_client()

    @property
    def ledger(self) -> Any:
        return self.app.extensions["returns_ledger"].get()

    def receiver(self, behaviour: Any = None) -> Receiver:
        receiver = Receiver(behaviour) if behaviour else Receiver()
        self.receivers.append(receiver.start())
        return receiver

    def endpoint(self, token: str, url: str, **body: Any) -> dict[str, Any]:
        response = post(self.client, token, "/v1/webhook-endpoints", {"url": url, **body})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def feed(self, token: str, **query: Any) -> list[dict[str, Any]]:
        return self.client.get("/v1/events", query_string={"limit": 1000, **query},
                               headers=bearer(token)).get_json()["events"]

    def deliveries(self, token: str, endpoint_id: str) -> list[dict[str, Any]]:
        response = self.client.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries",
                                   query_string={"limit": 500}, headers=bearer(token))
        assert response.status_code == 200, response.get_json()
        return response.get_json()["items"]


def hooks_env(store_env: dict[str, str], **extra: str) -> dict[str, str]:
    env = {**store_env, "WEBHOOK_ALLOW_LOOPBACK": "yes", "WEBHOOK_TIMEOUT_SECONDS": "5",
           **extra}
    if env["PERSISTENCE_MODULE"] == "eventsourcing.postgres":
        env["VIEWS_POSTGRES_SCHEMA"] = f"{env['POSTGRES_SCHEMA']}_views"
    return env


@pytest.fixture
def hooks(store_env: dict[str, str]) -> Iterator[Hooks]:
    env = hooks_env(store_env)
    app = make_app(env)
    keys = issue_keys(app)
    clock = FakeClock(datetime.now(UTC))
    dispatcher = Dispatcher(app.extensions[SETTINGS_EXTENSION], clock=clock,
                            rng=random.Random(7)).start()
    assert dispatcher.active.wait(20), "the dispatcher did not start"
    made = Hooks(app, keys, clock, dispatcher)
    try:
        yield made
    finally:
        dispatcher.stop()
        for receiver in made.receivers:
            receiver.stop()
        app.extensions["returns_ledger"].close()
        app.extensions["returns_ledger_webhooks"].close()
        if "VIEWS_POSTGRES_SCHEMA" in env:
            drop_pg_schema(env["VIEWS_POSTGRES_SCHEMA"])


def _positions(received: list[Received]) -> list[int]:
    return [r.json["data"]["id"] for r in received]


T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
ADDRESS = {"lines": ["No. 8, Jalan Example"], "city": "Kuala Lumpur", "postcode": "50000"}


def _parcel(ledger: Any, platform: str, site: str, tag: str, price: str, currency: str,
            **extra: Any) -> Any:
    unit = Money.of(price, currency)
    return ledger.register_parcel(
        platform=platform, site=site, seller_id="seller-rest", order_id=f"O-{tag}",
        order_created_at=T0, tracking_number=f"TRK-{tag}", lines=[Line("SKU-R", 1, unit)],
        amount_paid=unit, occurred_at=T0 + DAY, **extra).id


def _the_other_event_types(hooks: Hooks) -> None:
    """The event types the demo's scenarios do not record, each at least once."""
    ledger = hooks.ledger
    held = _parcel(ledger, "tiktok_shop", "TH", "HELD", "100.00", "THB")  # TT-2, TT-8
    ledger.record_failed_delivery(held, "refused", T0 + 4 * DAY)
    ledger.route_return(held, T0 + 5 * DAY)
    ledger.contact_buyer(held, T0 + 6 * DAY)
    ledger.request_redelivery(held, T0 + 7 * DAY, requested_by="buyer")
    ledger.record_delivery(held, T0 + 8 * DAY)
    ledger.correct_parcel(held, "site", "MY", "typed the wrong site", T0 + 9 * DAY)  # RL-2
    mistake = _parcel(ledger, "tiktok_shop", "MY", "VOID", "10.00", "MYR")
    ledger.void_parcel(mistake, "a test parcel", T0 + 2 * DAY)
    address = ledger.register_return_address(
        seller_id="seller-rest", platform="tiktok_shop", country="MY", address=ADDRESS,
        effective_from=T0 - 30 * DAY, occurred_at=T0 - 30 * DAY)
    lost = _parcel(ledger, "tiktok_shop", "MY", "LOST", "10.00", "MYR")  # TT-5
    ledger.record_failed_delivery(lost, "refused", T0 + 3 * DAY)
    ledger.route_return(lost, T0 + 4 * DAY)
    ledger.record_return_failure(lost, "carrier", T0 + 6 * DAY)
    ticket = ledger.open_investigation(lost, "failed_return", T0 + 7 * DAY).extra[
        "investigation_id"]
    ledger.resolve_investigation(lost, ticket, "lost by the carrier", "provider", T0 + 8 * DAY)
    ledger.dispose(lost, "abandoned", T0 + 9 * DAY)
    ledger.deactivate_return_address(address.id, "moved", T0 + 10 * DAY)

    def eur(amount: str) -> Money:
        return Money.of(amount, "EUR")

    amazon = _parcel(ledger, "amazon", "DE", "AMZ", "900.00", "EUR",  # AM-3, AM-4, AM-6
                     shipping_paid=eur("10.00"))
    ledger.record_delivery(amazon, T0 + DAY)
    ledger.request_return(amazon, "broken", seller_fault=True, occurred_at=T0 + 2 * DAY,
                          return_shipping_cost=eur("7.50"))
    ledger.route_return(amazon, T0 + 2 * DAY)
    ledger.issue_return_label(amazon, "DHL", "DHL-REST", T0 + 2 * DAY)
    ledger.receive(amazon, T0 + 5 * DAY)
    ledger.inspect(amazon, "damaged", T0 + 5 * DAY)
    ledger.request_refund(amazon, "R-1", [RefundComponent("item", eur("900.00"))],
                          T0 + 6 * DAY, actor="clerk")
    ledger.reject_refund(amazon, "R-1", "no proof", T0 + 7 * DAY, actor="finance-lead")
    ledger.request_refund(amazon, "R-2", [RefundComponent("item", eur("100.00"))], T0 + 8 * DAY)
    ledger.record_refund_failure(amazon, "R-2", "card expired", T0 + 8 * DAY, actor="psp")
    ledger.request_refund(amazon, "R-3", [RefundComponent("shipping", eur("10.00"))],
                          T0 + 8 * DAY)
    ledger.reverse_refund(amazon, "R-3", "charged back", T0 + 9 * DAY, actor="finance")
    ledger.agree_replacement(amazon, "AMZ-REPLACEMENT", T0 + 10 * DAY)
    for name in ("Mug", "Ceramic mug"):  # entered, then corrected
        ledger.set_customs_profile(seller_id="seller-rest", sku="SKU-R", hs_code="691200",
                                   declared_name_local=name, declared_name_en=name,
                                   declared_value=Money.of("3.50", "USD"), material="ceramic",
                                   use="drinking", brand="NoBrand", occurred_at=T0)
    # Another endpoint's whole life: changed, rotated, disabled (WH-1), deleted.
    other = hooks.endpoint(hooks.keys.client, "http://127.0.0.1:9/other")
    path = f"/v1/webhook-endpoints/{other['id']}"
    assert hooks.client.patch(path, json={"description": "changed"},
                              headers=bearer(hooks.keys.client)).status_code == 200
    assert post(hooks.client, hooks.keys.client, f"{path}/secret-rotations").status_code == 201
    now = datetime.now(UTC)
    assert WebhookEndpoints(ledger).disable_for_failures(
        UUID(other["id"]), now - timedelta(hours=73), "HTTP 500", now)
    assert hooks.client.delete(path, headers=bearer(hooks.keys.client)).status_code == 204


def test_every_event_type_reaches_its_endpoint_exactly_as_in_the_feed(hooks):
    receiver = hooks.receiver()
    made = hooks.endpoint(hooks.keys.admin, receiver.url)
    for name, scenario in SCENARIOS.items():
        scenario(hooks.ledger, f"-{name}")
    _the_other_event_types(hooks)
    # Everything recorded after the endpoint was created, the endpoint's own creation too.
    created = _created_at(hooks, made["id"])
    wanted = [e for e in hooks.feed(hooks.keys.admin) if e["id"] >= created]
    seen = receiver.wait_for(lambda got: len(got) >= len(wanted))
    # Exactly the feed's entries (other parcels' events may overtake each other) ...
    assert sorted((r.json["data"] for r in seen), key=lambda e: e["id"]) == wanted
    # ... each aggregate's in its order.
    by_aggregate: dict[str, list[int]] = {}
    for request in seen:
        by_aggregate.setdefault(request.json["data"]["aggregate_id"], []).append(
            request.json["data"]["version"])
    assert all(versions == sorted(versions) for versions in by_aggregate.values())
    assert {r.json["type"] for r in seen} == KNOWN_TYPES  # every type the feed knows
    reference = Webhook(made["secret"])  # the specification's own library
    for request in seen:
        assert verify(made["secret"], request.headers, request.body)
        assert reference.verify(request.body, request.headers) == request.json
        assert request.webhook_id == f"msg_{request.json['data']['id']}"
        assert abs(int(request.headers["webhook-timestamp"]) -
                   hooks.clock().timestamp()) < 5


def _created_at(hooks: Hooks, endpoint_id: str) -> int:
    return next(e["id"] for e in hooks.feed(hooks.keys.admin, types="WebhookEndpointCreated")
                if e["aggregate_id"] == endpoint_id)


def test_a_sellers_endpoint_never_receives_another_sellers_events(hooks):
    mine, theirs = hooks.receiver(), hooks.receiver()
    hooks.endpoint(hooks.keys.client, mine.url)
    hooks.endpoint(hooks.keys.other_seller, theirs.url)
    register(hooks.client, hooks.keys.client, tracking="TT-S1-A", seller="s1")
    register(hooks.client, hooks.keys.other_seller, tracking="TT-S2-A", seller="s2")
    response = post(hooks.client, hooks.keys.other_seller, "/v1/return-addresses",
                    {**ADDRESS_BODY, "seller_id": "s2"})
    assert response.status_code == 201, response.get_json()
    register(hooks.client, hooks.keys.client, tracking="TT-S1-B", seller="s1")
    mine.wait_for(lambda got: sum(r.json["type"] == "ParcelRegistered" for r in got) == 2)
    theirs.wait_for(lambda got: {"ParcelRegistered", "ReturnAddressRegistered"} <= {
        r.json["type"] for r in got})
    time.sleep(0.3)  # anything still on its way to the wrong endpoint has arrived
    assert {r["data"]["seller_id"] for r in mine.bodies()} == {"s1"}
    assert {r["data"]["seller_id"] for r in theirs.bodies()} == {"s2"}
    # A client key cannot aim its endpoint at another seller.
    response = post(hooks.client, hooks.keys.client, "/v1/webhook-endpoints",
                    {"url": mine.url, "seller_id": "s2"})
    assert response.status_code == 403


def test_event_types_filter_what_an_endpoint_receives(hooks):
    receiver = hooks.receiver()
    hooks.endpoint(hooks.keys.client, receiver.url, event_types=["DeliveryFailed"])
    parcel = register(hooks.client, hooks.keys.client, tracking="TT-TYPES")
    post(hooks.client, hooks.keys.client, f"/v1/parcels/{parcel}/delivery-failures",
         {"reason": "refused"})
    seen = receiver.wait_for(lambda got: len(got) >= 1)
    assert [r.json["type"] for r in seen] == ["DeliveryFailed"]


def _fails_for(parcel_ids: set[str]) -> Any:
    def behaviour(receiver: Receiver, request: Received) -> tuple[int, dict[str, str], bytes]:
        parcel = request.json["data"].get("parcel_id")
        return (500, {}, b"down") if parcel in parcel_ids else (200, {}, b"")
    return behaviour


def test_order_per_parcel_holds_while_another_parcel_fails(hooks):
    failing: set[str] = set()
    receiver = hooks.receiver(_fails_for(failing))
    types = ["ParcelRegistered", "DeliveryAttemptFailed", "DeliveryFailed"]
    made = hooks.endpoint(hooks.keys.client, receiver.url, event_types=types)
    down = hooks.receiver(lambda r, q: (503, {}, b""))  # another endpoint, failing throughout
    hooks.endpoint(hooks.keys.client, down.url, event_types=types)
    a = register(hooks.client, hooks.keys.client, tracking="TT-ORD-A")
    failing.add(a)
    post(hooks.client, hooks.keys.client, f"/v1/parcels/{a}/delivery-attempts",
         {"reason": "nobody home"})
    b = register(hooks.client, hooks.keys.client, tracking="TT-ORD-B")
    for _ in range(2):
        post(hooks.client, hooks.keys.client, f"/v1/parcels/{b}/delivery-attempts",
             {"reason": "nobody home"})
    # b's three events arrive although a's first one keeps failing.
    receiver.wait_for(lambda got: sum(r.json["data"]["parcel_id"] == b for r in got) >= 3)
    assert [r.json["data"]["version"] for r in receiver.received
            if r.json["data"]["parcel_id"] == b] == [1, 2, 3]  # b's in its order
    a_seen = [r for r in receiver.received if r.json["data"]["parcel_id"] == a]
    assert {r.json["type"] for r in a_seen} == {"ParcelRegistered"}  # never the later one
    failing.clear()
    hooks.clock.advance(3600)  # past any retry delay
    receiver.wait_for(lambda got: any(r.json["data"]["parcel_id"] == a and
                                      r.json["type"] == "DeliveryAttemptFailed" for r in got))
    delivered_a = [r.json["data"]["version"] for r in receiver.received
                   if r.json["data"]["parcel_id"] == a]
    assert delivered_a[-2:] == [1, 2]  # retried first, then the next one
    # The endpoint failing throughout got only each parcel's first event, again and again.
    assert {(r.json["data"]["parcel_id"], r.json["data"]["version"])
            for r in down.received} <= {(a, 1), (b, 1)}
    log = hooks.deliveries(hooks.keys.client, made["id"])
    first_a = next(d for d in log if d["position"] == min(
        x["position"] for x in log if x["status"] == "delivered" and x["attempts"] > 1))
    assert first_a["attempt_log"][0]["status_code"] == 500
    assert first_a["attempt_log"][-1]["outcome"] == "delivered"


def test_retries_follow_the_documented_schedule(hooks):
    answers = iter([(500, {}), (503, {}), (408, {}), (429, {"Retry-After": "7"}), (200, {})])

    def behaviour(receiver: Receiver, request: Received) -> tuple[int, dict[str, str], bytes]:
        status, headers = next(answers, (200, {}))
        return status, headers, b""

    receiver = hooks.receiver(behaviour)
    made = hooks.endpoint(hooks.keys.client, receiver.url, event_types=["ParcelRegistered"])
    register(hooks.client, hooks.keys.client, tracking="TT-RETRY")
    base = hooks.dispatcher.config.retry_base_seconds
    for attempt in range(1, 5):
        receiver.wait_for(lambda got, n=attempt: len(got) >= n)
        row = _settled(hooks, made["id"], attempt)
        delay = (datetime.fromisoformat(row["next_attempt_at"].replace("Z", "+00:00"))
                 - datetime.fromisoformat(row["attempt_log"][-1]["started_at"]
                                          .replace("Z", "+00:00"))).total_seconds()
        if attempt < 4:  # 50-100 % of base x 2^(n-1)
            assert 0.5 * base * 2 ** (attempt - 1) - 0.01 <= delay <= base * 2 ** (attempt - 1)
        else:
            assert 6.99 <= delay <= 7.01  # Retry-After honoured
        assert len(receiver.received) == attempt  # nothing before it is due
        hooks.clock.advance(delay - 0.001)
        assert len(receiver.received) == attempt
        hooks.clock.advance(0.002)
    receiver.wait_for(lambda got: len(got) == 5)
    final = _settled(hooks, made["id"], 5)
    assert final["status"] == "delivered"
    assert [a["status_code"] for a in final["attempt_log"]] == [500, 503, 408, 429, 200]
    assert len({r.webhook_id for r in receiver.received}) == 1  # the same id every time


def _settled(hooks: Hooks, endpoint_id: str, attempts: int) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = [d for d in hooks.deliveries(hooks.keys.client, endpoint_id)
                if d["attempts"] >= attempts]
        if rows:
            return rows[0]
        time.sleep(0.02)
    raise AssertionError(f"no delivery settled {attempts} attempts")


@pytest.mark.parametrize("status", [400, 401, 404, 410, 302])
def test_other_4xx_and_redirects_fail_for_good(hooks, status):
    target = hooks.receiver()

    def behaviour(receiver: Receiver, request: Received) -> tuple[int, dict[str, str], bytes]:
        return status, {"Location": target.url}, b""

    receiver = hooks.receiver(behaviour)
    made = hooks.endpoint(hooks.keys.client, receiver.url, event_types=["ParcelRegistered"])
    register(hooks.client, hooks.keys.client, tracking=f"TT-PERM-{status}")
    row = _settled(hooks, made["id"], 1)
    hooks.clock.advance(7200)
    time.sleep(0.5)
    assert len(receiver.received) == 1 and row["status"] == "failed"
    assert target.received == []  # the redirect was not followed


def test_replay_sends_again_exactly_what_followed_the_position(hooks):
    receiver = hooks.receiver()
    made = hooks.endpoint(hooks.keys.client, receiver.url, event_types=[
        "ParcelRegistered", "DeliveryAttemptFailed"])
    parcel = register(hooks.client, hooks.keys.client, tracking="TT-REPLAY")
    for _ in range(3):
        post(hooks.client, hooks.keys.client, f"/v1/parcels/{parcel}/delivery-attempts",
             {"reason": "nobody home"})
    first = receiver.wait_for(lambda got: len(got) == 4)
    positions = _positions(first)
    cut = positions[1]
    response = hooks.client.post(f"/v1/webhook-endpoints/{made['id']}/replay",
                                 query_string={"from": cut}, headers=bearer(hooks.keys.client))
    assert response.status_code == 202 and response.get_json() == {"requeued": 2}
    again = receiver.wait_for(lambda got: len(got) == 6)[4:]
    assert _positions(again) == positions[2:]
    assert [r.webhook_id for r in again] == [r.webhook_id for r in first[2:]]
    assert [r.body for r in again] == [r.body for r in first[2:]]


def test_secret_rotation_signs_with_both_during_the_grace_period(hooks):
    receiver = hooks.receiver()
    made = hooks.endpoint(hooks.keys.client, receiver.url, event_types=["ParcelRegistered"])
    response = post(hooks.client, hooks.keys.client,
                    f"/v1/webhook-endpoints/{made['id']}/secret-rotations")
    assert response.status_code == 201
    new = response.get_json()["secret"]
    assert new != made["secret"] and new.startswith("whsec_")
    time.sleep(2.2)  # the dispatcher's secret cache
    register(hooks.client, hooks.keys.client, tracking="TT-ROT-1")
    during = receiver.wait_for(lambda got: len(got) == 1)[0]
    assert verify(new, during.headers, during.body)
    assert verify(made["secret"], during.headers, during.body)
    for secret in (new, made["secret"]):  # and with the specification's own library
        Webhook(secret).verify(during.body, during.headers)
    hooks.clock.advance(25 * 3600)  # past WEBHOOK_SECRET_GRACE_HOURS (24)
    time.sleep(2.2)
    register(hooks.client, hooks.keys.client, tracking="TT-ROT-2")
    after = receiver.wait_for(lambda got: len(got) == 2)[1]
    assert verify(new, after.headers, after.body)
    assert not verify(made["secret"], after.headers, after.body)


def test_wh1_an_endpoint_failing_too_long_is_disabled_with_an_event(hooks):
    receiver = hooks.receiver(lambda r, q: (500, {}, b""))
    made = hooks.endpoint(hooks.keys.client, receiver.url, event_types=["ParcelRegistered"])
    register(hooks.client, hooks.keys.client, tracking="TT-DIS")
    receiver.wait_for(lambda got: len(got) >= 1)
    hooks.clock.advance(73 * 3600)  # WEBHOOK_DISABLE_AFTER_HOURS defaults to 72
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        shown = hooks.client.get(f"/v1/webhook-endpoints/{made['id']}",
                                 headers=bearer(hooks.keys.client)).get_json()
        if not shown["enabled"]:
            break
        time.sleep(0.05)
    assert shown["enabled"] is False and shown["disabled_reason"]["rule"] == RULE_AUTO_DISABLE
    disabled = hooks.feed(hooks.keys.client, types="WebhookEndpointDisabled")
    assert len(disabled) == 1 and disabled[0]["data"]["rule"] == RULE_AUTO_DISABLE
    assert float(disabled[0]["data"]["facts"]["failing_hours"]) >= 72
    # Disabled: nothing more is sent.
    time.sleep(0.5)
    count = len(receiver.received)
    register(hooks.client, hooks.keys.client, tracking="TT-DIS-2")
    hooks.clock.advance(7200)
    time.sleep(1.0)
    assert len(receiver.received) == count


def test_test_delivery_and_the_delivery_log(hooks):
    receiver = hooks.receiver()
    made = hooks.endpoint(hooks.keys.client, receiver.url)
    response = post(hooks.client, hooks.keys.client, f"/v1/webhook-endpoints/{made['id']}/test")
    assert response.status_code == 202
    webhook_id = response.get_json()["webhook_id"]
    got = receiver.wait_for(lambda seen: any(r.webhook_id == webhook_id for r in seen))
    test = next(r for r in got if r.webhook_id == webhook_id)
    assert test.json["type"] == "WebhookTest" and verify(made["secret"], test.headers, test.body)
    row = _settled(hooks, made["id"], 1)
    assert row["attempt_log"][0]["duration_ms"] >= 0
    metrics = hooks.client.get("/metrics").get_data(as_text=True)
    assert f'webhook_attempts_total{{endpoint="{made["id"]}",outcome="delivered"}}' in metrics
    assert "webhook_queue_age_seconds" in metrics or "webhook_pending_deliveries" in metrics


def _metric(text: str, name: str, **labels: str) -> float | None:
    wanted = name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_metrics_count_deliveries_retries_failures_and_queue_age_per_endpoint(hooks):
    flaky_answers = iter([500])
    flaky = hooks.receiver(lambda r, q: (next(flaky_answers, 200), {}, b""))
    refusing = hooks.receiver(lambda r, q: (400, {}, b""))
    down = hooks.receiver(lambda r, q: (500, {}, b""))
    made = {name: hooks.endpoint(hooks.keys.client, receiver.url,
                                 event_types=["ParcelRegistered"])["id"]
            for name, receiver in (("flaky", flaky), ("refusing", refusing), ("down", down))}
    register(hooks.client, hooks.keys.client, tracking="TT-METRICS")
    for receiver in (flaky, refusing, down):
        receiver.wait_for(lambda got: len(got) >= 1)
    _settled(hooks, made["down"], 1)
    hooks.clock.advance(3600)  # the flaky one's retry is due; the down one fails again
    flaky.wait_for(lambda got: len(got) >= 2)
    _settled(hooks, made["flaky"], 2)
    _settled(hooks, made["down"], 2)
    text = hooks.client.get("/metrics").get_data(as_text=True)
    attempts = "webhook_attempts_total"
    assert _metric(text, attempts, endpoint=made["flaky"], outcome="retry") == 1
    assert _metric(text, attempts, endpoint=made["flaky"], outcome="delivered") == 1
    assert _metric(text, attempts, endpoint=made["refusing"], outcome="failed") == 1
    assert _metric(text, attempts, endpoint=made["refusing"], outcome="delivered") is None
    assert _metric(text, attempts, endpoint=made["down"], outcome="retry") == 2
    pending = "webhook_pending_deliveries"
    assert _metric(text, pending, endpoint=made["down"]) == 1
    assert _metric(text, pending, endpoint=made["flaky"]) is None  # nothing pending
    age = _metric(text, "webhook_queue_age_seconds", endpoint=made["down"])
    assert age is not None and age > 0  # its creation, on the fixture's clock, is past
