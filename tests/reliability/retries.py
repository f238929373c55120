"""Every command sent two or three times with the same Idempotency-Key: its effect once.

Three ways of sending each command again, in turn: two copies at the same moment then a
third; a copy abandoned by a client that "timed out" (the socket is closed before the
answer is read) then two more; two copies one after the other. `retry_run()` is shared by
the reduced test and the full-size soak (bench/soak.py).
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from application.ledger import ReturnsLedger
from domain.parcel import parcel_id
from tests.reliability.live import SELLER, Live
from tests.reliability.load import Http, lifecycle, money

ATTEMPTS = 2  # delivery attempts per parcel (TT-7 caps them at three)
REFUNDS = 3  # refunds of 5.00 per parcel
COMMANDS_PER_PARCEL = 1 + ATTEMPTS + REFUNDS
MODES = ("twins", "timeout", "twice")


@dataclass
class RetryReport:
    commands: int = 0
    requests: int = 0
    abandoned: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    disagreeing: list[Any] = field(default_factory=list)  # copies answered differently
    unacknowledged: list[str] = field(default_factory=list)
    double_effects: list[Any] = field(default_factory=list)
    double_refunds: int = 0
    seconds: float = 0.0

    def figures(self) -> dict[str, Any]:
        return {"commands": self.commands, "requests": self.requests,
                "abandoned by the client": self.abandoned,
                "statuses": dict(self.statuses), "double effects": len(self.double_effects),
                "double refunds": self.double_refunds, "seconds": round(self.seconds, 1)}


def commands(tracking: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(key, path below the parcel or "" to register, body) of one parcel's commands."""
    out = [(f"{tracking}-register", "", lifecycle(SELLER, tracking)[0][2])]
    out += [(f"{tracking}-attempt-{n}", "/delivery-attempts",
             {"reason": f"attempt {n}", "occurred_at": f"2026-03-0{4 + n}T10:00:00+08:00"})
            for n in range(ATTEMPTS)]
    out += [(f"{tracking}-refund-{n}", "/refunds",
             {"reference": f"R-{tracking}-{n}", "occurred_at": "2026-03-09T10:00:00+08:00",
              "components": [{"kind": "item", "amount": money("5.00")}]})
            for n in range(REFUNDS)]
    return out


def abandon(port: int, token: str, path: str, body: Any, key: str) -> None:
    """A client that gives up: the whole request is sent, the socket closed unread."""
    data = json.dumps(body).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Idempotency-Key: {key}\r\nContent-Length: {len(data)}\r\n"
            f"Connection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + data)
        time.sleep(random.uniform(0, 0.03))  # sometimes mid-command, sometimes before


class RetryRun:
    """Sends every command of `parcels` parcels 2-3 times, on `threads` threads."""

    def __init__(self, live: Live, parcels: int, threads: int = 6) -> None:
        self.live = live
        self.run_id = uuid.uuid4().hex[:6]
        self.trackings = [f"RT{self.run_id}{i:05d}" for i in range(parcels)]
        self.threads = threads
        self.report = RetryReport(commands=parcels * COMMANDS_PER_PARCEL)
        self._lock = threading.Lock()
        self._todo = iter(self.trackings)

    def run(self) -> RetryReport:
        started = time.monotonic()
        workers = [threading.Thread(target=self._work) for _ in range(self.threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        self.report.seconds = time.monotonic() - started
        self._check_effects()
        return self.report

    def _work(self) -> None:
        http = self.live.http()
        while True:
            with self._lock:
                tracking = next(self._todo, None)
            if tracking is None:
                break
            pid: str | None = None
            for n, (key, sub, body) in enumerate(commands(tracking)):
                path = "/v1/parcels" + (f"/{pid}{sub}" if sub else "")
                answers = self._send_copies(http, MODES[(hash(key) + n) % 3], path, body, key)
                if not answers or any(a is None or not 200 <= a[0] < 300 for a in answers):
                    with self._lock:
                        self.report.unacknowledged.append(key)
                    break
                same = {(a[1]["id"], a[1]["version"], a[1]["status"]) for a in answers}
                if len(same) != 1:
                    with self._lock:
                        self.report.disagreeing.append((key, answers))
                pid = answers[0][1]["id"]
        http.close()

    def _send_copies(self, http: Http, mode: str, path: str, body: Any,
                     key: str) -> list[Any]:
        if mode == "twins":
            got: list[Any] = [None, None]
            start = threading.Barrier(2)

            def twin(i: int) -> None:
                own = self.live.http()
                start.wait()
                got[i] = self._send(own, path, body, key)
                own.close()

            pair = [threading.Thread(target=twin, args=(i,)) for i in range(2)]
            for thread in pair:
                thread.start()
            for thread in pair:
                thread.join()
            return [*got, self._send(http, path, body, key)]
        if mode == "timeout":
            abandon(self.live.port, self.live.client, path, body, key)
            with self._lock:
                self.report.abandoned += 1
                self.report.requests += 1
        return [self._send(http, path, body, key), self._send(http, path, body, key)]

    def _send(self, http: Http, path: str, body: Any, key: str) -> Any:
        """One copy; a lost race or a transient failure is sent again with the same key."""
        for _ in range(50):
            try:
                status, _, answer = http.send("POST", path, body, {"Idempotency-Key": key})
            except OSError:
                status, answer = 0, None
            with self._lock:
                self.report.requests += 1
                self.report.statuses[status] += 1
            kind = answer.get("type", "") if isinstance(answer, dict) else ""
            if status and status < 500 and not kind.endswith(":concurrent-update"):
                return status, answer
            time.sleep(0.1)
        return None

    def _check_effects(self) -> None:
        ledger = ReturnsLedger(self.live.direct_env)
        try:
            for tracking in self.trackings:
                events = ledger.events.get(parcel_id("tiktok_shop", tracking))
                kinds = Counter(type(e).__name__ for e in events)
                issued = Counter(e.reference for e in events
                                 if type(e).__name__ == "RefundIssued")
                want = {"ParcelRegistered": 1, "DeliveryAttemptFailed": ATTEMPTS,
                        "RefundRequested": REFUNDS, "RefundIssued": REFUNDS}
                if dict(kinds) != want or any(n != 1 for n in issued.values()):
                    self.report.double_effects.append((tracking, dict(kinds)))
                self.report.double_refunds += sum(n - 1 for n in issued.values())
                total = ledger.get_parcel(parcel_id("tiktok_shop", tracking)).refunded_total
                if total.amount != REFUNDS * Decimal("5.00"):
                    self.report.double_effects.append((tracking, str(total)))
        finally:
            ledger.close()
