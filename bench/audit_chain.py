"""`python -m bench.audit_chain [--smoke]`: the hash chain's cost, against the same ledger without it.

Each turn runs the same lifecycles on a fresh store with the chained event store (the
ledger) and with the library's plain Mapper/EventStore (the baseline), alternating, and
then times digest and verify_all over the ledger's store. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from eventsourcing.persistence import EventStore, Mapper

from application.audit.verification import LedgerAudit
from application.ledger import ReturnsLedger
from demo.scenarios import SCENARIOS

KEY = base64.urlsafe_b64encode(b"b" * 32).decode()


class UnchainedLedger(ReturnsLedger):
    """The baseline: the same ledger with the library's own Mapper and EventStore."""

    def construct_mapper(self) -> Mapper:  # type: ignore[override]
        return self.factory.mapper(transcoder=self.construct_transcoder())

    def construct_event_store(self) -> EventStore:  # type: ignore[override]
        return self.factory.event_store(mapper=self.mapper, recorder=self.recorder)


def _run(cls: type[ReturnsLedger], env: dict[str, str],
         parcels: int) -> tuple[float, float, int]:
    ledger = cls(env)
    names = sorted(SCENARIOS)
    started, cpu = time.perf_counter(), time.process_time()
    for n in range(parcels):
        SCENARIOS[names[n % len(names)]](ledger, f"-{n}")
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    events = ledger.recorder.max_notification_id() or 0
    ledger.close()
    return elapsed, cpu, events


def bench(size: str = "default", reps: int = 5) -> dict[str, Any]:
    parcels = 10 if size == "smoke" else 100
    chained, plain, digests, verifies, events = [], [], [], [], 0
    cpu: dict[type, list[float]] = {ReturnsLedger: [], UnchainedLedger: []}
    with tempfile.TemporaryDirectory() as tmp:
        for turn in range(reps):
            pairs = [(ReturnsLedger, chained), (UnchainedLedger, plain)]
            for cls, times in pairs if turn % 2 == 0 else pairs[::-1]:  # no order bias
                env = {"SQLITE_DBNAME": str(Path(tmp) / f"{uuid.uuid4().hex}.sqlite3"),
                       "PERSONAL_DATA_KEY": KEY}
                elapsed, used, events = _run(cls, env, parcels)
                times.append(elapsed / events)
                cpu[cls].append(used / events)
                if cls is ReturnsLedger:
                    ledger = ReturnsLedger(env)
                    audit = LedgerAudit(ledger)
                    started = time.perf_counter()
                    audit.digest()
                    digests.append((time.perf_counter() - started) / events)
                    started = time.perf_counter()
                    assert audit.verify_all().ok
                    verifies.append((time.perf_counter() - started) / events)
                    ledger.close()
    med = statistics.median
    return {"name": "hash chain on save (sqlite)", "events_per_run": events, "reps": reps,
            "subject_us_per_event": round(med(chained) * 1e6, 1),
            "baselines": {"unchained_us_per_event": round(med(plain) * 1e6, 1)},
            "ratio": round(med(chained) / med(plain), 3),
            "cpu_ratio": round(med(cpu[ReturnsLedger]) / med(cpu[UnchainedLedger]), 3),
            "digest_events_per_s": round(1 / med(digests)),
            "verify_all_events_per_s": round(1 / med(verifies))}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.audit_chain")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    print(json.dumps(bench("smoke" if args.smoke else "default", 2 if args.smoke else 5)))
