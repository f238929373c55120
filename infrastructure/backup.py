"""Backups of the store with the key files its data needs, and restores that refuse to
overwrite data.

A backup is a directory:

- `manifest.json`: what it holds, the SHA-256 of every file, the audit log's signed
  checkpoint and the ledger digest taken just before the copy (the copy holds at least
  those events, unchanged: the restore checks both).
- `checkpoint.note`: that checkpoint (a C2SP signed note, application/audit/transparency.py),
  also in the manifest; keep a copy and the log's public key outside the backup.
- SQLite: `ledger.sqlite3`, `views.sqlite3` and `webhooks.sqlite3` (the dispatcher's queue),
  copied with SQLite's online backup API (a consistent snapshot while the service writes).
  The views and the queue are copied first, so they are never ahead of the ledger's copy;
  their runners catch up after a restore (a delivery sent after the queue's copy may be
  sent again: deliveries are at least once).
- PostgreSQL: `store.pgdump`, one `pg_dump --format=custom` of the event store's schema and
  the views' schema (one snapshot, so the views match the events).
- `keys/`: every key file the settings name (`*_KEY_FILE`: the personal-data master key, the
  web secret, and any other the service is configured with), mode 0600. A key given in the
  environment instead (`PERSONAL_DATA_KEY`, `SECRET_KEY`) is not in the backup: the manifest
  says so, and keeping it with the backup is the operator's job.

Keep backups as safe as the keys in them: whoever has one can read the sealed personal data.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infrastructure.webhook_store import STORE_NAME, store_env

FORMAT = 1
MANIFEST = "manifest.json"
CHECKPOINT_NOTE = "checkpoint.note"
SQLITE = "eventsourcing.sqlite"
POSTGRES = "eventsourcing.postgres"
DEFAULT_KEY_FILES = {"PERSONAL_DATA_KEY_FILE": "var/personal-data.key",
                     "WEB_SECRET_KEY_FILE": "var/web-secret.key",
                     "AUDIT_SIGNING_KEY_FILE": "var/audit-signing.key"}
KEYS_IN_ENV = {"PERSONAL_DATA_KEY_FILE": "PERSONAL_DATA_KEY",
               "WEB_SECRET_KEY_FILE": "SECRET_KEY",
               "AUDIT_SIGNING_KEY_FILE": "AUDIT_SIGNING_KEY"}
WHAT_A_KEY_HOLDS = {
    "PERSONAL_DATA_KEY_FILE": "the personal-data master key: without it the sealed identity "
                              "data (LZ-1) cannot be read again; the events still verify",
    "WEB_SECRET_KEY_FILE": "the web session secret: without it every web sign-in ends "
                           "(sign in again); no data is lost",
    "AUDIT_SIGNING_KEY_FILE": "the audit log's checkpoint signing key: without it new "
                              "checkpoints need a new key that verifiers must be told of; "
                              "checkpoints signed before still verify with its public key",
}


class BackupError(RuntimeError):
    """A backup or restore that cannot go on; the message says why and what to do."""


@dataclass
class BackupReport:
    path: Path
    digest: str
    events: int
    files: dict[str, str] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)
    keys_not_included: list[str] = field(default_factory=list)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def key_fingerprint(env: Mapping[str, str]) -> str | None:
    """A fingerprint of the personal-data master key in use (from the environment or its
    file), to tell a restore that would pair the data with another key; None: no key yet."""
    raw = env.get("PERSONAL_DATA_KEY")
    if not raw:
        path = Path(env.get("PERSONAL_DATA_KEY_FILE") or DEFAULT_KEY_FILES["PERSONAL_DATA_KEY_FILE"])
        raw = path.read_text().strip() if path.exists() else None
    if not raw:
        return None
    return hashlib.sha256(b"returns-ledger key fingerprint\x00" + raw.strip().encode()
                          ).hexdigest()[:16]


def key_files(env: Mapping[str, str]) -> dict[str, Path]:
    """{variable: path} of every key file the settings name (the defaults included)."""
    names = {**DEFAULT_KEY_FILES,
             **{k: v for k, v in env.items() if k.endswith("_KEY_FILE") and v}}
    return {name: Path(env.get(name) or default) for name, default in sorted(names.items())}


def views_sqlite_file(env: Mapping[str, str]) -> Path:
    explicit = env.get("VIEWS_SQLITE_DBNAME")
    return Path(explicit) if explicit else Path(env["SQLITE_DBNAME"]).with_name("views.sqlite3")


def _pg_args(env: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
    args = ["--host", env.get("POSTGRES_HOST", "127.0.0.1"),
            "--port", env.get("POSTGRES_PORT", "5432"),
            "--username", env.get("POSTGRES_USER", "postgres"),
            "--dbname", env.get("POSTGRES_DBNAME", "returns_ledger")]
    # env is the validated settings' (the whole environment): pg_dump is found on its PATH.
    child = {"PATH": env.get("PATH", "/usr/bin:/bin"), "PGCONNECT_TIMEOUT": "10"}
    if env.get("POSTGRES_PASSWORD"):
        child["PGPASSWORD"] = env["POSTGRES_PASSWORD"]
    return args, child


def pg_schemas(env: Mapping[str, str]) -> list[str]:
    return [env.get("POSTGRES_SCHEMA") or "public", env.get("VIEWS_POSTGRES_SCHEMA") or "views"]


def _run(command: list[str], child_env: dict[str, str]) -> None:
    try:
        done = subprocess.run(command, env=child_env, capture_output=True, text=True,
                              check=False)
    except FileNotFoundError:
        raise BackupError(f"{command[0]} is not installed (PostgreSQL's client tools)") from None
    if done.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} failed: {done.stderr.strip()}")


# -- backup ------------------------------------------------------------------------
def backup(env: Mapping[str, str], ledger_digest: str, events: int, destination: Path,
           checkpoint: Mapping[str, Any] | None = None) -> BackupReport:
    """Copy the store and its key files into `destination` (a new or empty directory), with
    the signed `checkpoint` taken just before ({"size", "note", "key"}), if any."""
    if destination.exists() and any(destination.iterdir()):
        raise BackupError(f"{destination} is not empty: give a new directory")
    destination.mkdir(parents=True, exist_ok=True)
    os.chmod(destination, 0o700)
    report = BackupReport(destination, ledger_digest, events)
    module = env["PERSISTENCE_MODULE"]
    if module == SQLITE:
        for follower, name in _followers(env):
            if follower.exists():  # first: never ahead of the ledger's copy
                _sqlite_copy(follower, destination / name)
        _sqlite_copy(Path(env["SQLITE_DBNAME"]), destination / "ledger.sqlite3")
    elif module == POSTGRES:
        args, child = _pg_args(env)
        schemas = [arg for schema in pg_schemas(env) for arg in ("--schema", schema)]
        _run(["pg_dump", *args, "--format=custom", "--no-owner", *schemas,
              "--file", str(destination / "store.pgdump")], child)
    else:
        raise BackupError(f"nothing to back up: {module} keeps the store in memory")
    if checkpoint is not None:
        (destination / CHECKPOINT_NOTE).write_text(checkpoint["note"], encoding="utf-8")
    keys_dir = destination / "keys"
    keys_dir.mkdir(mode=0o700)
    for name, path in key_files(env).items():
        in_env = KEYS_IN_ENV.get(name)
        if in_env and env.get(in_env):
            report.keys_not_included.append(f"{in_env} (given in the environment: keep it "
                                            f"with this backup)")
            continue
        if not path.exists():
            report.keys_not_included.append(f"{name} ({path} does not exist)")
            continue
        target = keys_dir / f"{name}"
        shutil.copyfile(path, target)
        os.chmod(target, 0o600)
        report.keys.append(name)
    for path in sorted(destination.rglob("*")):
        if path.is_file():
            report.files[str(path.relative_to(destination))] = _sha256(path)
    manifest = {
        "format": FORMAT, "created_at": datetime.now(UTC).isoformat(),
        "persistence_module": module, "digest": ledger_digest, "events": events,
        "checkpoint": dict(checkpoint) if checkpoint is not None else None,
        "personal_data_key_fingerprint": key_fingerprint(env),
        "schemas": pg_schemas(env) if module == POSTGRES else None,
        "keys": {name: {"file": f"keys/{name}", "holds": WHAT_A_KEY_HOLDS.get(name, "a key")}
                 for name in report.keys},
        "keys_not_included": report.keys_not_included, "files": report.files,
    }
    (destination / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return report


def _followers(env: Mapping[str, str]) -> list[tuple[Path, str]]:
    """The SQLite files that follow the ledger's (the views, the webhook queue) and their
    names in a backup."""
    queue = Path(store_env(env)[f"{STORE_NAME.upper()}_SQLITE_DBNAME"])
    return [(views_sqlite_file(env), "views.sqlite3"), (queue, "webhooks.sqlite3")]


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy while other connections write."""
    if not source.exists():
        raise BackupError(f"{source} does not exist: is SQLITE_DBNAME right?")
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


# -- restore ------------------------------------------------------------------------
def read_manifest(source: Path) -> dict[str, Any]:
    """The backup's manifest, after checking every file against its SHA-256."""
    try:
        manifest: dict[str, Any] = json.loads((source / MANIFEST).read_text())
    except FileNotFoundError:
        raise BackupError(f"{source} holds no {MANIFEST}: not a backup") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"backup format {manifest.get('format')!r} is not {FORMAT}")
    for name, expected in manifest["files"].items():
        path = source / name
        if not path.exists():
            raise BackupError(f"the backup lacks {name}")
        if _sha256(path) != expected:
            raise BackupError(f"{name} in the backup is damaged (its SHA-256 differs)")
    return manifest


def restore(env: Mapping[str, str], source: Path) -> dict[str, Any]:
    """Restore a backup into the configured store, which must hold no data; answer the
    manifest. Key files go where the settings say; an existing different one is refused."""
    manifest = read_manifest(source)
    module = env["PERSISTENCE_MODULE"]
    if manifest["persistence_module"] != module:
        raise BackupError(f"the backup is of {manifest['persistence_module']}, the settings "
                          f"say {module}")
    key_moves = _key_moves(env, manifest, source)
    wanted = manifest.get("personal_data_key_fingerprint")
    if env.get("PERSONAL_DATA_KEY") and wanted and key_fingerprint(env) != wanted:
        raise BackupError("PERSONAL_DATA_KEY is not the key the backup's data is sealed with "
                          "(fingerprints differ): set the backup's key, or the sealed "
                          "personal data would be unreadable")
    if module == SQLITE:
        ledger_file = Path(env["SQLITE_DBNAME"])
        followers = _followers(env)
        for path in (ledger_file, *(p for p, _ in followers)):
            rows = _sqlite_rows(path)
            if rows:
                raise BackupError(f"{path} is not empty ({rows} rows): restore only into a "
                                  f"new store (move it away, or give another SQLITE_DBNAME)")
        ledger_file.parent.mkdir(parents=True, exist_ok=True)
        _sqlite_replace(source / "ledger.sqlite3", ledger_file)
        for path, name in followers:
            if (source / name).exists():
                _sqlite_replace(source / name, path)
    else:
        schemas = pg_schemas(env)
        if manifest["schemas"] != schemas:
            raise BackupError(f"the backup holds the schemas {manifest['schemas']}; set "
                              f"POSTGRES_SCHEMA and VIEWS_POSTGRES_SCHEMA to them (now "
                              f"{schemas})")
        _pg_refuse_data(env, schemas)
        args, child = _pg_args(env)
        _run(["pg_restore", *args, "--clean", "--if-exists", "--no-owner", "--exit-on-error",
              str(source / "store.pgdump")], child)
    for origin, target in key_moves:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(origin, target)
        os.chmod(target, 0o600)
    return manifest


def _key_moves(env: Mapping[str, str], manifest: dict[str, Any], source: Path,
               ) -> list[tuple[Path, Path]]:
    """Where each key file of the backup goes; refused before anything is written when a
    different key already lies there (it may seal someone else's data)."""
    targets = key_files(env)
    moves = []
    for name, entry in manifest["keys"].items():
        origin = source / entry["file"]
        target = targets.get(name) or Path(DEFAULT_KEY_FILES.get(name, f"var/{name}"))
        if target.exists():
            if _sha256(target) != _sha256(origin):
                raise BackupError(f"{target} ({name}) exists and differs from the backup's: "
                                  f"move it away first, or point {name} elsewhere")
            continue
        moves.append((origin, target))
    return moves


def _sqlite_rows(path: Path) -> int:
    if not path.exists() or path.stat().st_size == 0:
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        return sum(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables)
    finally:
        conn.close()


def _sqlite_replace(source: Path, target: Path) -> None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _pg_refuse_data(env: Mapping[str, str], schemas: list[str]) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(host=env.get("POSTGRES_HOST", "127.0.0.1"),
                         port=env.get("POSTGRES_PORT", "5432"),
                         dbname=env.get("POSTGRES_DBNAME"), user=env.get("POSTGRES_USER"),
                         password=env.get("POSTGRES_PASSWORD") or None, autocommit=True,
                         connect_timeout=10) as conn:
        for schema in schemas:
            tables = [row[0] for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                "AND table_type = 'BASE TABLE'", (schema,))]
            for table in tables:
                row = conn.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(
                    sql.Identifier(schema, table))).fetchone()
                if row and row[0]:
                    raise BackupError(f"{schema}.{table} in {env.get('POSTGRES_DBNAME')} holds "
                                      f"data: restore only into a new database or schema")
