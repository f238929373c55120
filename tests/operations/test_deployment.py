"""The production deployment as docs/OPERATIONS.md describes it, on a PostgreSQL database
this test creates (`db init --create-database`) and drops: gunicorn with
deploy/gunicorn.conf.py, `returns-ledger project`, `returns-ledger deadlines run --every`,
`returns-ledger webhooks run`, each its own OS process, with the units' settings
(CREATE_TABLE=no, nothing in the API's process). Lifecycles go through the HTTP API while
each process in turn is SIGKILLed and restarted; at the end nothing acknowledged is lost,
the views hold every parcel as it stands, the deadlines process destroyed each expired hold
once, at the hold's end, every event reached the webhook receiver (a loopback server here,
allowed by WEBHOOK_ALLOW_LOOPBACK, which answers some requests 503) at least once, in order
per parcel and correctly signed, every chain verifies, and each process stops cleanly on
SIGTERM."""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tests.conftest import PG, require_postgres
from tests.integration.webhook_support import Receiver, verify
from tests.operations.support import CLI, Process
from tests.reliability.proxy import free_port

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = str(Path(CLI).with_name("gunicorn"))
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # the held parcels' holds ended long ago
DAY = timedelta(days=1)

pytestmark = pytest.mark.postgres


def _at(days: float) -> str:
    return (T0 + days * DAY).isoformat()


class Client:
    """HTTP with retries: a command is sent again with its Idempotency-Key until answered."""

    def __init__(self, base: str, key: str) -> None:
        self.base, self.key = base, key

    def call(self, method: str, path: str, body: dict | None = None,
             idempotency: str | None = None, timeout: float = 90.0) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        if idempotency:
            headers["Idempotency-Key"] = idempotency
        data = json.dumps(body).encode() if body is not None else None
        deadline = time.monotonic() + timeout
        while True:
            request = urllib.request.Request(self.base + path, data=data, method=method,
                                             headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=15) as response:
                    return response.status, json.load(response)
            except urllib.error.HTTPError as error:
                if error.code not in (502, 503, 504) or time.monotonic() > deadline:
                    return error.code, json.loads(error.read() or b"{}")
            except (OSError, http.client.HTTPException, ValueError):
                # refused, or cut mid-answer (a truncated body does not parse): the API is
                # being restarted; the command is sent again with its Idempotency-Key
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.2)


class Deployment:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.port = free_port()
        self.processes: dict[str, Process] = {}
        self.peak: ConnectionPeak | None = None

    def command(self, name: str) -> list[str]:
        return {
            "api": [GUNICORN, "--config", "deploy/gunicorn.conf.py", "--workers", "2",
                    "--bind", f"127.0.0.1:{self.port}", "wsgi:app"],
            "views": [CLI, "project"],
            "deadlines": [CLI, "deadlines", "run", "--every", "1"],
            "webhooks": [CLI, "webhooks", "run"],
        }[name]

    def start(self, name: str) -> None:
        self.processes[name] = Process(self.command(name), self.env, cwd=ROOT,
                                       start_new_session=True)  # the API: master + workers
        ready = {"api": "Booting worker", "views": "projecting", "deadlines": "a run every",
                 "webhooks": "webhook dispatcher active"}
        self.processes[name].expect(ready[name], timeout=60)

    def kill(self, name: str) -> None:
        process = self.processes[name]
        os.killpg(process.pid, signal.SIGKILL) if name == "api" else process.popen.kill()
        process.popen.wait(timeout=30)

    def stop_all(self) -> dict[str, int | None]:
        return {name: process.stop(signal.SIGTERM, timeout=60)
                for name, process in self.processes.items()}


@pytest.fixture
def deployment(tmp_path):
    require_postgres()
    dbname = f"rl_deploy_{uuid.uuid4().hex[:10]}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("POSTGRES_", "SQLITE_", "PERSONAL_DATA_", "VIEWS_"))}
    env.update({**PG, "POSTGRES_DBNAME": dbname, "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_CONNECT_TIMEOUT": "2",
                "PERSONAL_DATA_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
                "SECRET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
                "GROUP_COMMIT": "yes", "PROJECTION_POLL_INTERVAL": "0.5",
                # as the units set them: db init made the tables, each part its own process
                "CREATE_TABLE": "no", "PROJECTIONS_IN_PROCESS": "no",
                "WEBHOOK_IN_PROCESS": "no",
                # the test's receiver is on loopback; its 503s are retried within a second
                "WEBHOOK_ALLOW_LOOPBACK": "yes", "WEBHOOK_RETRY_BASE_SECONDS": "0.2",
                "WEBHOOK_RETRY_MAX_SECONDS": "1",
                # the server is shared: a small pool per process (docs/OPERATIONS.md sizes it)
                "POSTGRES_POOL_SIZE": "2", "POSTGRES_MAX_OVERFLOW": "2",
                "PYTHONUNBUFFERED": "1"})
    deployed = Deployment(env, tmp_path)
    peak = ConnectionPeak(dbname)
    deployed.peak = peak
    try:
        yield deployed
    finally:
        peak.stop()
        for process in deployed.processes.values():
            process.stop(signal.SIGKILL)
        with _pg() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def _pg(dbname: str = PG["POSTGRES_DBNAME"]) -> psycopg.Connection:
    return psycopg.connect(host=PG["POSTGRES_HOST"], port=PG["POSTGRES_PORT"], dbname=dbname,
                           user=PG["POSTGRES_USER"], password=PG["POSTGRES_PASSWORD"] or None,
                           autocommit=True)


class ConnectionPeak:
    """The most connections the deployment held to its database at once (sampled every
    0.2 s), for docs/OPERATIONS.md's sizing of max_connections."""

    def __init__(self, dbname: str) -> None:
        self.dbname, self.most = dbname, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        with _pg() as conn:
            while not self._stop.wait(0.2):
                count = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                                     (self.dbname,)).fetchone()[0]
                self.most = max(self.most, count)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class Deliveries:
    """What the webhook receiver got: every request checked against the endpoint's secret;
    some answered 503 (retried by the dispatcher), the rest 204."""

    def __init__(self) -> None:
        self.secret = ""
        self.bad_signatures: list[str] = []
        self.count = 0
        self.acknowledged: set[int] = set()  # positions answered 204 at least once
        self.receiver = Receiver(behaviour=self._answer).start()

    def _answer(self, receiver: Receiver, request) -> tuple[int, dict[str, str], bytes]:
        if not verify(self.secret, request.headers, request.body):
            self.bad_signatures.append(request.webhook_id)
            return 401, {}, b""
        with receiver.lock:
            self.count += 1
            if self.count % 7 == 0:
                return 503, {}, b""
            data = request.json["data"]
            if request.webhook_id != f"msg_{data['id']}":  # the id is the dedup key
                self.bad_signatures.append(f"{request.webhook_id} for {data['id']}")
            self.acknowledged.add(int(data["id"]))
        return 204, {}, b""

    def first_arrivals(self) -> dict[int, tuple[str | None, str]]:
        """{position: (parcel_id, type)} of each event answered, in the order first seen."""
        seen: dict[int, tuple[str | None, str]] = {}
        with self.receiver.lock:
            requests = list(self.receiver.received)
        for request in requests:
            data = request.json["data"]
            seen.setdefault(int(data["id"]), (data.get("parcel_id"), data["type"]))
        return seen


def _feed(api: Client) -> dict[int, dict]:
    """Every event of the log, by position, through the feed."""
    events, after = {}, 0
    while True:
        status, page = api.call("GET", f"/v1/events?after={after}&limit=1000")
        assert status == 200, page
        events.update({e["id"]: e for e in page["events"]})
        if not page["events"]:
            return events
        after = page["next"]


def _cli(env, *args) -> subprocess.CompletedProcess:
    """A command; again while the shared test server has no connection slot left (other
    suites use it too: that is not what this test is about)."""
    for _ in range(20):
        done = subprocess.run([CLI, *args], env=env, cwd=ROOT, capture_output=True,
                              text=True, timeout=120)
        if not any(sign in done.stderr for sign in ("too many clients", "PoolTimeout",
                                                     "couldn't get a connection")):
            return done
        time.sleep(1)
    return done


def _held_parcel(api: Client, n: int) -> str:
    """TT-2: refused in TH without a return address, held 14 days (ended long ago)."""
    tag = f"DEP{n:04d}"
    status, body = api.call("POST", "/v1/parcels", {
        "platform": "tiktok_shop", "site": "TH", "seller_id": "seller-th", "order_id": tag,
        "order_created_at": _at(0), "tracking_number": f"TTTH{tag}",
        "lines": [{"sku": "SKU-LAMP", "quantity": 1,
                   "unit_price": {"amount": "450.00", "currency": "THB"}}],
        "amount_paid": {"amount": "450.00", "currency": "THB"}, "occurred_at": _at(1)},
        idempotency=f"register-{tag}")
    assert status == 201, body
    parcel = body["id"]
    for step, payload in (("delivery-failures", {"reason": "refused", "occurred_at": _at(4)}),
                          ("routes", {"occurred_at": _at(5)})):
        status, body = api.call("POST", f"/v1/parcels/{parcel}/{step}", payload,
                                idempotency=f"{step}-{tag}")
        assert status == 201, (step, body)
    assert body["status"] in ("held_at_warehouse", "destroyed")
    return parcel


def _amazon_parcel(api: Client, n: int) -> str:
    """AM-1..AM-3: delivered, returned, received, inspected, refunded, closed."""
    tag = f"AMZ{n:04d}"
    status, body = api.call("POST", "/v1/parcels", {
        "platform": "amazon", "site": "DE", "seller_id": "seller-de", "order_id": tag,
        "order_created_at": _at(0), "tracking_number": f"AMDE{tag}",
        "lines": [{"sku": "SKU-BOOTS", "quantity": 1,
                   "unit_price": {"amount": "129.00", "currency": "EUR"}}],
        "amount_paid": {"amount": "129.00", "currency": "EUR"}, "occurred_at": _at(0)},
        idempotency=f"register-{tag}")
    assert status == 201, body
    parcel = body["id"]
    steps = [("deliveries", {"occurred_at": _at(2)}),
             ("return-requests", {"reason": "too small", "seller_fault": False,
                                  "occurred_at": _at(4)}),
             ("routes", {"occurred_at": _at(4)}),
             ("return-labels", {"carrier": "DHL", "tracking_number": f"DHL-{tag}",
                                "occurred_at": _at(4)}),
             ("receipts", {"occurred_at": _at(8)}),
             ("inspections", {"condition": "resellable", "occurred_at": _at(8)}),
             ("refunds", {"reference": f"REF-{tag}", "occurred_at": _at(9), "components": [
                 {"kind": "item", "amount": {"amount": "129.00", "currency": "EUR"}}]}),
             ("closures", {"occurred_at": _at(10)})]
    for step, payload in steps:
        status, body = api.call("POST", f"/v1/parcels/{parcel}/{step}", payload,
                                idempotency=f"{step}-{tag}")
        assert status == 201, (step, body)
    assert body["status"] == "closed"
    return parcel


PROCESSES = ("api", "views", "deadlines", "webhooks")


def test_deployment_survives_each_process_killed_and_restarted(deployment):
    env = deployment.env
    init = _cli(env, "db", "init", "--create-database")
    assert init.returncode == 0, init.stderr
    key = _cli(env, "keys", "create", "--role", "admin").stdout.strip().splitlines()[-1]
    for name in PROCESSES:
        deployment.start(name)
    api = Client(f"http://127.0.0.1:{deployment.port}", key)
    assert api.call("GET", "/readyz")[0] == 200
    hooks = Deliveries()
    status, endpoint = api.call("POST", "/v1/webhook-endpoints", {
        "url": hooks.receiver.url, "event_types": [], "description": "every event"})
    assert status == 201, endpoint
    hooks.secret = endpoint["secret"]

    held, closed, n = [], [], 0
    for victim in PROCESSES:
        for _ in range(3):
            held.append(_held_parcel(api, n))
            closed.append(_amazon_parcel(api, n))
            n += 1
        deployment.kill(victim)  # mid-stream: nothing acknowledged may be lost
        if victim != "api":
            held.append(_held_parcel(api, n))  # commands go on while it is down
            closed.append(_amazon_parcel(api, n))
            n += 1
        deployment.start(victim)
        held.append(_held_parcel(api, n))
        closed.append(_amazon_parcel(api, n))
        n += 1

    # the deadlines process destroys every expired hold, once, at the hold's end
    deadline = time.monotonic() + 90
    while True:
        states = {p: api.call("GET", f"/v1/parcels/{p}")[1]["status"] for p in held}
        if set(states.values()) == {"destroyed"} or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert set(states.values()) == {"destroyed"}, states
    for parcel in held:
        events = api.call("GET", f"/v1/parcels/{parcel}/history")[1]["events"]
        assert [e["type"] for e in events] == ["ParcelRegistered", "DeliveryFailed",
                                               "ReturnRouted", "HeldAtWarehouse", "Destroyed"]
        assert events[-1]["occurred_at"] == _at(19) and events[-1]["actor"] == "deadlines"
    for parcel in closed:
        events = api.call("GET", f"/v1/parcels/{parcel}/history")[1]["events"]
        types = [e["type"] for e in events]
        assert len(types) == 10 and types[-3:] == ["RefundRequested", "RefundIssued",
                                                   "ParcelClosed"], types

    # the views, after the runner's kill and restart, hold every parcel as it stands
    status, ready = api.call("GET", "/readyz")
    head = ready["position"]
    status, page = api.call("GET", f"/v1/parcels?limit=200&min_position={head}")
    assert status == 200 and page["caught_up"] is True, page
    by_id = {item["parcel_id"]: item["status"] for item in page["items"]}
    assert by_id == {**dict.fromkeys(held, "destroyed"), **dict.fromkeys(closed, "closed")}
    verified = _cli(env, "audit", "verify", "--all")
    assert verified.returncode == 0 and "ok: all" in verified.stdout, verified.stdout
    # every view reaches the head (the tracking view did above; the others follow it)
    until = time.monotonic() + 30
    status_out = _cli(env, "project", "status", "--max-lag", "0")
    while status_out.returncode != 0 and time.monotonic() < until:
        time.sleep(0.5)
        status_out = _cli(env, "project", "status", "--max-lag", "0")
    assert status_out.returncode == 0, status_out.stdout + status_out.stderr

    # every parcel event reached the receiver at least once, in order per parcel, signed
    feed = {position: e for position, e in _feed(api).items() if e.get("parcel_id")}
    assert len(feed) == 5 * len(held) + 10 * len(closed)
    until = time.monotonic() + 60
    while not set(feed) <= hooks.acknowledged and time.monotonic() < until:
        time.sleep(0.5)
    assert set(feed) - hooks.acknowledged == set(), "deliveries lost"
    arrived = hooks.first_arrivals()
    assert not hooks.bad_signatures, hooks.bad_signatures
    for position, (parcel, kind) in arrived.items():  # nothing made up
        if parcel is not None:
            assert (feed[position]["parcel_id"], feed[position]["type"]) == (parcel, kind)
    per_parcel: dict[str, list[int]] = {}
    for position, (parcel, _) in arrived.items():
        if parcel is not None:
            per_parcel.setdefault(parcel, []).append(position)
    assert set(per_parcel) == set(held) | set(closed)
    for parcel, positions in per_parcel.items():
        assert positions == sorted(positions), (parcel, positions)  # WH order per parcel
    hooks.receiver.stop()

    # graceful stop: each process exits 0 on SIGTERM
    assert deployment.stop_all() == dict.fromkeys(PROCESSES, 0)
    assert deployment.peak is not None
    print(f"\nthe deployment held at most {deployment.peak.most} connections; "
          f"{len(hooks.receiver.received)} webhook requests for {len(feed)} parcel events")
