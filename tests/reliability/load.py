"""A bounded load client on loopback: threads + http.client, retries with the same key.

Every parcel walks a fixed lifecycle, one command after the other; each command carries its
own Idempotency-Key and is retried with that key (and the identical body) after a dropped
connection, a 5xx or a concurrent update, until it is acknowledged or its time is up. Every
answer is logged, so the checks afterwards know exactly what the service acknowledged.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

RETRYABLE_TYPES = ("urn:returns-ledger:problem:concurrent-update",)


def money(amount: str, currency: str = "MYR") -> dict[str, str]:
    return {"amount": amount, "currency": currency}


def lifecycle(seller: str, tracking: str) -> list[tuple[str, str, dict[str, Any], tuple[str, ...]]]:
    """A TikTok Shop parcel refused in Malaysia, returned, refunded and closed.

    Each step: (name, path below the parcel or "" to register, body, the event types it records).
    """
    at = "2026-03-{:02d}T10:00:00+08:00".format
    return [
        ("register", "", {
            "platform": "tiktok_shop", "site": "MY", "seller_id": seller,
            "order_id": f"O-{tracking}", "order_created_at": "2026-03-02T09:00:00+08:00",
            "tracking_number": tracking,
            "lines": [{"sku": "SKU-MUG", "quantity": 2, "unit_price": money("19.90")}],
            "amount_paid": money("39.80"), "occurred_at": at(3)}, ("ParcelRegistered",)),
        ("delivery-attempts", "/delivery-attempts",
         {"reason": "buyer not at home", "occurred_at": at(5)}, ("DeliveryAttemptFailed",)),
        ("delivery-failures", "/delivery-failures",
         {"reason": "refused", "occurred_at": at(7)}, ("DeliveryFailed",)),
        ("routes", "/routes", {"occurred_at": at(8)}, ("ReturnRouted",)),
        ("receipts", "/receipts", {"occurred_at": at(17)}, ("Received",)),
        ("inspections", "/inspections",
         {"condition": "resellable", "occurred_at": at(18)}, ("Inspected",)),
        ("refunds", "/refunds", {
            "reference": f"R-{tracking}", "occurred_at": at(19),
            "components": [{"kind": "item", "amount": money("5.00")}]},
         ("RefundRequested", "RefundIssued")),
        ("closures", "/closures", {"occurred_at": at(20)}, ("ParcelClosed",)),
    ]


@dataclass
class Answer:
    """One HTTP answer (or a dropped connection: status 0)."""

    step: str
    status: int
    sent: float
    at: float
    content_type: str = ""
    retry_after: str | None = None
    type: str | None = None
    body: Any = None


@dataclass
class Walk:
    """One parcel's progress: the steps acknowledged, with the id and version answered."""

    tracking: str
    parcel_id: str | None = None
    acks: list[tuple[str, int]] = field(default_factory=list)  # (step, version)
    gave_up: str | None = None  # the step that was never acknowledged


class Http:
    """One keep-alive connection per thread; reconnects after any failure."""

    def __init__(self, port: int, token: str, timeout: float) -> None:
        self.port, self.token, self.timeout = port, token, timeout
        self.conn: http.client.HTTPConnection | None = None

    def send(self, method: str, path: str, body: Any = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
        data = json.dumps(body).encode() if body is not None else None
        all_headers = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                       timeout=self.timeout)
            self.conn.request(method, path, body=data, headers=all_headers)
            response = self.conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        payload = json.loads(raw) if raw and b"json" in (
            response.getheader("Content-Type") or "").encode() else raw
        return response.status, {k.lower(): v for k, v in response.getheaders()}, payload

    def call(self, method: str, path: str, body: Any = None,
             headers: dict[str, str] | None = None,
             patience: float = 60) -> tuple[int, dict[str, str], Any]:
        """send(), again while the answer is a 503 or the connection drops (the shared
        PostgreSQL server sometimes has no free connection for a moment)."""
        deadline = time.monotonic() + patience
        while True:
            try:
                answer = self.send(method, path, body, headers)
            except (OSError, http.client.HTTPException):
                if time.monotonic() > deadline:
                    raise
            else:
                if answer[0] != 503 or time.monotonic() > deadline:
                    return answer
            time.sleep(0.5)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class LoadClient:
    """Walks `parcels` lifecycles on `threads` threads, bounded in count and time."""

    def __init__(self, port: int, token: str, seller: str, parcels: int, threads: int = 6,
                 run_id: str = "", step_timeout: float = 60, deadline: float = 600,
                 http_timeout: float = 40) -> None:
        self.port, self.token, self.seller = port, token, seller
        self.walks = [Walk(f"RL{run_id}{i:05d}") for i in range(parcels)]
        self.threads = threads
        self.step_timeout = step_timeout
        self.deadline = time.monotonic() + deadline
        self.http_timeout = http_timeout
        self.answers: list[Answer] = []
        self._lock = threading.Lock()
        self._queue: Iterator[Walk] = iter(self.walks)
        self.acked = 0

    # -- running -----------------------------------------------------------------
    def run(self) -> LoadClient:
        workers = [threading.Thread(target=self._work, daemon=True) for _ in range(self.threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(max(0.0, self.deadline - time.monotonic()) + self.http_timeout)
        return self

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        return thread

    def _next(self) -> Walk | None:
        with self._lock:
            return next(self._queue, None)

    def _work(self) -> None:
        client = Http(self.port, self.token, self.http_timeout)
        while (walk := self._next()) is not None and time.monotonic() < self.deadline:
            for step, path, body, _ in lifecycle(self.seller, walk.tracking):
                target = "/v1/parcels" + (f"/{walk.parcel_id}{path}" if path else "")
                key = f"{walk.tracking}-{step}"
                answer = self._until_acknowledged(client, step, target, body, key)
                if answer is None or not 200 <= answer.status < 300:
                    walk.gave_up = step
                    break
                walk.parcel_id = answer.body["id"]
                walk.acks.append((step, answer.body["version"]))
                with self._lock:
                    self.acked += 1
        client.close()

    def _until_acknowledged(self, client: Http, step: str, path: str, body: Any,
                            key: str) -> Answer | None:
        """Send, and resend with the same Idempotency-Key while the failure is transient."""
        give_up = min(time.monotonic() + self.step_timeout, self.deadline)
        answer = None
        while time.monotonic() < give_up:
            answer = self.send(client, step, "POST", path, body, {"Idempotency-Key": key})
            if 200 <= answer.status < 300 or not _transient(answer):
                return answer
            time.sleep(random.uniform(0.1, 0.4))
        return answer

    def send(self, client: Http, step: str, method: str, path: str, body: Any = None,
             headers: dict[str, str] | None = None) -> Answer:
        sent = time.monotonic()
        try:
            status, got, payload = client.send(method, path, body, headers)
        except (OSError, http.client.HTTPException):
            answer = Answer(step, 0, sent, time.monotonic())
        else:
            answer = Answer(step, status, sent, time.monotonic(), got.get("content-type", ""),
                            got.get("retry-after"),
                            payload.get("type") if isinstance(payload, dict) else None,
                            payload)
        with self._lock:
            self.answers.append(answer)
        return answer

    # -- what happened -----------------------------------------------------------
    def statuses(self) -> Counter[int]:
        return Counter(a.status for a in self.answers)

    def answers_where(self, keep: Callable[[Answer], bool]) -> list[Answer]:
        return [a for a in self.answers if keep(a)]


def _transient(answer: Answer) -> bool:
    return answer.status == 0 or answer.status >= 500 or answer.type in RETRYABLE_TYPES


def expected_types(walk: Walk, seller: str) -> list[str]:
    """The event types the acknowledged steps of a walk must have recorded, in order."""
    steps = {name: types for name, _, _, types in lifecycle(seller, walk.tracking)}
    return [t for step, _ in walk.acks for t in steps[step]]
