"""`python -m bench.webhooks [--smoke]`: webhook delivery rate, feed rate, commit-to-arrival.

1. Deliveries per second to a local receiver (its own process) answering 200 at once, from
   the dispatcher with 16 endpoints, against the same number of bare `http.client` POSTs
   from one process on one kept-alive connection (same run). Wall-clock and process-CPU
   ratios (CPU: this process only, so the receiver's work is not counted on either side).
2. The feed: events per second served by GET /v1/events?limit=500 (auth, reading, the JSON
   answer; the bench's own parsing of it is not timed).
3. Latency from a command's commit to its webhook's arrival at 100 commands/s: p50/p99.
Medians over the repetitions. The last output line is the result as one JSON object.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from application.settings import load
from application.webhooks import WebhookEndpoints
from bench.stats import latency_summary
from domain.money import Money
from domain.values import Line
from projections.webhooks import Dispatcher

KEY = "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s="
ENDPOINTS = 16
RECEIVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
s = ThreadingHTTPServer(("127.0.0.1", 0), H)
s.daemon_threads = True
print(s.server_address[1], flush=True)
s.serve_forever()
"""


def _env(tmp: str, **extra: str) -> dict[str, str]:
    return {"SQLITE_DBNAME": str(Path(tmp) / "ledger.sqlite3"), "PERSONAL_DATA_KEY": KEY,
            "PERSONAL_DATA_KEY_FILE": str(Path(tmp) / "key"), "WEBHOOK_ALLOW_LOOPBACK": "yes",
            "PROJECTION_POLL_INTERVAL": "0.05", **extra}


def _register(ledger: Any, n: int, tag: str) -> int:
    result = ledger.register_parcel(
        platform="tiktok_shop", site="MY", seller_id="s1", order_id=f"O-{tag}-{n}",
        order_created_at=datetime(2026, 3, 1, tzinfo=UTC), tracking_number=f"TT{tag}{n}",
        lines=[Line("SKU", 1, Money.of("10.00", "MYR"))], amount_paid=Money.of("10.00", "MYR"),
        occurred_at=datetime.now(UTC))
    return int(result.position)


def _bare_posts(port: int, count: int, body: bytes) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of `count` sequential POSTs on one connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    wall, cpu = time.perf_counter(), time.process_time()
    for n in range(count):
        conn.request("POST", f"/e{n % ENDPOINTS}", body=body,
                     headers={"Content-Type": "application/json"})
        conn.getresponse().read()
    result = time.perf_counter() - wall, time.process_time() - cpu
    conn.close()
    return result


def _deliveries(port: int, events: int, tmp: str) -> tuple[float, float, int, bytes]:
    """(wall, CPU, deliveries, a body) of the dispatcher sending events x 16 endpoints."""
    from application.ledger import ReturnsLedger

    settings = load(_env(tmp, WEBHOOK_CONCURRENCY="16"))
    ledger = ReturnsLedger(settings)
    cases = WebhookEndpoints(ledger)
    for n in range(ENDPOINTS):
        cases.create(seller_id=None, url=f"http://127.0.0.1:{port}/e{n}",
                     types=["ParcelRegistered"], description=None, enabled=True,
                     occurred_at=datetime.now(UTC), actor="bench")
    for n in range(events):
        _register(ledger, n, "D")
    dispatcher = Dispatcher(settings)
    dispatcher.start()
    wanted = events * ENDPOINTS
    dispatcher.active.wait(30)  # from here: the fan-out catches up, and everything is sent
    wall, cpu = time.perf_counter(), time.process_time()
    while True:
        assert dispatcher.store is not None
        done = sum(r["n"] for r in dispatcher.store.counts() if r["outcome"] == "delivered")
        if done >= wanted:
            break
        time.sleep(0.01)
    result = time.perf_counter() - wall, time.process_time() - cpu
    with dispatcher.store.reading() as tx:
        body = tx.one("SELECT body FROM {p}webhook_deliveries LIMIT 1")
    dispatcher.stop()
    ledger.close()
    return (*result, wanted, (body or {}).get("body", "{}").encode())


def delivery_rate(events: int, reps: int) -> dict[str, Any]:
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER],
                                stdout=subprocess.PIPE, text=True)
    try:
        port = int(receiver.stdout.readline())  # type: ignore[union-attr]  # piped above
        subject, baseline = [], []
        for _ in range(reps):
            with tempfile.TemporaryDirectory() as tmp:
                wall, cpu, count, body = _deliveries(port, events, tmp)
            bare_wall, bare_cpu = _bare_posts(port, count, body)
            subject.append((count / wall, cpu / count))
            baseline.append((count / bare_wall, bare_cpu / count))
    finally:
        receiver.terminate()
        receiver.wait(10)
    rate = statistics.median(s[0] for s in subject)
    bare = statistics.median(b[0] for b in baseline)
    cpu_each = statistics.median(s[1] for s in subject)
    bare_cpu = statistics.median(b[1] for b in baseline)
    return {"name": f"webhook deliveries, {ENDPOINTS} endpoints (sqlite)",
            "deliveries_per_run": events * ENDPOINTS, "reps": reps,
            "baselines": {"dispatcher": {"per_s": round(rate), "cpu_us_each":
                                         round(cpu_each * 1e6, 1)},
                          "bare http.client": {"per_s": round(bare), "cpu_us_each":
                                               round(bare_cpu * 1e6, 1)}},
            "ratio": {"wall vs bare": round(rate / bare, 3),
                      "cpu vs bare": round(bare_cpu / cpu_each, 3)},
            "target": {"wall vs bare": [">=", 0.5], "cpu vs bare": [">=", 0.5]}}


def feed_rate(events: int, reps: int) -> dict[str, Any]:
    from interfaces.api import create_app

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({**_env(tmp), "TESTING": True})
        ledger = app.extensions["returns_ledger"].get()
        token = ledger.issue_api_key("admin", None, datetime.now(UTC)).token
        for n in range(events):
            _register(ledger, n, "F")
        client = app.test_client()
        rates, cpu_rates, raw = [], [], []
        for _ in range(reps):
            after = 0
            while True:
                # Timed: the request as served (auth, reading, the JSON answer's bytes). Not
                # timed: this client parsing them (the app's strict parser, a consumer's cost).
                started, cpu = time.perf_counter(), time.process_time()
                response = client.get("/v1/events",
                                      query_string={"after": after, "limit": 500},
                                      headers={"Authorization": f"Bearer {token}"})
                elapsed, used = time.perf_counter() - started, time.process_time() - cpu
                page = json.loads(response.get_data())
                if not page["events"]:
                    break
                rates.append(len(page["events"]) / elapsed)
                cpu_rates.append(len(page["events"]) / max(used, 1e-9))
                after = page["next"]
            started = time.perf_counter()
            notifications = ledger.recorder.select_notifications(1, 500)
            raw.append(len(notifications) / (time.perf_counter() - started))
        app.extensions["returns_ledger"].close()
    rate, cpu_rate = statistics.median(rates), statistics.median(cpu_rates)
    return {"name": "events feed, pages of 500 (sqlite)", "events": events, "reps": reps,
            "baselines": {"GET /v1/events": {"events_per_s": round(rate),
                                             "events_per_cpu_s": round(cpu_rate)},
                          "select_notifications": {"events_per_s": round(
                              statistics.median(raw))}},
            "ratio": {"feed events/s / 5000": round(rate / 5000, 3),
                      "feed events/CPU-s / 5000": round(cpu_rate / 5000, 3)},
            "target": {"feed events/s / 5000": [">=", 1.0],
                       "feed events/CPU-s / 5000": [">=", 1.0]}}


def latency(seconds: float, rate: float = 100.0) -> dict[str, Any]:
    arrived: dict[str, float] = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # the stdlib's name
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                arrived.setdefault(self.headers["webhook-id"], time.time())
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    from application.ledger import ReturnsLedger

    committed: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        settings = load(_env(tmp))
        ledger = ReturnsLedger(settings)
        WebhookEndpoints(ledger).create(
            seller_id=None, url=f"http://127.0.0.1:{server.server_address[1]}/hook",
            types=["ParcelRegistered"], description=None, enabled=True,
            occurred_at=datetime.now(UTC), actor="bench")
        dispatcher = Dispatcher(settings).start()
        dispatcher.active.wait(30)
        time.sleep(0.5)
        start = time.perf_counter()
        for n in range(int(seconds * rate)):
            time.sleep(max(start + n / rate - time.perf_counter(), 0))
            position = _register(ledger, n, "L")
            committed[f"msg_{position}"] = time.time()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(arrived) < len(committed):
            time.sleep(0.05)
        dispatcher.stop()
        ledger.close()
    server.shutdown()
    waits = [arrived[k] - committed[k] for k in committed if k in arrived]
    summary = latency_summary(waits)
    return {"name": f"commit to webhook arrival at {rate:.0f} commands/s (sqlite)",
            "baselines": {"commit to arrival": {**summary, "lost": len(committed) -
                                                len(waits)}},
            "ratio": {"p99 / 1 s": round(summary["p99_ms"] / 1000, 3)},
            "target": {"p99 / 1 s": ["<=", 1.0]}}


def bench(size: str = "default", reps: int = 3) -> list[dict[str, Any]]:
    smoke = size == "smoke"
    return [delivery_rate(10 if smoke else 125, max(1, min(reps, 3))),
            feed_rate(600 if smoke else 5000, 1 if smoke else reps),
            latency(1.0 if smoke else 10.0)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    print(json.dumps(bench("smoke" if args.smoke else "default", 1 if args.smoke else 3)))
