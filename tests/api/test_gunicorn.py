"""End to end: gunicorn serves wsgi:app as a real process; a TikTok Shop parcel over HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_PERSONAL_DATA_KEY

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(base: str, method: str, path: str, token: str, body: Any = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(BIN / "returns-ledger"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture
def server(tmp_path: Path):
    env = {**os.environ, "SQLITE_DBNAME": str(tmp_path / "ledger.sqlite3"),
           "PERSISTENCE_MODULE": "eventsourcing.sqlite",
           "PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY}
    cli(env, "db", "init")
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "--no-control-socket", "--env", "CREATE_TABLE=no", "wsgi:app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # wait until the workers listen (at most ~30 s)
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None:
                    pytest.fail(process.stderr.read().decode()[-2000:])
                time.sleep(0.1)
        yield base, env
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.slow
def test_tiktok_shop_failed_delivery_over_http(server) -> None:
    base, env = server
    admin = cli(env, "keys", "create", "--role", "admin")
    client = cli(env, "keys", "create", "--role", "client", "--seller", "seller-tt")
    assert admin.startswith("rlk_") and client.startswith("rlk_")
    status, _ = call(base, "POST", "/v1/return-addresses", admin, {
        "seller_id": "seller-tt", "platform": "tiktok_shop", "country": "MY",
        "address": {"lines": ["No. 8, Jalan Example"], "city": "Kuala Lumpur",
                    "postcode": "50000"}, "effective_from": "2026-01-01T00:00:00+08:00",
        "occurred_at": "2026-01-01T00:00:00+08:00"})
    assert status == 201
    status, parcel = call(base, "POST", "/v1/parcels", client, {
        "platform": "tiktok_shop", "site": "MY", "seller_id": "seller-tt",
        "order_id": "TT-ORDER-1", "order_created_at": "2026-03-02T09:00:00+08:00",
        "tracking_number": "TTMY0001",
        "lines": [{"sku": "SKU-MUG", "quantity": 2,
                   "unit_price": {"amount": "19.90", "currency": "MYR"}}],
        "amount_paid": {"amount": "39.80", "currency": "MYR"},
        "occurred_at": "2026-03-03T09:00:00+08:00"})
    assert status == 201, parcel
    p = f"/v1/parcels/{parcel['id']}"
    steps = [("delivery-attempts", {"reason": "buyer not at home",
                                    "occurred_at": "2026-03-05T10:00:00+08:00"}),
             ("delivery-failures", {"reason": "unreachable",
                                    "occurred_at": "2026-03-07T10:00:00+08:00"}),
             ("routes", {"occurred_at": "2026-03-08T10:00:00+08:00"}),
             ("receipts", {"occurred_at": "2026-03-17T10:00:00+08:00"}),
             ("inspections", {"condition": "resellable",
                              "occurred_at": "2026-03-17T11:00:00+08:00"}),
             ("closures", {"occurred_at": "2026-03-18T10:00:00+08:00"})]
    answers = {}
    for path, body in steps:
        status, answers[path] = call(base, "POST", f"{p}/{path}", client, body)
        assert status == 201, (path, answers[path])
    assert answers["routes"]["decision"]["rule"] == "TT-3"
    assert answers["routes"]["decision"]["free_return"] is True
    status, state = call(base, "GET", p, client)
    assert state["status"] == "closed" and state["free_return_used"] is True
    status, history = call(base, "GET", f"{p}/history", admin)
    assert [e["type"] for e in history["events"]] == [
        "ParcelRegistered", "DeliveryAttemptFailed", "DeliveryFailed", "ReturnRouted",
        "Received", "Inspected", "ParcelClosed"]
    status, found = call(base, "GET", "/v1/parcels?tracking_number=TTMY0001", client)
    assert [item["id"] for item in found["items"]] == [parcel["id"]]
    with urllib.request.urlopen(base + "/metrics", timeout=5) as response:
        assert b"http_requests_total" in response.read()


@pytest.mark.slow
def test_serve_from_another_directory_serves(tmp_path: Path) -> None:
    """`returns-ledger serve` run outside the checkout: gunicorn imported `wsgi`, which only
    the checkout has, so every worker failed to boot with a traceback."""
    env = {**os.environ, "SQLITE_DBNAME": str(tmp_path / "ledger.sqlite3"),
           "PERSISTENCE_MODULE": "eventsourcing.sqlite",
           "PERSONAL_DATA_KEY": TEST_PERSONAL_DATA_KEY, "PYTHONPATH": ""}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    subprocess.run([str(BIN / "returns-ledger"), "db", "init"], cwd=elsewhere, env=env,
                   capture_output=True, check=True)
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "returns-ledger"), "serve", "--port", str(port), "--workers", "1"],
        cwd=elsewhere, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz",
                                            timeout=1) as answer:
                    assert json.loads(answer.read())["status"] == "ready"
                break
            except OSError:
                if process.poll() is not None:
                    pytest.fail(process.stderr.read().decode()[-2000:])
                time.sleep(0.1)
        else:
            pytest.fail("serve never answered")
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert sorted(p.name for p in elsewhere.iterdir()) == []  # the store is where it was set
