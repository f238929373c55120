"""The `returns-ledger` command line."""

from __future__ import annotations

import json
import uuid

import click

from application.dto import plain
from application.ledger import ReturnsLedger


@click.group()
def main() -> None:
    """An event-sourced returns ledger for cross-border marketplace sellers."""


@main.group()
def db() -> None:
    """The event store."""


@db.command("init")
def db_init() -> None:
    """Create the event store's tables (run once at deploy time)."""
    ledger = ReturnsLedger({"CREATE_TABLE": "yes"})
    ledger.close()
    click.echo("event store ready")


@main.command()
def demo() -> None:
    """Run one lifecycle per platform through the ledger and print each history."""
    from demo.scenarios import SCENARIOS

    ledger = ReturnsLedger()
    run = uuid.uuid4().hex[:6]
    for name, scenario in SCENARIOS.items():
        parcel_id = scenario(ledger, f"-{run}")
        state = ledger.get_parcel(parcel_id)
        click.secho(f"\n== {name}: parcel {parcel_id} is {state.status} "
                    f"(refunded {state.refunded_total})", bold=True)
        for entry in ledger.get_parcel_history(parcel_id):
            rule = entry.data.get("rule")
            why = f"  [{rule}]" if rule else ""
            click.echo(f"  v{entry.version:<2} {entry.type:<22} "
                       f"{entry.occurred_at.isoformat() if entry.occurred_at else '':<26}{why}")
            facts = entry.data.get("facts")
            if facts:
                click.echo(f"      facts: {json.dumps(plain(facts), ensure_ascii=False)}")
    ledger.close()


from interfaces.cli.deadlines import deadlines  # noqa: E402 - subcommands register last
from interfaces.cli.finance import finance  # noqa: E402
from interfaces.cli.keys import keys  # noqa: E402
from interfaces.cli.project import project  # noqa: E402

main.add_command(project)
main.add_command(deadlines)
main.add_command(keys)
main.add_command(finance)

from interfaces.cli.audit import audit  # noqa: E402
from interfaces.cli.privacy import privacy  # noqa: E402
from interfaces.cli.webhooks import webhooks  # noqa: E402

main.add_command(audit)
main.add_command(privacy)
main.add_command(webhooks)
