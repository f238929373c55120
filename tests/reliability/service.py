"""The service as it runs in production, as real processes: gunicorn workers and a projector.

`Service` starts `gunicorn wsgi:app` (2+ workers, a free loopback port) and
`returns-ledger project` as subprocesses on the given environment, and kills them on demand.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from tests.reliability.proxy import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def cli(env: Mapping[str, str], *args: str) -> str:
    """Run `returns-ledger ARGS`; its last output line (a new key, for `keys create`)."""
    done = subprocess.run([str(BIN / "returns-ledger"), *args], cwd=ROOT, env=dict(env),
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"returns-ledger {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout.strip().splitlines()[-1]


def children(pid: int) -> set[int]:
    """The live child processes of `pid` (gunicorn's workers, for the master)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry.name))
    return found


class Service:
    """gunicorn serving wsgi:app and one `returns-ledger project` process, on one environment."""

    def __init__(self, env: Mapping[str, str], workers: int = 2,
                 log: IO[Any] | int = subprocess.DEVNULL) -> None:
        self.env = {**os.environ, **env}
        self.workers = workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.gunicorn: subprocess.Popen[bytes] | None = None
        self.projector: subprocess.Popen[bytes] | None = None

    # -- gunicorn ----------------------------------------------------------------
    def start(self, timeout: float = 60) -> Service:
        self.gunicorn = subprocess.Popen(
            [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(self.workers), "--env", "CREATE_TABLE=no",
             "--no-control-socket", "wsgi:app"],  # the default socket path is shared
            cwd=ROOT, env=self.env, stdout=self.log, stderr=self.log)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(self.base + "/healthz", timeout=1).close()
                if len(self.worker_pids()) >= self.workers:
                    return
            except OSError:
                pass
            if self.gunicorn is None or self.gunicorn.poll() is not None:
                raise RuntimeError("gunicorn exited before serving")
            if time.monotonic() > deadline:
                raise TimeoutError("gunicorn did not answer /healthz in time")
            time.sleep(0.1)

    def worker_pids(self) -> set[int]:
        assert self.gunicorn is not None
        return children(self.gunicorn.pid)

    def kill_worker(self, timeout: float = 30) -> tuple[int, int]:
        """SIGKILL one worker; answer (killed pid, the pid gunicorn started in its place)."""
        before = self.worker_pids()
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = self.worker_pids()
            fresh = now - before
            if victim not in now and fresh and len(now) >= self.workers:
                return victim, fresh.pop()
            time.sleep(0.05)
        raise TimeoutError("gunicorn did not replace the killed worker")

    # -- the projector -----------------------------------------------------------
    def start_projector(self) -> None:
        # As deployed (deploy/systemd): db init made every table, so no process makes any.
        self.projector = subprocess.Popen([str(BIN / "returns-ledger"), "project"], cwd=ROOT,
                                          env={**self.env, "CREATE_TABLE": "no"},
                                          stdout=self.log, stderr=self.log)

    def kill_projector(self) -> None:
        assert self.projector is not None
        self.projector.send_signal(signal.SIGKILL)
        self.projector.wait(timeout=10)

    def stop_projector(self) -> int:
        """SIGTERM: the runners stop cleanly; answer the exit code."""
        if self.projector is None:
            return 0
        self.projector.send_signal(signal.SIGTERM)
        try:
            return self.projector.wait(timeout=30)
        finally:
            self.projector = None

    def stop(self) -> None:
        for process in (self.projector, self.gunicorn):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.projector = None
