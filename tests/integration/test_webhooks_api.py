"""Webhook endpoints over HTTP: CRUD as events, the secret shown once and kept sealed, seller
scope, and the SSRF guard at creation and at send time; on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from flask import Flask

from application.webhooks import WebhookEndpoints
from infrastructure.webhook_http import (
    MAX_RESPONSE_BYTES,
    DestinationPolicy,
    UnsafeDestinationError,
    WebhookClient,
    new_secret,
    sign,
)
from tests.api.conftest import bearer, issue_keys, make_app, post
from tests.integration.webhook_support import Receiver, verify

# The Standard Webhooks specification's own test vector.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID, SPEC_TS, SPEC_BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.fixture
def api(store_env) -> Iterator[Flask]:
    app = make_app({**store_env, "WEBHOOK_ALLOW_LOOPBACK": "yes"})
    yield app
    app.extensions["returns_ledger"].close()
    app.extensions["returns_ledger_webhooks"].close()


@pytest.fixture
def strict(sqlite_env) -> Iterator[Flask]:
    """Loopback not allowed: the production default."""
    app = make_app(sqlite_env)
    yield app
    app.extensions["returns_ledger"].close()


def test_signing_matches_the_specs_test_vector():
    from datetime import UTC, datetime

    from standardwebhooks.webhooks import Webhook

    assert sign(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIGNATURE
    assert Webhook(SPEC_SECRET).sign(SPEC_ID, datetime.fromtimestamp(SPEC_TS, UTC),
                                     SPEC_BODY.decode()) == SPEC_SIGNATURE
    body = '{"data":{"name":"Tan Mei Ling","city":"Kuala Lumpur – KL"}}'.encode()
    secret = new_secret()  # one of ours, a body with non-ASCII UTF-8 as the feed sends
    assert Webhook(secret).sign("msg_1", datetime.fromtimestamp(SPEC_TS, UTC),
                                body.decode()) == sign(secret, "msg_1", SPEC_TS, body)
    assert verify(SPEC_SECRET, {"webhook-id": SPEC_ID, "webhook-timestamp": str(SPEC_TS),
                                "webhook-signature": f"v1,bogus {SPEC_SIGNATURE}"}, SPEC_BODY)


def test_crud_each_change_an_event_and_the_secret_shown_once(api, caplog):
    keys, client = issue_keys(api), api.test_client()
    caplog.set_level(logging.DEBUG)
    created = post(client, keys.client, "/v1/webhook-endpoints",
                   {"url": "http://127.0.0.1:9/hook", "event_types": ["RefundIssued"],
                    "description": "ERP"})
    assert created.status_code == 201
    body = created.get_json()
    endpoint_id, secret = body["id"], body["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    assert created.headers["Location"] == f"/v1/webhook-endpoints/{endpoint_id}"
    assert body["seller_id"] == "s1" and body["enabled"] is True
    shown = client.get(f"/v1/webhook-endpoints/{endpoint_id}", headers=bearer(keys.client))
    listed = client.get("/v1/webhook-endpoints", headers=bearer(keys.client))
    assert secret not in shown.get_data(as_text=True) + listed.get_data(as_text=True)
    assert [e["id"] for e in listed.get_json()["items"]] == [endpoint_id]
    changed = client.patch(f"/v1/webhook-endpoints/{endpoint_id}", headers=bearer(keys.client),
                           json={"enabled": False, "event_types": []})
    assert changed.status_code == 200 and changed.get_json()["enabled"] is False
    rotated = post(client, keys.client, f"/v1/webhook-endpoints/{endpoint_id}/secret-rotations")
    new_secret = rotated.get_json()["secret"]
    assert rotated.status_code == 201 and new_secret != secret
    assert rotated.get_json()["previous_secret_valid_until"]
    assert client.delete(f"/v1/webhook-endpoints/{endpoint_id}",
                         headers=bearer(keys.client)).status_code == 204
    assert client.get(f"/v1/webhook-endpoints/{endpoint_id}",
                      headers=bearer(keys.client)).status_code == 404
    feed = client.get("/v1/events", query_string={"types": ",".join([
        "WebhookEndpointCreated", "WebhookEndpointChanged", "WebhookSecretRotated",
        "WebhookEndpointDeleted"])}, headers=bearer(keys.client)).get_json()["events"]
    assert [e["type"] for e in feed] == ["WebhookEndpointCreated", "WebhookEndpointChanged",
                                         "WebhookSecretRotated", "WebhookEndpointDeleted"]
    assert feed[1]["data"]["changes"] == {"enabled": False, "event_types": []}
    # The secret is not in the feed even sealed: the creator saw it once, and the feed
    # (and every webhook built from it) goes to other endpoints and keys too.
    assert feed[0]["data"]["sealed_secret"] == {"secret": "withheld"}
    assert feed[2]["data"]["sealed_secret"] == {"secret": "withheld"}
    # Sealed in the store, never in a log line, and unreadable once the endpoint is deleted.
    ledger = api.extensions["returns_ledger"].get()
    stored = b"".join(bytes(s.state) for s in ledger.recorder.select_events(UUID(endpoint_id)))
    for event in ledger.events.get(UUID(endpoint_id)):
        for sealed in (getattr(event, "sealed_secret", None) or {}).values():
            assert sealed.encode() in stored and sealed not in str(feed)
    for clear in (secret, new_secret):
        assert clear.encode() not in stored and clear not in str(feed)
        assert all(clear not in str(vars(r)) for r in caplog.records)
    assert ledger.vault.is_erased(f"webhook-endpoint:{endpoint_id}")


def test_seller_scope_and_roles(api):
    keys, client = issue_keys(api), api.test_client()
    mine = post(client, keys.client, "/v1/webhook-endpoints",
                {"url": "http://127.0.0.1:9/a"}).get_json()
    post(client, keys.other_seller, "/v1/webhook-endpoints", {"url": "http://127.0.0.1:9/b"})
    admin_all = post(client, keys.admin, "/v1/webhook-endpoints",
                     {"url": "http://127.0.0.1:9/c"}).get_json()
    assert admin_all["seller_id"] is None
    for path in (f"/v1/webhook-endpoints/{mine['id']}",
                 f"/v1/webhook-endpoints/{mine['id']}/deliveries"):
        assert client.get(path, headers=bearer(keys.other_seller)).status_code == 404
    for path in ("", "/replay?from=0", "/test", "/secret-rotations"):
        response = post(client, keys.other_seller, f"/v1/webhook-endpoints/{mine['id']}{path}")
        assert response.status_code in (404, 405), path
    assert client.delete(f"/v1/webhook-endpoints/{mine['id']}",
                         headers=bearer(keys.other_seller)).status_code == 404
    theirs = client.get("/v1/webhook-endpoints", headers=bearer(keys.other_seller)).get_json()
    assert [e["seller_id"] for e in theirs["items"]] == ["s2"]
    assert len(client.get("/v1/webhook-endpoints",
                          headers=bearer(keys.auditor)).get_json()["items"]) == 3
    assert post(client, keys.auditor, "/v1/webhook-endpoints",
                {"url": "http://127.0.0.1:9/d"}).status_code == 403
    assert post(client, keys.finance, "/v1/webhook-endpoints",
                {"url": "http://127.0.0.1:9/d"}).status_code == 403
    # The answer with the secret is never kept for an Idempotency-Key replay.
    response = post(client, keys.client, "/v1/webhook-endpoints",
                    {"url": "http://127.0.0.1:9/e"}, **{"Idempotency-Key": "k1"})
    assert response.status_code == 400


@pytest.mark.parametrize("url", [
    "http://example.com/hook",  # plain http off loopback
    "https://10.0.0.8/hook", "https://192.168.1.1/hook", "https://172.16.0.1/hook",
    "https://169.254.169.254/latest/meta-data", "https://[fe80::1]/hook",
    "https://[::ffff:169.254.169.254]/hook", "https://[fd00:ec2::254]/hook",
    "https://100.64.0.1/hook", "https://0.0.0.0/hook", "https://224.0.0.1/hook",
    "https://127.0.0.1/hook", "https://localhost/hook", "https://[::1]/hook",
    # IPv4 inside IPv6: NAT64 of the metadata and a private address, 6to4, IPv4-compatible
    "https://[64:ff9b::a9fe:a9fe]/hook", "https://[64:ff9b::a00:1]/hook",
    "https://[64:ff9b:1::c0a8:101]/hook", "https://[2002:a00:1::]/hook",
    "https://[::a00:1]/hook",
    "https://user:pw@example.com/hook", "ftp://example.com/hook", "/relative",
    "https://example.com/hook#frag",
])
def test_ssrf_targets_are_refused_at_creation(strict, url):
    keys, client = issue_keys(strict), strict.test_client()
    response = post(client, keys.admin, "/v1/webhook-endpoints", {"url": url})
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == "application/problem+json"


def test_unknown_event_types_are_refused(api):
    keys, client = issue_keys(api), api.test_client()
    response = post(client, keys.client, "/v1/webhook-endpoints",
                    {"url": "http://127.0.0.1:9/x", "event_types": ["NoSuch"]})
    assert response.status_code == 422


def test_a_change_is_checked_like_a_creation(api):
    keys, client = issue_keys(api), api.test_client()
    made = post(client, keys.client, "/v1/webhook-endpoints",
                {"url": "http://127.0.0.1:9/x"}).get_json()
    for change in ({"url": "https://169.254.169.254/"}, {"url": "http://10.1.1.1/"},
                   {"event_types": ["NoSuch"]}, {"enabled": "maybe"}):
        response = client.patch(f"/v1/webhook-endpoints/{made['id']}", json=change,
                                headers=bearer(keys.client))
        assert response.status_code == 422, change
    shown = client.get(f"/v1/webhook-endpoints/{made['id']}", headers=bearer(keys.client))
    assert shown.get_json()["url"] == "http://127.0.0.1:9/x" and shown.get_json()[
        "version"] == 1


def test_send_time_guard_refuses_what_the_settings_do_not_allow(api):
    receiver = Receiver().start()
    try:
        refused = WebhookClient(DestinationPolicy(allow_loopback=False), 2.0).post(
            receiver.url, b"{}", {})
        assert refused.refused and not refused.retryable and receiver.received == []
        allowed = WebhookClient(DestinationPolicy(allow_loopback=True), 2.0).post(
            receiver.url, b"{}", {})
        assert allowed.delivered
    finally:
        receiver.stop()


def test_answers_are_read_only_up_to_the_bound_and_slow_ones_time_out():
    huge = Receiver(lambda r, q: (200, {}, b"x" * (MAX_RESPONSE_BYTES * 40))).start()
    slow = Receiver(lambda r, q: (time.sleep(3), (200, {}, b""))[1]).start()
    client = WebhookClient(DestinationPolicy(allow_loopback=True), 1.0)
    try:
        answer = client.post(huge.url, b"{}", {})
        assert answer.delivered and client._idle.get(("http", "127.0.0.1",
                                                      huge.server.server_address[1])) is None
        started = time.monotonic()
        timed_out = client.post(slow.url, b"{}", {})
        assert timed_out.status is None and timed_out.retryable
        assert "timeout" in (timed_out.error or "") and time.monotonic() - started < 2.5
    finally:
        client.close()
        huge.stop()
        slow.stop()


def test_a_deleted_endpoints_secret_cannot_be_opened(api):
    ledger = api.extensions["returns_ledger"].get()
    from datetime import UTC, datetime

    cases = WebhookEndpoints(ledger)
    made = cases.create(seller_id="s1", url="http://127.0.0.1:9/z", types=None,
                        description=None, enabled=True, occurred_at=datetime.now(UTC),
                        actor="test")
    endpoint = cases.get(made.endpoint.id)
    assert cases.signing_secrets(endpoint, datetime.now(UTC)) == [made.secret]
    cases.delete(made.endpoint.id, datetime.now(UTC), "test")
    assert cases.signing_secrets(endpoint, datetime.now(UTC)) == []


def test_the_readme_receiver_verifies_our_signatures(capsys):
    """The integrators' receiver in the README, run as written against the dispatcher's
    signing: a signed POST is accepted once (a repeat is deduplicated), a forged one
    refused, a test message taken; a delivery whose work failed is done on its retry."""
    import re
    import threading
    from pathlib import Path

    from infrastructure.webhook_http import signature_header

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    code = re.search(r"```python\n(import base64.*?)```", readme, re.S).group(1)
    secret = new_secret()
    code = code.replace('"whsec_..."', repr(secret)).replace(
        'HTTPServer(("127.0.0.1", 8080), Hook).serve_forever()', "")
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    server = namespace["HTTPServer"](("127.0.0.1", 0), namespace["Hook"])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    client = WebhookClient(DestinationPolicy(allow_loopback=True), 2.0)
    body = b'{"type":"RefundIssued","data":{"id":7,"type":"RefundIssued","parcel_id":"p"}}'
    stamp = int(time.time())
    headers = {"webhook-id": "msg_7", "webhook-timestamp": str(stamp),
               "webhook-signature": signature_header([new_secret(), secret], "msg_7",
                                                     stamp, body)}
    try:
        assert client.post(url, body, headers).status == 204
        assert client.post(url, body, headers).status == 204  # a repeat: deduplicated
        forged = {**headers, "webhook-signature": signature_header([new_secret()], "msg_7",
                                                                   stamp, body)}
        assert client.post(url, body, forged).status == 401
        from datetime import UTC, datetime
        from uuid import uuid4

        from application.webhooks import test_body

        test = test_body(uuid4(), "msg_test_1", datetime.now(UTC)).encode()
        assert client.post(url, test, {**headers, "webhook-id": "msg_test_1",
                                       "webhook-signature": signature_header(
                                           [secret], "msg_test_1", stamp, test)}).status == 204
        failures = iter([OSError("the ERP's database is away")])

        def work(*args: object) -> None:  # the receiver's work fails once
            failure = next(failures, None)
            if failure is not None:
                raise failure
            print(*args)

        namespace["print"] = work
        body = body.replace(b"7", b"8")
        again = {**headers, "webhook-id": "msg_8",
                 "webhook-signature": signature_header([secret], "msg_8", stamp, body)}
        assert client.post(url, body, again).status is None  # no answer: retried
        assert client.post(url, body, again).status == 204
    finally:
        client.close()
        server.shutdown()
    out = capsys.readouterr().out
    assert out.count("7 RefundIssued p") == 1 and out.count("None WebhookTest None") == 1
    assert out.count("8 RefundIssued p") == 1  # done on the retry, not lost


def test_the_embedded_default_runs_the_dispatcher_in_the_api_process(sqlite_env):
    from tests.api.conftest import register

    receiver = Receiver().start()
    app = make_app({**sqlite_env, "WEBHOOK_ALLOW_LOOPBACK": "yes", "WEBHOOK_IN_PROCESS": "yes"})
    try:
        keys, client = issue_keys(app), app.test_client()
        post(client, keys.client, "/v1/webhook-endpoints",
             {"url": receiver.url, "event_types": ["ParcelRegistered"]})
        parcel = register(client, keys.client, tracking="TT-INPROC")
        got = receiver.wait_for(lambda seen: len(seen) >= 1)
        assert got[0].json["data"]["parcel_id"] == parcel
        assert app.extensions["returns_ledger_webhooks"].dispatcher.active.is_set()
    finally:
        app.extensions["returns_ledger_webhooks"].close()
        app.extensions["returns_ledger"].close()
        receiver.stop()


def test_an_answer_to_a_send_before_a_replay_does_not_settle_the_replayed_delivery(
        sqlite_env):
    """Replay while a delivery is in flight: its answer is logged, but the delivery stays
    pending for the replay's send (a race seen in the replay test)."""
    from datetime import UTC, datetime

    from infrastructure.view_store import ts
    from infrastructure.webhook_store import open_store, store_env

    store = open_store(store_env(sqlite_env))
    try:
        now = datetime.now(UTC)
        with store.datastore.transaction(commit=True) as cursor:
            tx = store._tx(cursor)
            tx.execute("INSERT INTO webhook_endpoints (endpoint_id, seller_id, url, "
                       "event_types, enabled) VALUES ('e', NULL, 'http://x', '[]', 1)")
            store.add_delivery(tx, endpoint_id="e", webhook_id="msg_5", seq=5, position=5,
                               ordering_key="p", event_type="T", body="{}", status="pending",
                               attempts=0, created_at=ts(now), next_attempt_at=ts(now))
            tx.flush()
        sent = store.due(now, 10)[0]
        assert store.replay("e", 4) == 1  # meanwhile: replay from before it
        store.settle([{"endpoint_id": "e", "webhook_id": "msg_5",
                       "generation": sent["generation"], "attempt": 1,
                       "started_at": ts(now), "duration_ms": 1.0, "status_code": 200,
                       "error": None, "outcome": "delivered", "status": "delivered",
                       "next_attempt_at": ts(now), "delivered_at": ts(now)}])
        [row] = store.deliveries("e", None, 10)
        assert row["status"] == "pending" and len(row["attempt_log"]) == 1
        assert store.due(now, 10)[0]["generation"] == sent["generation"] + 1
    finally:
        store.datastore.close()


@pytest.mark.parametrize(("env", "named"), [
    ({"WEBHOOK_TIMEOUT_SECONDS": "0"}, "WEBHOOK_TIMEOUT_SECONDS"),
    ({"WEBHOOK_TIMEOUT_SECONDS": "soon"}, "WEBHOOK_TIMEOUT_SECONDS"),
    ({"WEBHOOK_DISABLE_AFTER_HOURS": "-1"}, "WEBHOOK_DISABLE_AFTER_HOURS"),
    ({"WEBHOOK_RETRY_BASE_SECONDS": "60", "WEBHOOK_RETRY_MAX_SECONDS": "10"},
     "WEBHOOK_RETRY_MAX_SECONDS"),
    ({"WEBHOOK_CONCURRENCY": "0"}, "WEBHOOK_CONCURRENCY"),
    ({"WEBHOOK_ALLOW_LOOPBACK": "sometimes"}, "WEBHOOK_ALLOW_LOOPBACK"),
    ({"WEBHOOK_TIMEOUT": "5"}, "WEBHOOK_TIMEOUT"),  # a typo of a webhook setting
])
def test_webhook_settings_are_validated_at_start_up(env, named):
    from application.settings import Settings, SettingsError

    with pytest.raises(SettingsError) as error:
        Settings.from_env(env)
    assert error.value.name == named


def _resolving(monkeypatch, answers: dict[str, list[str]]) -> list[tuple[str, int]]:
    """Host names answer the given addresses; a connection attempt is recorded, not made."""
    import socket

    import infrastructure.webhook_http as webhook_http

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            raise socket.gaierror(f"unknown host {host}")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, port)) for a in answers[host]]

    connected: list[tuple[str, int]] = []

    def create_connection(address, *args, **kwargs):
        connected.append(address)
        raise ConnectionRefusedError("not in this test")

    monkeypatch.setattr(webhook_http.socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(webhook_http.socket, "create_connection", create_connection)
    return connected


@pytest.mark.parametrize("addresses", [
    ["10.0.0.5"], ["192.168.0.10"], ["169.254.169.254"], ["fe80::1"], ["127.0.0.1"],
    ["fd00:ec2::254"], ["100.100.100.200"], ["::ffff:10.0.0.5"],
    ["93.184.216.34", "10.0.0.5"],  # one private answer among public ones is enough
])
def test_a_name_resolving_to_a_refused_address_is_never_connected_to(monkeypatch, addresses):
    connected = _resolving(monkeypatch, {"hooks.example.com": addresses})
    answer = WebhookClient(DestinationPolicy(), 2.0).post("https://hooks.example.com/h",
                                                          b"{}", {})
    assert answer.refused and not answer.retryable and connected == []


def test_private_networks_when_allowed_but_never_link_local_or_metadata(monkeypatch):
    connected = _resolving(monkeypatch, {"lan.example": ["10.0.0.5"],
                                         "meta.example": ["169.254.169.254"],
                                         "alibaba.example": ["100.100.100.200"],
                                         "ll.example": ["fe80::1"]})
    client = WebhookClient(DestinationPolicy(allow_private_networks=True), 2.0)
    assert not client.post("https://lan.example/h", b"{}", {}).refused
    assert connected == [("10.0.0.5", 443)]  # to the address that was checked
    for host in ("meta.example", "alibaba.example", "ll.example"):
        assert client.post(f"https://{host}/h", b"{}", {}).refused
    assert connected == [("10.0.0.5", 443)]


def test_a_name_that_rebinds_after_creation_is_refused_at_send_time(api, monkeypatch):
    """Public when the endpoint was created, private when a webhook is sent."""
    answers = {"erp.example.com": ["93.184.216.34"]}
    connected = _resolving(monkeypatch, answers)
    keys, client = issue_keys(api), api.test_client()
    created = post(client, keys.client, "/v1/webhook-endpoints",
                   {"url": "https://erp.example.com/hook"})
    assert created.status_code == 201, created.get_json()
    answers["erp.example.com"] = ["10.1.2.3"]
    refused = post(client, keys.client, "/v1/webhook-endpoints",
                   {"url": "https://erp.example.com/other"})
    assert refused.status_code == 422
    answer = WebhookClient(DestinationPolicy(allow_loopback=True), 2.0).post(
        "https://erp.example.com/hook", b"{}", {})
    assert answer.refused and connected == []


def test_the_retry_schedule_doubles_with_jitter_up_to_its_ceiling_or_retry_after():
    import random

    from application.settings import Settings
    from projections.webhooks import RETRY_AFTER_CEILING, retry_delay

    config = Settings.from_env({"WEBHOOK_RETRY_BASE_SECONDS": "5",
                                "WEBHOOK_RETRY_MAX_SECONDS": "3600"}).webhooks
    rng = random.Random(1)
    for attempt in range(1, 30):
        ceiling = min(3600.0, 5.0 * 2 ** (attempt - 1))
        delays = [retry_delay(attempt, config, rng) for _ in range(200)]
        assert all(0.5 * ceiling <= d <= ceiling for d in delays), attempt
        assert max(delays) - min(delays) > 0.3 * ceiling  # jittered, not fixed
    assert retry_delay(11, config, rng) >= 1800  # 30-60 min from the 11th failure on
    assert retry_delay(3, config, rng, retry_after=7.0) == 7.0
    assert retry_delay(3, config, rng, retry_after=-5.0) == 0.0
    assert retry_delay(3, config, rng, retry_after=10 ** 9) == RETRY_AFTER_CEILING


@pytest.mark.parametrize(("status", "retried"), [
    (None, True), (500, True), (502, True), (503, True), (408, True), (409, True),
    (429, True), (400, False), (401, False), (403, False), (404, False), (410, False),
    (422, False), (301, False), (302, False), (307, False)])
def test_which_answers_are_retried(status, retried):
    from infrastructure.webhook_http import Answer

    answer = Answer(status, 1.0, None if status else "ConnectionRefusedError")
    assert answer.retryable is retried
    assert not Answer(None, 1.0, "refused: 10.0.0.1", refused=True).retryable


def _dripping(headers_first: bool) -> tuple[Any, int]:
    """A receiver that answers a byte-sized line every 0.2 s: in its headers, or its body."""
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\n" if headers_first else
                         b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
            for n in range(50):
                time.sleep(0.2)
                try:
                    conn.sendall(b"X-Drip: %d\r\n" % n if headers_first else b"x")
                except OSError:
                    return

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


@pytest.mark.parametrize("headers_first", [True, False])
def test_the_timeout_bounds_the_whole_request_not_each_read(headers_first):
    """Each read comes within the timeout, the whole answer never: the request is given up
    after WEBHOOK_TIMEOUT_SECONDS, as a timeout (retried), never as delivered."""
    server, port = _dripping(headers_first)
    client = WebhookClient(DestinationPolicy(allow_loopback=True), 1.0)
    try:
        started = time.monotonic()
        answer = client.post(f"http://127.0.0.1:{port}/h", b"{}", {})
        assert time.monotonic() - started < 2.0
        assert answer.status is None and answer.retryable and "timeout" in answer.error
    finally:
        client.close()
        server.close()


def test_a_quick_answer_keeps_its_connection_for_the_next_request():
    receiver = Receiver().start()
    client = WebhookClient(DestinationPolicy(allow_loopback=True), 0.5)
    try:
        for _ in range(3):
            assert client.post(receiver.url, b"{}", {}).delivered
        time.sleep(0.8)  # past the deadline of every request made: nothing shuts it now
        assert client.post(receiver.url, b"{}", {}).delivered
        key = ("http", "127.0.0.1", receiver.server.server_address[1])
        assert len(client._idle[key]) == 1
    finally:
        client.close()
        receiver.stop()


def test_ipv4_inside_ipv6_is_checked_as_the_ipv4_address_it_reaches():
    import ipaddress

    policy = DestinationPolicy()
    for public in ("64:ff9b::5db8:d822", "2002:5db8:d822::1", "::ffff:93.184.216.34",
                   "2606:2800:220:1:248:1893:25c8:1946"):
        policy.check_address(ipaddress.ip_address(public))  # 93.184.216.34 and a global v6
    with pytest.raises(UnsafeDestinationError):
        DestinationPolicy(allow_private_networks=True).check_address(
            ipaddress.ip_address("64:ff9b::a9fe:a9fe"))  # the metadata address, never
    DestinationPolicy(allow_private_networks=True).check_address(
        ipaddress.ip_address("64:ff9b::a00:1"))  # 10.0.0.1, allowed as private
