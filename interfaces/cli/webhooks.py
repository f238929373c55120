"""`returns-ledger webhooks run`: the webhook dispatcher as its own process (production)."""

from __future__ import annotations

import signal
from typing import Any

import click

from application.settings import load
from interfaces.cli.store import wait_for_store
from projections.webhooks import Dispatcher


@click.group()
def webhooks() -> None:
    """Webhook delivery."""


@webhooks.command("run")
def webhooks_run() -> None:
    """Deliver webhooks until SIGTERM or SIGINT. One dispatcher is active per store at a
    time: a second one waits (and says so) until the first stops or dies."""
    wait_for_store(lambda line: click.echo(line, err=True))
    dispatcher = Dispatcher(load(), say=click.echo)

    def stop(signum: int, frame: Any) -> None:
        dispatcher.stopping.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        dispatcher.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("stopped")
