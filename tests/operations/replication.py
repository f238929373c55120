"""A temporary PostgreSQL primary and a streaming replica of it, on loopback, for one test.

`initdb` a primary on a free port (wal_level=replica, replication from 127.0.0.1 trusted),
`pg_basebackup -R` a replica from it, start both as the `postgres` user (the server refuses
to run as root), stop both and remove their directories afterwards. The shared server on
5432 is not touched.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.reliability.proxy import free_port

BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def unavailable() -> str | None:
    """Why a primary and replica cannot be made here, or None."""
    if not (BIN / "initdb").exists():
        return f"no PostgreSQL server binaries in {BIN} (set PG_BIN)"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no `postgres` user to run the servers as"
    if os.geteuid() != 0 and pwd.getpwuid(os.geteuid()).pw_name != "postgres":
        return "needs root (to run the servers as `postgres`) or the postgres user"
    return None


def _as_postgres(*args: str) -> list[str]:
    if pwd.getpwuid(os.geteuid()).pw_name == "postgres":
        return list(args)
    return ["runuser", "-u", "postgres", "--", *args]


def _run(*args: str) -> None:
    done = subprocess.run(_as_postgres(*args), capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(args[0]).name} failed: {done.stdout}{done.stderr}")


@dataclass
class Server:
    port: int
    data: Path

    def env(self, dbname: str = "postgres") -> dict[str, str]:
        return {"POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": str(self.port),
                "POSTGRES_DBNAME": dbname, "POSTGRES_USER": "postgres",
                "POSTGRES_PASSWORD": ""}

    def connect(self, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(host="127.0.0.1", port=self.port, dbname=dbname,
                               user="postgres", autocommit=True, connect_timeout=5)

    def start(self, log: Path) -> None:
        _run(str(BIN / "pg_ctl"), "-D", str(self.data), "-l", str(log), "-w", "-t", "60",
             "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 "
                   f"-c unix_socket_directories={self.data}", "start")

    def stop(self) -> None:
        subprocess.run(_as_postgres(str(BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast",
                                    "-w", "stop"), capture_output=True, timeout=60)


@contextmanager
def primary_and_replica() -> Iterator[tuple[Server, Server]]:
    root = Path(tempfile.mkdtemp(prefix="rl-replication-"))
    os.chmod(root, 0o755)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    primary = Server(free_port(), root / "primary")
    replica = Server(free_port(), root / "replica")
    started: list[Server] = []
    try:
        _run(str(BIN / "initdb"), "-D", str(primary.data), "-U", "postgres",
             "--auth=trust", "--no-sync", "-E", "UTF8")
        with open(primary.data / "postgresql.conf", "a") as conf:
            conf.write("wal_level = replica\nmax_wal_senders = 4\nfsync = off\n"
                       "max_connections = 60\nshared_buffers = 32MB\n")
        with open(primary.data / "pg_hba.conf", "a") as hba:
            hba.write("host replication postgres 127.0.0.1/32 trust\n")
        primary.start(root / "primary.log")
        started.append(primary)
        _run(str(BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port),
             "-U", "postgres", "-D", str(replica.data), "-R", "-X", "stream", "--no-sync")
        replica.start(root / "replica.log")
        started.append(replica)
        deadline = time.monotonic() + 30
        while True:  # the replica streams
            with primary.connect() as conn:
                if conn.execute("SELECT count(*) FROM pg_stat_replication "
                                "WHERE state = 'streaming'").fetchone()[0]:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the replica does not stream: "
                                   + (root / "replica.log").read_text()[-2000:])
            time.sleep(0.2)
        yield primary, replica
    finally:
        for server in reversed(started):
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
