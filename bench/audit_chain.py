"""`python -m bench.audit_chain [--smoke] [--events N]`: what the audit costs (SQLite).

1. The command path: the same lifecycles on a fresh store with the transparency log kept
   (the tree appended by the follower for every event and a signed checkpoint at the end,
   counted in), against the same ledger without the log (its hash chain only), and the
   library's plain Mapper and EventStore; turns in rotating order. CPU time
   (time.process_time) per event. The commands' code is the same with and without the log
   (the tree is appended by the checkpoint, not by a command), so the log's run also gives
   its own paired ratio, (commands + the log's work) / commands: the same run, none of the
   run-to-run spread of a loaded machine.
2. A log of N events (default 1,000,000; rows written straight into the event table,
   correctly chained, 10 per aggregate): the tree is built, then 1,000 new events are
   stored and a checkpoint taken (tree append + map + signature), timed.
3. Inclusion proofs of random events against that checkpoint: p50/p99 of 1,000.
4. Full verification of the N events (every row's form, hash and chain link, and the
   tree against the checkpoint): events per second of CPU time.

Prints one JSON object (the bench suite reads the last line).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventsourcing.persistence import EventStore, Mapper

from application.audit.log import AuditLog, load_signer, new_signing_key
from application.ledger import ReturnsLedger
from bench.stats import percentile
from demo.scenarios import SCENARIOS
from infrastructure.hash_chain import GENESIS, event_hash

KEY = base64.urlsafe_b64encode(b"b" * 32).decode()
NOW = datetime(2026, 4, 1, tzinfo=UTC)
TOPIC = "domain.parcel:ReturnParcel.DeliveryAttemptFailed"


class UnchainedLedger(ReturnsLedger):
    """The baseline: the same ledger with the library's own Mapper and EventStore."""

    def construct_mapper(self) -> Mapper:  # type: ignore[override]
        return self.factory.mapper(transcoder=self.construct_transcoder())

    def construct_event_store(self) -> EventStore:  # type: ignore[override]
        return self.factory.event_store(mapper=self.mapper, recorder=self.recorder)


def _env(tmp: str) -> dict[str, str]:
    return {"SQLITE_DBNAME": str(Path(tmp) / f"{uuid.uuid4().hex}.sqlite3"),
            "PERSONAL_DATA_KEY": KEY, "AUDIT_SIGNING_KEY": SIGNING_KEY}


SIGNING_KEY = new_signing_key()


def _commands(cls: type[ReturnsLedger], env: dict[str, str], parcels: int,
              with_log: bool) -> tuple[float, float, int]:
    """CPU of the commands, CPU of the log's work for their events (0 without the log),
    and the number of events."""
    ledger = cls(env)
    names = sorted(SCENARIOS)
    cpu = time.process_time()
    for n in range(parcels):
        SCENARIOS[names[n % len(names)]](ledger, f"-{n}")
    commands = time.process_time() - cpu
    cpu = time.process_time()
    if with_log:
        AuditLog(ledger).checkpoint(NOW)  # the follower's whole work for these events
    log = time.process_time() - cpu
    events = ledger.recorder.max_notification_id() or 0
    ledger.close()
    return commands, log, events


def command_path(parcels: int, reps: int) -> dict[str, Any]:
    """CPU per event: the ledger with its log, the ledger without it (hash chain only, as
    before the log), and the library's plain store; turns in rotating order."""
    variants = [("log", ReturnsLedger, True), ("chain", ReturnsLedger, False),
                ("plain", UnchainedLedger, False)]
    cpu: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    paired: list[float] = []  # the log's run: (commands + its log work) / commands
    log_us: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for turn in range(reps):
            order = variants[turn % 3:] + variants[:turn % 3]  # no order bias
            for name, cls, with_log in order:
                commands, log, events = _commands(cls, _env(tmp), parcels, with_log)
                cpu[name].append((commands + log) / events)
                if with_log:
                    paired.append((commands + log) / commands)
                    log_us.append(log / events * 1e6)
    med = statistics.median
    return {"with_log_cpu_us_per_event": round(med(cpu["log"]) * 1e6, 1),
            "chain_only_cpu_us_per_event": round(med(cpu["chain"]) * 1e6, 1),
            "plain_cpu_us_per_event": round(med(cpu["plain"]) * 1e6, 1),
            "log_work_cpu_us_per_event": round(med(log_us), 1),
            "cpu_ratio_paired": round(med(paired), 3),
            "cpu_ratio": round(med(cpu["log"]) / med(cpu["chain"]), 3),
            "cpu_ratio_vs_plain_library": round(med(cpu["log"]) / med(cpu["plain"]), 3)}


def _write_rows(path: str, start: int, count: int, heads: dict[int, tuple[int, str]]) -> None:
    """`count` correctly chained events straight into the table, 10 per aggregate."""
    db = sqlite3.connect(path)
    rows = []
    for n in range(start, start + count):
        aggregate = n // 10
        oid = uuid.UUID(int=aggregate + 1)
        version, prev = heads.get(aggregate, (0, GENESIS))
        state = json.dumps({"timestamp": n, "reason": "not at home", "prev_hash": prev},
                           separators=(",", ":")).encode()
        heads[aggregate] = (version + 1, event_hash(oid, version + 1, TOPIC, state))
        rows.append((oid.hex, version + 1, TOPIC, state))
        if len(rows) == 50_000:
            db.executemany("INSERT INTO stored_events (originator_id, originator_version, "
                           "topic, state) VALUES (?, ?, ?, ?)", rows)
            rows = []
    db.executemany("INSERT INTO stored_events (originator_id, originator_version, topic, "
                   "state) VALUES (?, ?, ?, ?)", rows)
    db.commit()
    db.close()


def big_log(events: int, proofs: int = 1000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        env = _env(tmp)
        ledger = ReturnsLedger(env)
        log = AuditLog(ledger, load_signer(env))
        heads: dict[int, tuple[int, str]] = {}
        _write_rows(env["SQLITE_DBNAME"], 0, events, heads)
        started = time.perf_counter()
        log.checkpoint(NOW)
        build = time.perf_counter() - started
        _write_rows(env["SQLITE_DBNAME"], events, 1000, heads)
        started, cpu = time.perf_counter(), time.process_time()
        taken, new = log.checkpoint(NOW)
        checkpoint_s = time.perf_counter() - started
        checkpoint_cpu = time.process_time() - cpu
        assert new and taken.size == events + 1000
        rng = random.Random(7)
        timings, cpu_timings = [], []
        for _ in range(proofs):
            position = rng.randint(1, events + 1000)
            started, cpu = time.perf_counter(), time.process_time()
            log.inclusion(position=position)
            timings.append((time.perf_counter() - started) * 1000)
            cpu_timings.append((time.process_time() - cpu) * 1000)
        cpu = time.process_time()
        result = log.verify_all(taken.note)
        verify_cpu = time.process_time() - cpu
        assert result.ok, result
        ledger.close()
        size = Path(env["SQLITE_DBNAME"]).stat().st_size
    return {"events": events + 1000, "tree_build_s": round(build, 1),
            "checkpoint_after_1000_s": round(checkpoint_s, 3),
            "checkpoint_after_1000_cpu_s": round(checkpoint_cpu, 3),
            "inclusion_p50_ms": round(percentile(timings, 50), 3),
            "inclusion_p99_ms": round(percentile(timings, 99), 3),
            "inclusion_cpu_p50_ms": round(percentile(cpu_timings, 50), 3),
            "inclusion_cpu_p99_ms": round(percentile(cpu_timings, 99), 3),
            "verify_events_per_cpu_s": round((events + 1000) / verify_cpu),
            "store_mb": round(size / 1e6, 1),
            "digest": hashlib.sha256(taken.root).hexdigest()[:16]}


def bench(size: str = "default", reps: int = 5, events: int | None = None) -> dict[str, Any]:
    smoke = size == "smoke"
    path = command_path(5 if smoke else 60, reps)
    log = big_log(events or (10_000 if smoke else 1_000_000), 100 if smoke else 1000)
    return {"name": "audit log (sqlite)", "reps": reps, **path, **log,
            "baselines": {"ledger without the log": {
                "cpu_us_per_event": path["chain_only_cpu_us_per_event"]},
                "library's plain store": {"cpu_us_per_event": path["plain_cpu_us_per_event"]}},
            "ratio": {"command CPU with the log / without": path["cpu_ratio"],
                      "command CPU with the log's work / the same run's commands": path[
                          "cpu_ratio_paired"],
                      "checkpoint after 1,000 new events, CPU s": log[
                          "checkpoint_after_1000_cpu_s"],
                      "inclusion proof p99, CPU ms": log["inclusion_cpu_p99_ms"],
                      "verification, events per CPU s / 100,000": round(
                          log["verify_events_per_cpu_s"] / 100_000, 3)},
            "target": {"command CPU with the log / without": ["<=", 1.10],
                       "command CPU with the log's work / the same run's commands": [
                           "<=", 1.10],
                       "checkpoint after 1,000 new events, CPU s": ["<=", 1.0],
                       "inclusion proof p99, CPU ms": ["<=", 5.0],
                       "verification, events per CPU s / 100,000": [">=", 1.0]}}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.audit_chain")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--events", type=int, help="size of the big log (default 1,000,000)")
    args = parser.parse_args()
    print(json.dumps(bench("smoke" if args.smoke else "default", 2 if args.smoke else 5,
                           args.events)))
