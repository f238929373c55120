"""`returns-ledger serve`: the API under gunicorn, with a banner saying where to go next."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from application.settings import DEFAULT_SQLITE_PATH, SQLITE, load
from interfaces.cli.store import require_store


def banner(host: str, port: int) -> str:
    """Where the service answers, and the first steps (printed before gunicorn starts)."""
    settings = load()
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    url = f"http://{shown}:{port}"
    cli = ".venv/bin/returns-ledger" if Path(".venv/bin/returns-ledger").exists() \
        else "returns-ledger"
    if settings.persistence_module == SQLITE and settings.env["SQLITE_DBNAME"] != DEFAULT_SQLITE_PATH:
        cli = f"SQLITE_DBNAME={settings.env['SQLITE_DBNAME']} {cli}"  # this store, not the default
    lines = [
        f"returns-ledger serves {url}",
        f"  API docs    {url}/docs  (OpenAPI 3: {url}/openapi.json)",
        f"  web pages   {url}/web/  (sign in with an API key)",
        f"  health      {url}/healthz  {url}/readyz  {url}/metrics",
        f"  first key   {cli} keys create --role admin   (in another terminal; the key is "
        "the last line)",
    ]
    if settings.persistence_module == SQLITE:
        lines.append(f"  store       {settings.env['SQLITE_DBNAME']} (SQLite, embedded views)")
        lines.append("  note        the in-process timer destroys every parcel whose TT-2 "
                     "warehouse hold has ended, about once a minute")
    lines.append("  stop        Ctrl-C")
    return "\n".join(lines)


def gunicorn_args(host: str, port: int, workers: int) -> list[str]:
    """The command `serve` runs: gunicorn, tables made already (`db init`)."""
    gunicorn = Path(sys.executable).with_name("gunicorn")
    return [str(gunicorn) if gunicorn.exists() else "gunicorn",
            "--bind", f"{host}:{port}", "--workers", str(workers),
            "--env", "CREATE_TABLE=no", "--no-control-socket", "interfaces.wsgi:app"]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
def serve(host: str, port: int, workers: int) -> None:
    """Serve the HTTP API and the web pages with gunicorn (run `db init` once first)."""
    require_store()  # one line naming the store, not workers that are never ready
    click.echo(banner(host, port), err=True)
    args = gunicorn_args(host, port, workers)
    os.execv(args[0], args) if os.path.isabs(args[0]) else os.execvp(args[0], args)
