"""`python -m bench.soak`: the reliability runs at full size, figures in bench/results/soak.json.

- crash: parcels walked through eight commands each (default 400: 3,200 commands) against
  gunicorn (2 workers) on PostgreSQL, while a worker and the projector are SIGKILLed and the
  database is cut for ten seconds (a proxy between the service and PostgreSQL);
- retries: every command sent two or three times with one Idempotency-Key (default 1,667
  parcels of six commands: 10,002 commands).

The reduced sizes run in the test suite (tests/reliability/). See RELIABILITY.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from tests.reliability.crash import crash_run
from tests.reliability.live import connect, start_live, stop_live
from tests.reliability.retries import RetryRun

RESULTS = Path(__file__).resolve().parent / "results"


def _with_live(run: Any, workers: int = 2) -> Any:
    """A fresh schema and service for one run; dropped afterwards."""
    schema = f"soak_{uuid.uuid4().hex[:10]}"
    with connect() as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        with tempfile.TemporaryDirectory() as tmp:
            live = start_live(schema, Path(tmp) / "service.log", workers)
            try:
                return run(live)
            finally:
                stop_live(live)
    finally:
        with connect() as conn:
            for name in (schema, f"{schema}_views", f"{schema}_fresh"):
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def crash(parcels: int, threads: int, outage: float, workers: int) -> dict[str, Any]:
    report = _with_live(lambda live: crash_run(live, parcels, threads, outage,
                                               deadline=3 * 3600), workers)
    return {**report.figures(), "commands sent": report.commands,
            "problems": [repr(p) for p in report.problems[:20]],
            "improper 5xx": len(report.bad_5xx),
            "statuses": {str(k): v for k, v in sorted(report.statuses.items())},
            "views equal a rebuild": report.views_equal_rebuild,
            "projector exit": report.projector_exit,
            "workers unchanged after the outage": report.workers_unchanged_since,
            "timeline": report.timeline}


def retries(parcels: int, threads: int, workers: int) -> dict[str, Any]:
    report = _with_live(lambda live: RetryRun(live, parcels, threads).run(), workers)
    return {**report.figures(), "unacknowledged": len(report.unacknowledged),
            "copies answered differently": len(report.disagreeing),
            "statuses": {str(k): v for k, v in sorted(report.statuses.items())}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crash-parcels", type=int, default=400)
    parser.add_argument("--retry-parcels", type=int, default=1667)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--outage", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--only", choices=["crash", "retries"])
    parser.add_argument("--out", type=Path, default=RESULTS / "soak.json")
    args = parser.parse_args(argv)
    connect().close()  # PostgreSQL is required
    results: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if args.only in (None, "crash"):
        results["crash"] = crash(args.crash_parcels, args.threads, args.outage, args.workers)
        print(json.dumps(results["crash"], indent=2), flush=True)
    if args.only in (None, "retries"):
        results["retries"] = retries(args.retry_parcels, args.threads, args.workers)
        print(json.dumps(results["retries"], indent=2), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    crashed = results.get("crash", {})
    retried = results.get("retries", {})
    failed = (crashed.get("duplicates") or crashed.get("problems") or crashed.get("500 seen")
              or crashed.get("improper 5xx") or crashed.get("views equal a rebuild") is False
              or retried.get("double effects") or retried.get("double refunds"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
