"""`python -m bench.imports [--smoke] [--parcels N] [--memory-lines N]`: bulk import throughput.

Subject: a canonical CSV file of carrier scans (two failed attempts and a failure per
parcel, the parcels registered beforehand, outside the timing) imported through
ImportDesk on a fresh SQLite ledger: accepted (spooled), staged, applied, outcomes per
line recorded. Baseline, same run: the same commands sent one by one through the
application in-process (`record_delivery_attempt`, `record_failed_delivery`) on another
fresh ledger with the same parcels. Ratio: lines per CPU-second of the import over
commands per CPU-second of the baseline (target >= 0.8), and the import's lines per
wall-second (target >= 5,000 on the development machine).
Memory (`--memory-lines N`): tracemalloc's peak over a whole import of N/10 and N lines
(a registration and three scans per parcel), the ledger's own bounded caches set small;
flat means the two peaks are close.
The last output line is the result as one JSON object (the bench suite reads it).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from application.imports.engine import ImportDesk
from application.ledger import ReturnsLedger
from domain.money import Money
from domain.values import Line
from interfaces.api.catalog import ApiCommands

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
KEY = "a" * 43 + "="
SCAN_COLUMNS = ("id", "command", "parcel_tracking_number", "parcel_platform", "occurred_at",
                "reason")
ALL_COLUMNS = (*SCAN_COLUMNS, "platform", "site", "seller_id", "order_id",
               "order_created_at", "tracking_number", "lines", "amount_paid")
PRICE = {"amount": "39.80", "currency": "MYR"}


def _ledger(work: Path, name: str, **env: str) -> ReturnsLedger:
    return ReturnsLedger({"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                          "SQLITE_DBNAME": str(work / f"{name}-{time.time_ns()}.sqlite3"),
                          "PERSONAL_DATA_KEY": KEY, **env})


def _tn(n: int) -> str:
    return f"TN-BENCH-{n:07d}"


def _register(ledger: ReturnsLedger, parcels: int) -> list[Any]:
    return [ledger.register_parcel(
        platform="tiktok_shop", site="MY", seller_id="s1", order_id=f"O-{n}",
        order_created_at=T0 - timedelta(days=1), tracking_number=_tn(n),
        lines=[Line("SKU-MUG", 1, Money.of("39.80", "MYR"))],
        amount_paid=Money.of("39.80", "MYR"), occurred_at=T0).id for n in range(parcels)]


def _scans(n: int) -> Iterator[list[str]]:
    tn = _tn(n)
    for day, command, reason in ((2, "delivery-attempts", "nobody home"),
                                 (3, "delivery-attempts", "shop closed"),
                                 (4, "delivery-failures", "refused")):
        when = (T0 + timedelta(days=day)).isoformat()
        yield [f"{tn}-{day}", command, tn, "tiktok_shop", when, reason]


def write_scans(out: IO[str], parcels: int, with_registrations: bool = False) -> None:
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(ALL_COLUMNS if with_registrations else SCAN_COLUMNS)
    blank = [""] * 8
    for n in range(parcels):
        if with_registrations:
            writer.writerow([f"reg-{n}", "parcels", "", "", T0.isoformat(), "", "tiktok_shop",
                             "MY", "s1", f"O-{n}", (T0 - timedelta(days=1)).isoformat(),
                             _tn(n), json.dumps([{"sku": "SKU-MUG", "quantity": 1,
                                                  "unit_price": PRICE}]), json.dumps(PRICE)])
        for row in _scans(n):
            writer.writerow(row + blank if with_registrations else row)


def baseline(work: Path, parcels: int) -> dict[str, float]:
    ledger = _ledger(work, "baseline")
    try:
        ids = _register(ledger, parcels)
        started, cpu = time.perf_counter(), time.process_time()
        for pid in ids:
            ledger.record_delivery_attempt(pid, "nobody home", T0 + timedelta(days=2))
            ledger.record_delivery_attempt(pid, "shop closed", T0 + timedelta(days=3))
            ledger.record_failed_delivery(pid, "refused", T0 + timedelta(days=4))
        return {"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu}
    finally:
        ledger.close()


def subject(work: Path, parcels: int, data: bytes) -> dict[str, Any]:
    ledger = _ledger(work, "import")
    try:
        _register(ledger, parcels)
        desk = ImportDesk(ledger, ApiCommands(), spool_dir=work / "spool")
        started, cpu = time.perf_counter(), time.process_time()
        view = desk.accept(io.BytesIO(data), "canonical", "s1", "bench", "bench",
                           datetime.now(UTC))
        view = desk.run(view.id)
        return {"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu,
                "counts": view.counts}
    finally:
        ledger.close()


def memory_peak(work: Path, parcels: int) -> tuple[int, float, dict[str, int]]:
    """tracemalloc's peak (bytes) over a whole import of 4 lines per parcel, streamed from
    a file on disk; and its wall seconds."""
    path = work / f"memory-{parcels}.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        write_scans(out, parcels, with_registrations=True)
    # The ledger's own caches are bounded (10,000 aggregates and chain heads by default);
    # kept small here so that what is measured is the import's memory, not theirs.
    ledger = _ledger(work, "memory", AGGREGATE_CACHE_MAXSIZE="100",
                     AUDIT_CHAIN_CACHE_MAXSIZE="100")
    try:
        desk = ImportDesk(ledger, ApiCommands(), spool_dir=work / "spool")
        tracemalloc.start()
        started = time.perf_counter()
        with path.open("rb") as stream:
            view = desk.accept(stream, "canonical", "s1", "bench", "bench", datetime.now(UTC))
        view = desk.run(view.id)
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak, seconds, view.counts
    finally:
        ledger.close()
        path.unlink(missing_ok=True)


def bench(size: str = "default", reps: int = 3, parcels: int | None = None,
          memory_lines: int | None = None) -> dict[str, Any]:
    parcels = parcels or (150 if size == "smoke" else 1500)
    memory_lines = memory_lines or (2_000 if size == "smoke" else 40_000)
    reps = max(1, min(reps, 3))
    with tempfile.TemporaryDirectory(prefix="bench-imports-") as tmp:
        work = Path(tmp)
        text = io.StringIO()
        write_scans(text, parcels)
        data = text.getvalue().encode()
        lines = parcels * 3
        base = [baseline(work, parcels) for _ in range(reps)]
        runs = [subject(work, parcels, data) for _ in range(reps)]
        small_peak, _, _ = memory_peak(work, max(1, memory_lines // 40))
        big_peak, big_seconds, big_counts = memory_peak(work, memory_lines // 4)
    base_cpu = statistics.median(b["cpu"] for b in base)
    sub_cpu = statistics.median(r["cpu"] for r in runs)
    sub_wall = statistics.median(r["seconds"] for r in runs)
    return {
        "name": f"import {lines:,} canonical scan lines (sqlite)",
        "subject": {"lines_per_cpu_s": round(lines / sub_cpu),
                    "lines_per_s": round(lines / sub_wall), "counts": runs[0]["counts"],
                    f"memory_{memory_lines}_lines": {
                        "tracemalloc_peak_mb": round(big_peak / 1e6, 2),
                        "seconds": round(big_seconds, 1), "counts": big_counts},
                    f"tracemalloc_peak_mb_at_{memory_lines // 10}_lines":
                        round(small_peak / 1e6, 2)},
        "baselines": {"the same commands one by one, in-process": {
            "commands_per_cpu_s": round(lines / base_cpu),
            "commands_per_s": round(lines / statistics.median(b["seconds"] for b in base))}},
        "ratio": {"import lines per CPU-s vs commands one by one": round(base_cpu / sub_cpu, 2),
                  "import lines per wall-s": round(lines / sub_wall),
                  "peak memory N / peak memory N/10": round(big_peak / small_peak, 2)},
        "target": {"import lines per CPU-s vs commands one by one": (">=", 0.8),
                   "import lines per wall-s": (">=", 5000),
                   "peak memory N / peak memory N/10": ("<=", 1.5)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.imports", description=__doc__)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--parcels", type=int, default=None)
    parser.add_argument("--memory-lines", type=int, default=None)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    result = bench("smoke" if args.smoke else "default", args.reps, args.parcels,
                   args.memory_lines)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
