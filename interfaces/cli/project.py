"""`returns-ledger project`: run the views as their own process, rebuild one, show lag."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

import click

from interfaces.cli.store import require_store, wait_for_store
from projections.locks import ViewBusyError, ViewLock
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
    if wait_for_store(lambda line: click.echo(line, err=True), stopping.is_set) is None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        click.echo("stopped")
        return
    runners = Runners(names=views or None).start()
    waiting = runners.waiting()
    running = [name for name in runners.names if name not in waiting]
    if running:
        click.echo(f"projecting {', '.join(running)} (stop with SIGTERM or Ctrl-C)")
    known: dict[str, Any] = {}
    try:
        while True:
            for name, holder in waiting.items():
                if known.get(name, False) != holder:  # False: it was not waiting before
                    click.echo(f"{name}: waiting for {holder or 'another process'}, which "
                               f"holds this view's lock; it starts here when that one stops",
                               err=True)
            for name in sorted(set(known) - set(waiting)):
                click.echo(f"projecting {name}: the other process let it go")
            known = waiting
            if stopping.wait(1.0):
                break
            waiting = runners.waiting()
    finally:
        runners.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("stopped")


@project.command("rebuild")
@click.argument("name", type=VIEW_NAMES)
def project_rebuild(name: str) -> None:
    """Drop a view and replay the whole event store into it.

    Refused while a runner (`project`, or the API's embedded runners) or another rebuild
    holds the view's lock: stop that process first. A runner started meanwhile waits.
    """
    require_store()
    try:
        with click.progressbar(length=1, label=f"rebuilding {name}") as bar:
            def progress(position: int, target: int) -> None:
                bar.length = max(target, 1)
                bar.update(position - bar.pos)

            position = rebuild(name, progress=progress)
    except ViewBusyError as busy:
        raise click.ClickException(
            f"not rebuilding {name}: {busy.holder or 'another process'} holds its lock; "
            f"stop that process first (nothing was changed)") from None
    click.echo(f"{name} rebuilt up to position {position}")


@project.command("status")
@click.option("--max-lag", type=click.IntRange(0), default=None,
              help="Exit 3 when a view lags more events than this (a health check).")
def project_status(max_lag: int | None) -> None:
    """Each view's position in the notification log, how far it lags, and who runs it."""
    require_store()
    stores = ViewStores()
    wrong, behind = [], []
    try:
        for name, (position, lag) in stores.positions().items():
            problem = stores.mismatch(name)
            state = f"  WRONG: {problem}" if problem else ""
            holder = ViewLock(name, stores.env).holder()
            runner = f"  run by {holder}" if holder else "  not running"
            click.echo(f"{name:<12} position {position:>10}  lag {lag:>8}{runner}{state}")
            if problem:
                wrong.append(name)
            if max_lag is not None and lag > max_lag:
                behind.append(f"{name} ({lag})")
    finally:
        stores.close()
    if wrong:
        raise click.ClickException(
            "these views do not belong to the event store: " + ", ".join(wrong) + "; run "
            + " and ".join(f"`returns-ledger project rebuild {n}`" for n in wrong))
    if behind:
        click.echo(f"lagging more than {max_lag} events: {', '.join(behind)}", err=True)
        sys.exit(3)
