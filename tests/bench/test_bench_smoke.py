"""The bench at its smoke size: the gate of CPU ratios runs and holds its floors, and
the measuring parts measure what they say (never timings of the code under test)."""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bench import gate, report, workloads
from bench.__main__ import main
from bench.context import cpu_share, speed_index
from bench.cpu import process_seconds, spent, tree_seconds
from bench.stats import percentile
from bench.web.loadgen import closed_loop, open_loop


def test_smoke_gate_holds_every_cpu_floor(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A regression of the command path (in-process, over HTTP, or of replay) that drops a
    CPU ratio under its smoke floor fails here, and so in CI."""
    code = main(["--gate", "--smoke", "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    run = json.loads((tmp_path / "latest.json").read_text())
    assert code == 0, printed
    names = [s["name"] for s in run["scenarios"]]
    assert "commands in-process (sqlite)" in names
    assert "history + as-of replay, 50 events (sqlite)" in names
    assert any(n.startswith("HTTP ERP mix (sqlite") for n in names)
    for _, ratio, op, bound in gate.FLOORS["smoke"]:
        assert f"{ratio} = " in printed and f"(floor {op} {bound})" in printed
    http = next(s for s in run["scenarios"] if s["name"].startswith("HTTP ERP mix"))
    assert http["subject"]["closed loop"]["failed"] == 0, http["subject"]["closed loop"]
    assert http["baselines"]["naive service"]["failed"] == 0
    assert http["subject"]["closed loop"]["server_cpu_ms_per_request"] > 0
    replay = next(s for s in run["scenarios"] if s["name"].startswith("history"))
    assert replay["size"]["python_optimize"] == 1  # like with like: no assert either side
    context = run["context"]
    assert {"cpu_over_run", "speed_index", "python"} <= set(context)
    table = (tmp_path / "latest.md").read_text()
    assert "| scenario | ratio | value | target | met |" in table


def _scenario(ratio: str, value: float, name: str) -> dict[str, Any]:
    return {"name": name, "ratio": {ratio: value}}


def test_gate_fails_below_a_floor_and_when_a_ratio_is_missing() -> None:
    floors = gate.FLOORS["smoke"]
    good = [_scenario(ratio, bound * (1.1 if op == ">=" else 0.9), prefix + " x")
            for prefix, ratio, op, bound in floors]
    assert gate.check({"scenarios": good}, "smoke")[1] is True
    prefix, ratio, op, bound = floors[0]
    low = [_scenario(ratio, bound * 0.9, prefix + " x"), *good[1:]]
    lines, ok = gate.check({"scenarios": low}, "smoke")
    assert ok is False and lines[0].lstrip().startswith("FAIL")
    assert gate.check({"scenarios": good[1:]}, "smoke")[1] is False
    skipped = [{"name": prefix + " x", "skipped": "boom"}, *good[1:]]
    assert gate.check({"scenarios": skipped}, "smoke")[1] is False
    without_pg = [s for s in good if "(postgres" not in s["name"]]
    assert gate.check({"scenarios": without_pg}, "smoke")[1] is False  # a crash: fails
    no_server = [*without_pg, {"name": "PostgreSQL scenarios", "skipped": "not reachable"}]
    lines, ok = gate.check({"scenarios": no_server}, "smoke")
    assert ok is True and any("not run (no PostgreSQL)" in line for line in lines)


def test_gate_command_exits_non_zero_below_a_floor(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    unreachable = [(prefix, ratio, op, 1e9 if op == ">=" else 1e-9)
                   for prefix, ratio, op, _ in gate.FLOORS["smoke"]]
    monkeypatch.setitem(gate.FLOORS, "smoke", unreachable)
    fake = [(f"fake-{i}", lambda r=ratio, p=prefix: _scenario(r, 1.0, p + " x"))
            for i, (prefix, ratio, _, _) in enumerate(unreachable)]
    monkeypatch.setattr(gate, "scenarios", lambda size, stores: fake)
    assert main(["--gate", "--smoke", "--out", str(tmp_path)]) == 1


def test_process_cpu_is_read_from_proc_stat() -> None:
    before = tree_seconds(os.getpid())
    started = time.process_time()
    while time.process_time() - started < 0.3:
        pass
    after = tree_seconds(os.getpid())
    assert 0.2 <= spent(before, after) <= 1.0
    assert process_seconds(2**22 + 12345) == 0.0  # a process that is not there


def test_cpu_share_and_speed_index() -> None:
    before = {"user": 100, "nice": 0, "system": 0, "idle": 100, "iowait": 0, "irq": 0,
              "softirq": 0, "steal": 0}
    after = {**before, "user": 150, "idle": 140, "steal": 10}
    share = cpu_share(before, after)
    assert share["steal_pct"] == pytest.approx(10.0) and share["busy_pct"] == pytest.approx(60.0)
    assert speed_index(repeats=1) > 0


class _Slow(BaseHTTPRequestHandler):
    """20 ms per request, one at a time; records the client port of each request."""

    lock = threading.Lock()
    ports: list[int] = []

    def do_GET(self) -> None:
        with self.lock:
            self.ports.append(self.client_address[1])
            time.sleep(0.02)
        body = b'{"id": "x"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def slow_server() -> Any:
    _Slow.ports = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _gets(client: int) -> Any:
    while True:
        yield ("GET", "/x", None, {})


def test_open_loop_charges_the_queue_a_slow_server_builds(slow_server: int) -> None:
    """At 100 requests/s against a server of 50/s, requests wait ever longer: measured
    from their intended send times the latencies grow far past the 20 ms of service,
    which a closed loop (latency from the actual send) never shows."""
    got = open_loop("127.0.0.1", slow_server, _gets, rate=100, seconds=1.0, senders=8)
    assert got["failed"] == 0 and got["samples"] == 100
    assert got["p99_ms"] > 300  # the last requests waited about half a second
    closed = closed_loop("127.0.0.1", slow_server, _gets, clients=1, requests=10)
    assert closed["p99_ms"] < 200


def test_every_request_opens_its_own_connection(slow_server: int) -> None:
    closed_loop("127.0.0.1", slow_server, _gets, clients=2, requests=10)
    assert len(set(_Slow.ports)) == 10  # no keep-alive: no client pinned to one worker


def test_erp_mix_has_every_lifecycle_command_and_the_naive_mix_the_same_shape() -> None:
    steps = [s for lifecycle in workloads.ledger_lifecycles(0, "key", "s", "T")
             for s in lifecycle(0)]
    cur = {"id": "00000000-0000-0000-0000-000000000001"}
    paths = [step(cur)[1] for kind, step in steps if kind == "command"]
    for command in ("delivery-attempts", "delivery-failures", "deliveries", "return-requests",
                    "routes", "return-labels", "receipts", "inspections", "refunds",
                    "closures"):
        assert any(p.endswith("/" + command) for p in paths), command
    assert paths.count("/v1/parcels") == 2
    commands = [step(cur) for kind, step in steps if kind == "command"]
    assert all("Idempotency-Key" in r[3] and "Authorization" in r[3] for r in commands)
    reads = [step(cur)[1] for kind, step in steps if kind == "read"]
    assert sum(p.startswith("/v1/reports/") for p in reads) == 4  # the views, read
    assert 0.25 <= len(reads) / len(steps) <= 0.35
    naive = workloads.naive(0, "T")
    kinds = []
    answer = None
    for _ in range(len(steps)):
        request = naive.send(answer) if answer else next(naive)
        kinds.append("read" if request[0] == "GET" else "command")
        answer = (201, {"id": "x"})
    assert kinds == [kind for kind, _ in steps]


@pytest.mark.parametrize(("ratio", "target", "expected"), [
    (0.9, (">=", 0.85), True), (0.8, (">=", 0.85), False),
    (1.4, ("<=", 1.5), True), (2.1, ("<=", 2.0), False)])
def test_target_met_compares_the_ratio_with_its_bound(ratio, target, expected) -> None:
    assert report.met(ratio, target) is expected


def test_percentile_is_nearest_rank() -> None:
    samples = [float(x) for x in range(1, 101)]
    assert percentile(samples, 50) == 50.0
    assert percentile(samples, 99) == 99.0
    assert percentile([3.0], 99) == 3.0
