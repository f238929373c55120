"""The `returns-ledger` command line."""

from __future__ import annotations

import json
import uuid

import click

from application.dto import plain
from application.ledger import ReturnsLedger
from domain.errors import NotFoundError
from interfaces.cli import store
from interfaces.cli.store import settings_for_command


@click.group()
def main() -> None:
    """An event-sourced returns ledger for cross-border marketplace sellers."""


@main.group()
def db() -> None:
    """The event store."""


@db.command("init")
@click.option("--create-database", is_flag=True,
              help="PostgreSQL: create the database first when it does not exist.")
def db_init(create_database: bool) -> None:
    """Create the event store's tables (run once at deploy time; safe to run again)."""
    settings = settings_for_command({"CREATE_TABLE": "yes"})
    if create_database and store.create_database(settings):
        click.echo(f"created the database {settings.env['POSTGRES_DBNAME']!r}")
    if settings.persistence_module == store.POSTGRES:
        problem, kind = store.postgres_problem(settings.env)
        if kind == "missing-database":
            raise store.StoreMissingError(
                f"{problem}: create it with `returns-ledger db init --create-database`, "
                "or `createdb`, or set POSTGRES_DBNAME")
        if kind is not None:
            raise store.StoreMissingError(f"cannot reach {settings.describe_store()}: "
                                          f"{problem}")
    ledger = ReturnsLedger(settings)
    click.echo(f"event store ready: {settings.describe_store()}, identity {ledger.store_id}")
    ledger.close()
    if settings.persistence_module != store.POPO:
        from projections.runners import create_view_tables

        click.echo(f"views ready: {', '.join(create_view_tables())}")


@db.command("info")
def db_info() -> None:
    """Which event store the commands use, its identity and its last position."""
    settings = settings_for_command()
    click.echo(f"store: {settings.describe_store()}")
    missing = store.find_store(settings)
    if missing is not None:
        raise store.StoreMissingError(missing)
    ledger = store.open_ledger()
    try:
        click.echo(f"identity: {ledger.store_id or 'none (run `returns-ledger db init`)'}")
        click.echo(f"last position: {ledger.recorder.max_notification_id() or 0}")
        key = ("PERSONAL_DATA_KEY" if settings.personal_data_key
               else f"the key file {settings.personal_data_key_file}")
        click.echo(f"personal-data key: {key}")
    finally:
        ledger.close()


@main.command()
def demo() -> None:
    """Run one lifecycle per platform through the ledger, and orders through their LZ-3,
    CD-1 and CD-3 deadlines, and print each history."""
    from demo.orders import ORDER_WALKS
    from demo.scenarios import SCENARIOS

    ledger = store.open_ledger()
    run = uuid.uuid4().hex[:6]
    for name, scenario in SCENARIOS.items():
        parcel_id = scenario(ledger, f"-{run}")
        state = ledger.get_parcel(parcel_id)
        click.secho(f"\n== {name}: parcel {parcel_id} is {state.status} "
                    f"(refunded {state.refunded_total})", bold=True)
        _print_history(ledger, parcel_id)
    for name, walk in ORDER_WALKS.items():
        for aggregate_id in walk(ledger, f"-{run}"):
            click.secho(f"\n== {name}: {_stage(ledger, aggregate_id)}", bold=True)
            _print_history(ledger, aggregate_id)
    ledger.close()


def _stage(ledger: ReturnsLedger, aggregate_id: uuid.UUID) -> str:
    """An order's or a buyer question's id and status, for the demo's headings."""
    try:
        order = ledger.get_order(aggregate_id)
    except NotFoundError:
        question = ledger.get_question(aggregate_id)
        return f"question {question.question_id} is {question.status}"
    return f"order {order.order_id} ({order.platform}) is {order.status}"


def _print_history(ledger: ReturnsLedger, aggregate_id: uuid.UUID) -> None:
    for entry in ledger.get_parcel_history(aggregate_id):
        rules = entry.data.get("rules") or ([entry.data["rule"]] if entry.data.get("rule")
                                            else [])
        why = f"  [{', '.join(rules)}]" if rules else ""
        click.echo(f"  v{entry.version:<2} {entry.type:<28} "
                   f"{entry.occurred_at.isoformat() if entry.occurred_at else '':<26}"
                   f"{entry.actor or '':<10}{why}")
        facts = entry.data.get("facts")
        if facts:
            click.echo(f"      facts: {json.dumps(plain(facts), ensure_ascii=False)}")


from interfaces.cli.addresses import addresses, customs  # noqa: E402
from interfaces.cli.deadlines import deadlines  # noqa: E402 - subcommands register last
from interfaces.cli.finance import finance  # noqa: E402
from interfaces.cli.keys import keys  # noqa: E402
from interfaces.cli.orders import orders, questions  # noqa: E402
from interfaces.cli.project import project  # noqa: E402

main.add_command(project)
main.add_command(deadlines)
main.add_command(keys)
main.add_command(finance)
main.add_command(orders)
main.add_command(questions)
main.add_command(addresses)
main.add_command(customs)

from interfaces.cli.audit import audit  # noqa: E402
from interfaces.cli.privacy import privacy  # noqa: E402
from interfaces.cli.webhooks import webhooks  # noqa: E402

main.add_command(audit)
main.add_command(privacy)
main.add_command(webhooks)
