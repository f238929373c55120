"""The run's context, recorded with its results so two runs can be compared.

psycopg's implementation (python, c or binary), the PostgreSQL server's version and its
durability settings, the CPU time the hypervisor stole over the run (from /proc/stat),
and a short CPU speed index: a fixed pure-Python loop's rate, taken at the start and the
end of the run.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

SPEED_LOOP = 200_000


def speed_index(repeats: int = 5) -> float:
    """Thousands of iterations per CPU-second of a fixed dict-and-string loop (best of
    `repeats`): the same code on a faster or less contended core scores higher."""
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        table: dict[str, int] = {}
        for i in range(SPEED_LOOP):
            key = f"k{i % 512}"
            table[key] = table.get(key, 0) + i
        best = min(best, time.process_time() - started)
    return SPEED_LOOP / max(best, 1e-9) / 1000


def cpu_counters() -> dict[str, int] | None:
    """The machine-wide CPU counters of /proc/stat in clock ticks, or None off Linux."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return None
    names = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"]
    values = [int(v) for v in first[1:1 + len(names)]]
    return dict(zip(names, values, strict=False))


def cpu_share(before: dict[str, int] | None, after: dict[str, int] | None) -> dict[str, float]:
    """Steal, busy and iowait as percentages of all CPU time between two readings."""
    if not before or not after:
        return {}
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in before}
    total = sum(delta.values()) or 1
    busy = total - delta.get("idle", 0) - delta.get("iowait", 0)
    return {"steal_pct": 100 * delta.get("steal", 0) / total, "busy_pct": 100 * busy / total,
            "iowait_pct": 100 * delta.get("iowait", 0) / total}


def postgres_context() -> dict[str, Any]:
    """The server's version, fsync and synchronous_commit, and psycopg's implementation."""
    out: dict[str, Any] = {}
    try:
        import psycopg

        out["psycopg"] = f"{psycopg.__version__} ({psycopg.pq.__impl__})"
    except ImportError as error:
        return {"psycopg": f"not installed: {error}"}
    try:
        from bench.stores import pg_connect

        with pg_connect(attempts=1) as conn:
            for name in ("server_version", "fsync", "synchronous_commit", "wal_sync_method"):
                row = conn.execute(f"SHOW {name}").fetchone()
                out[name] = row[0] if row else None
    except Exception as error:  # noqa: BLE001 - no server: said so in the results
        out["server"] = f"not reachable: {type(error).__name__}"
    return out


class RunContext:
    """Counters taken at the start of a run, and the context once it has ended."""

    def __init__(self) -> None:
        self.started_counters = cpu_counters()
        self.started_speed = speed_index()
        self.started = time.time()

    def finish(self) -> dict[str, Any]:
        ended_speed = speed_index()
        return {
            "host": f"{platform.node() or 'host'}: {os.cpu_count()} cores",
            "python": f"{platform.python_version()} ({platform.python_implementation()}), "
                      f"optimize={sys.flags.optimize}",
            "load_average_at_end": os.getloadavg() if hasattr(os, "getloadavg") else None,
            "cpu_over_run": cpu_share(self.started_counters, cpu_counters()),
            "speed_index": {"start": round(self.started_speed), "end": round(ended_speed)},
            "seconds": round(time.time() - self.started, 1),
            **postgres_context(),
        }
