"""A bounded load generator: client threads with keep-alive connections on loopback."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bench.stats import latency_summary

# A request: method, path, JSON body or None, extra headers; the answer's JSON goes back in.
Request = tuple[str, str, Any, dict[str, str]]
Workload = Callable[[int], Iterator[Request]]
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class ClientTally:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0


def _client(host: str, port: int, requests: Iterator[Request], deadline: float,
            limit: int, tally: ClientTally) -> None:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    answer: Any = None
    try:
        for _ in range(limit):
            if time.perf_counter() >= deadline:
                break
            method, path, body, headers = requests.send(answer) if answer is not None \
                else next(requests)
            payload = json.dumps(body).encode() if body is not None else None
            hdrs = {"Content-Type": "application/json", **headers} if payload else headers
            t = time.perf_counter()
            try:
                conn.request(method, path, body=payload, headers=hdrs)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException):
                tally.errors += 1
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=30)
                answer = None
                continue
            tally.latencies.append(time.perf_counter() - t)
            tally.statuses[response.status] = tally.statuses.get(response.status, 0) + 1
            answer = (response.status, json.loads(data) if data else None)
    except StopIteration:
        pass
    finally:
        conn.close()


def run_load(host: str, port: int, workload: Workload, clients: int, seconds: float,
             max_requests: int) -> dict[str, Any]:
    """Drive `clients` threads for at most `seconds` and `max_requests` each; tally."""
    if host not in LOOPBACK:
        raise ValueError("the load generator only targets this machine's loopback")
    tallies = [ClientTally() for _ in range(clients)]
    started = time.perf_counter()
    deadline = started + seconds
    threads = [threading.Thread(target=_client, args=(host, port, workload(i), deadline,
                                                      max_requests, tallies[i]), daemon=True)
               for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    elapsed = time.perf_counter() - started
    latencies = [x for t in tallies for x in t.latencies]
    statuses: dict[int, int] = {}
    for tally in tallies:
        for status, count in tally.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    failed = sum(c for s, c in statuses.items() if s >= 400) + sum(t.errors for t in tallies)
    return {"req_per_s": len(latencies) / elapsed, **latency_summary(latencies),
            "failed": failed, "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "clients": clients}
