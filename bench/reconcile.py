"""`python -m bench.reconcile [--smoke] [--lines N]`: a settlement file reconciled in flat memory.

Generates a settlement file (our columns) of N lines and as many issued ledger refunds
(streamed, never a list), then reconciles it through FinanceDesk on a fresh SQLite ledger:
accepted (file spooled, ledger refunds copied), run (outcome lines recorded as events),
report written as CSV. Baseline, same file, same run: plain `csv.reader` over the file.
Time: wall seconds and the process's CPU seconds (on a shared machine the wall time
includes waiting for a core). Memory: tracemalloc's peak for the whole reconciliation,
at N/10 and at N lines (flat means the two peaks are close), and the process's max RSS.
Target: 1,000,000 lines in under 30 s, the peak at N at most 1.5x the peak at N/10.
The last output line is the result as one JSON object (the bench suite reads it).
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from application.finance.reconciliations import FinanceDesk
from application.ledger import ReturnsLedger
from domain.reconciliation import LedgerRefund

AT = datetime(2026, 3, 31, tzinfo=UTC)


def write_settlement(path: Path, lines: int) -> None:
    """Every 50th reference is split over two lines, every 97th is short by 1.00,
    every 89th is in USD, every 101st is unknown to the ledger."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["reference", "currency", "amount", "order_id", "kind"])
        n = 0
        while n < lines:
            ref = f"R-{n:08d}"
            cents = 1000 + n % 50_000
            if n % 101 == 0:
                ref = f"X-{n:08d}"
            if n % 97 == 0:
                cents -= 100
            currency = "USD" if n % 89 == 0 else "EUR"
            if n % 50 == 0 and n + 1 < lines:
                writer.writerow([ref, currency, _amount(cents - 500), f"O-{n}", "item"])
                writer.writerow([ref, currency, _amount(500), f"O-{n}", "shipping"])
                n += 2
                continue
            writer.writerow([ref, currency, _amount(cents), f"O-{n}", "item"])
            n += 1


def _amount(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def ledger_refunds(lines: int) -> Iterator[LedgerRefund]:
    """Issued refunds R-0 .. R-(N-1) of 10.00 + n % 500.00 EUR, plus 1% never settled."""
    for n in range(lines + lines // 100):
        yield LedgerRefund(f"R-{n:08d}", f"p-{n}", f"O-{n}", f"seller-{n % 40}", "amazon",
                           "EUR", 1000 + n % 50_000, "issued")


def baseline(path: Path) -> float:
    started = time.perf_counter()
    with path.open(newline="", encoding="utf-8") as f:
        rows = sum(1 for _ in csv.reader(f))
    assert rows > 0
    return time.perf_counter() - started


def reconcile_once(path: Path, lines: int, workdir: Path, traced: bool = False,
                   ) -> dict[str, Any]:
    ledger = ReturnsLedger({"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                            "SQLITE_DBNAME": str(workdir / f"ledger-{time.time_ns()}.sqlite3"),
                            "PERSONAL_DATA_KEY": "a" * 43 + "="})
    desk = FinanceDesk(ledger, lambda: ledger_refunds(lines), spool=workdir)
    if traced:
        tracemalloc.start()
    started, cpu = time.perf_counter(), time.process_time()
    with path.open("rb") as stream:
        result = desk.reconcile(stream, path.name, AT, "bench")
    with (workdir / f"report-{result.id}.csv").open("w", newline="", encoding="utf-8") as out:
        desk.write_report(result.id, out)  # to disk, as the CLI does: not held in memory
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = tracemalloc.get_traced_memory()[1] if traced else None
    if traced:
        tracemalloc.stop()
    ledger.close()
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_bytes": peak, "counts": result.counts,
            "outcome_lines": sum(result.counts.values())}


def bench(size: str = "default", reps: int = 3, lines: int | None = None) -> dict[str, Any]:
    lines = lines or (5_000 if size == "smoke" else 100_000)
    reps = min(reps, 3)
    with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as tmp:
        work = Path(tmp)
        path, small = work / "settlement.csv", work / "settlement-small.csv"
        write_settlement(path, lines)
        write_settlement(small, lines // 10)
        base = [baseline(path) for _ in range(max(reps, 3))]
        runs = [reconcile_once(path, lines, work) for _ in range(reps)]
        peak_small = reconcile_once(small, lines // 10, work, traced=True)["peak_bytes"]
        peak_full = reconcile_once(path, lines, work, traced=True)["peak_bytes"]
        size_bytes = path.stat().st_size
    subject = statistics.median(r["seconds"] for r in runs)
    cpu = statistics.median(r["cpu_seconds"] for r in runs)
    plain = statistics.median(base)
    return {
        "name": f"reconcile {lines:,} settlement lines (SQLite ledger)",
        "subject": {"median_s": round(subject, 3), "median_cpu_s": round(cpu, 3),
                    "lines_per_s": round(lines / subject),
                    "outcome_lines": runs[0]["outcome_lines"], "counts": runs[0]["counts"],
                    "file_mb": round(size_bytes / 1e6, 2),
                    "tracemalloc_peak_mb": round(peak_full / 1e6, 2),
                    f"tracemalloc_peak_mb_at_{lines // 10}_lines": round(peak_small / 1e6, 2),
                    "max_rss_mb": round(_max_rss_mb(), 1)},
        "baselines": {"plain csv.reader over the same file": {"median_s": round(plain, 4)}},
        "ratio": {"reconcile time / plain csv parse": round(subject / plain, 1),
                  "peak memory N / peak memory N/10": round(peak_full / peak_small, 2)},
        "target": {"peak memory N / peak memory N/10": ("<=", 1.5),
                   "median_s at 1,000,000 lines": ("<", 30)},
    }


def _max_rss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1e6 if sys.platform == "darwin" else rss / 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reconcile", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="5,000 lines")
    parser.add_argument("--lines", type=int, help="settlement lines (default 100,000)")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    result = bench("smoke" if args.smoke else "default", args.reps, args.lines)
    for key, value in {**result["subject"], **result["ratio"]}.items():
        print(f"{key}: {value}", file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
