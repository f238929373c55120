"""Load generators on loopback: a closed loop over a fixed number of requests, and an
open loop at a fixed arrival rate.

Every request opens its own connection (`Connection: close`): connections move between
gunicorn's workers as a load balancer's do, and no client is pinned to one worker's
cache. Failed requests (4xx/5xx, connection errors) are counted apart and never count
toward a rate.

Open loop: each sender thread owns one request stream and sends on a fixed schedule,
`start + (k + j * senders) / rate` for its j-th request; a request's latency runs from
that intended send time, so a server that falls behind is charged for the queue it
builds (no coordinated omission).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bench.stats import latency_summary, percentile

# A request: method, path, JSON body or None, extra headers; the answer's JSON goes back in.
Request = tuple[str, str, Any, dict[str, str]]
Workload = Callable[[int], Iterator[Request]]
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class ClientTally:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    failures: list[str] = field(default_factory=list)  # the first few, for the report


def _send(host: str, port: int, request: Request) -> tuple[int, Any]:
    method, path, body, headers = request
    payload = json.dumps(body).encode() if body is not None else None
    hdrs = {"Connection": "close", **headers}
    if payload is not None:
        hdrs["Content-Type"] = "application/json"
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request(method, path, body=payload, headers=hdrs)
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    ctype = response.headers.get("Content-Type", "")
    return response.status, (json.loads(data) if data and "json" in ctype else None)


def _one(host: str, port: int, requests: Iterator[Request], answer: Any,
         tally: ClientTally, intended: float | None = None) -> tuple[bool, Any]:
    """Send the stream's next request; (False, None) when the stream has ended."""
    try:
        request = requests.send(answer) if answer is not None else next(requests)
    except StopIteration:
        return False, None
    if intended is not None:
        pause = intended - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    started = time.perf_counter() if intended is None else intended
    try:
        status, body = _send(host, port, request)
    except (OSError, http.client.HTTPException) as error:
        tally.errors += 1
        if len(tally.failures) < 3:
            tally.failures.append(f"{request[0]} {request[1]}: {type(error).__name__}")
        return True, None
    tally.statuses[status] = tally.statuses.get(status, 0) + 1
    if status >= 400:
        if len(tally.failures) < 3:
            tally.failures.append(f"{request[0]} {request[1]}: {status} {str(body)[:160]}")
    else:
        tally.latencies.append(time.perf_counter() - started)
    return True, (status, body)


def _merge(tallies: list[ClientTally]) -> dict[str, Any]:
    latencies = [x for t in tallies for x in t.latencies]
    statuses: dict[int, int] = {}
    for tally in tallies:
        for status, count in tally.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    failed = sum(c for s, c in statuses.items() if s >= 400) + sum(t.errors for t in tallies)
    return {"ok": len(latencies), "failed": failed, "latencies": latencies,
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "failures": [f for t in tallies for f in t.failures][:5]}


def _check_host(host: str) -> None:
    if host not in LOOPBACK:
        raise ValueError("the load generator only targets this machine's loopback")


def closed_loop(host: str, port: int, workload: Workload, clients: int,
                requests: int) -> dict[str, Any]:
    """`clients` threads send `requests` in all (each its share, one after another)."""
    _check_host(host)
    tallies = [ClientTally() for _ in range(clients)]
    share = [requests // clients + (1 if i < requests % clients else 0) for i in range(clients)]

    def client(i: int) -> None:
        stream, answer = workload(i), None
        for _ in range(share[i]):
            more, answer = _one(host, port, stream, answer, tallies[i])
            if not more:
                break

    started = time.perf_counter()
    _run_threads(client, clients, timeout=600)
    elapsed = time.perf_counter() - started
    merged = _merge(tallies)
    latencies = merged.pop("latencies")
    return {"req_per_s": merged["ok"] / elapsed, **latency_summary(latencies), **merged,
            "seconds": elapsed, "clients": clients}


def open_loop(host: str, port: int, workload: Workload, rate: float, seconds: float,
              senders: int) -> dict[str, Any]:
    """Requests at `rate` per second for `seconds`, latency from each intended send time."""
    _check_host(host)
    tallies = [ClientTally() for _ in range(senders)]
    start = time.perf_counter() + 0.05
    total = int(rate * seconds)

    def sender(k: int) -> None:
        stream, answer = workload(k), None
        for j in range(k, total, senders):
            more, answer = _one(host, port, stream, answer, tallies[k], start + j / rate)
            if not more:
                break

    _run_threads(sender, senders, timeout=seconds + 120)
    elapsed = time.perf_counter() - start
    merged = _merge(tallies)
    latencies = merged.pop("latencies")
    return {"req_per_s": merged["ok"] / elapsed, "arrival_rate": rate,
            "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000,
            "p999_ms": percentile(latencies, 99.9) * 1000, "samples": len(latencies), **merged}


def _run_threads(target: Callable[[int], None], count: int, timeout: float) -> None:
    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
