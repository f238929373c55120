"""Medians and percentiles of repeated measurements."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(samples: Sequence[float], pct: float) -> float:
    """The nearest-rank percentile of the samples (pct in 0..100)."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, math.ceil(pct / 100 * len(ordered)) - 1))
    return ordered[rank]


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50 and p99 in milliseconds, and the sample count."""
    return {"p50_ms": percentile(seconds, 50) * 1000, "p99_ms": percentile(seconds, 99) * 1000,
            "samples": len(seconds)}


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def combine(reps: list[dict[str, float]]) -> dict[str, float]:
    """The median of each figure over the repetitions, and the repetition count."""
    keys = [k for k in reps[0] if isinstance(reps[0][k], (int, float))]
    out: dict[str, float] = {k: median([r[k] for r in reps]) for k in keys}
    out["reps"] = len(reps)
    return out
