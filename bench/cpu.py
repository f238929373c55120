"""CPU time: this process's (time.process_time) and a server's from /proc/<pid>/stat."""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # the fields after "(comm)"


def process_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads), in seconds; 0 if it is gone."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # fields 14 and 15 of proc(5)


def children(pid: int) -> list[int]:
    """The direct children of a process (gunicorn's workers of its master)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def tree_seconds(pid: int) -> dict[int, float]:
    """{pid: CPU seconds} of a process and its direct children."""
    return {p: process_seconds(p) for p in [pid, *children(pid)]}


def spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two readings of the same processes (a process that
    appeared in between counts from zero)."""
    return sum(after[p] - before.get(p, 0.0) for p in after)
