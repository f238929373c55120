"""Gunicorn under the same settings for every app the HTTP bench compares."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
# One setting for all: 2 workers (2 cores) of 8 threads; the load generator closes every
# connection, so the kernel hands each request to whichever worker accepts first.
GUNICORN_ARGS = ["--workers", "2", "--worker-class", "gthread", "--threads", "8",
                 "--backlog", "256", "--log-level", "warning", "--no-control-socket"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _wait_ready(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}")
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not start listening in time")


@contextmanager
def gunicorn(app_path: str, env: Mapping[str, str], log: Path | None = None
             ) -> Iterator[tuple[str, int, int]]:
    """Serve `module:app` on a free loopback port: (host, port, the master's pid); stop
    that server (only it) afterwards."""
    port = free_port()
    full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", app_path,
                             "--bind", f"{HOST}:{port}", *GUNICORN_ARGS],
                            env=full_env, cwd=ROOT, stdout=out, stderr=out)
    try:
        _wait_ready(port, proc)
        time.sleep(0.3)  # let the second worker boot too
        yield HOST, port, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if log:
            out.close()
