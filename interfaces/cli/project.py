"""`returns-ledger project`: run the views as their own process, rebuild one, show lag."""

from __future__ import annotations

import signal
import threading
from typing import Any

import click

from projections.runners import VIEWS
from projections.service import Runners, ViewStores, rebuild

VIEW_NAMES = click.Choice(sorted(VIEWS))


@click.group(invoke_without_command=True)
@click.option("--view", "views", multiple=True, type=VIEW_NAMES,
              help="Run only this view (repeatable); default: every view.")
@click.pass_context
def project(ctx: click.Context, views: tuple[str, ...]) -> None:
    """Follow the ledger into the views until SIGTERM or SIGINT (one process per view set)."""
    if ctx.invoked_subcommand is not None:
        return
    stopping = threading.Event()

    def stop(signum: int, frame: Any) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    runners = Runners(names=views or None).start()
    click.echo(f"projecting {', '.join(runners.names)} (stop with SIGTERM or Ctrl-C)")
    try:
        while not stopping.wait(1.0):
            pass
    finally:
        runners.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("stopped")


@project.command("rebuild")
@click.argument("name", type=VIEW_NAMES)
def project_rebuild(name: str) -> None:
    """Drop a view and replay the whole event store into it (stop its runner first)."""
    with click.progressbar(length=1, label=f"rebuilding {name}") as bar:
        def progress(position: int, target: int) -> None:
            bar.length = max(target, 1)
            bar.update(position - bar.pos)

        position = rebuild(name, progress=progress)
    click.echo(f"{name} rebuilt up to position {position}")


@project.command("status")
def project_status() -> None:
    """Each view's position in the notification log and how far it lags."""
    stores = ViewStores()
    wrong = []
    try:
        for name, (position, lag) in stores.positions().items():
            problem = stores.mismatch(name)
            state = f"  WRONG: {problem}" if problem else ""
            click.echo(f"{name:<12} position {position:>10}  lag {lag:>8}{state}")
            if problem:
                wrong.append(name)
    finally:
        stores.close()
    if wrong:
        raise click.ClickException(
            "these views do not belong to the event store: " + ", ".join(wrong) + "; run "
            + " and ".join(f"`returns-ledger project rebuild {n}`" for n in wrong))
