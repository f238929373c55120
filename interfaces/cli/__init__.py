"""The `returns-ledger` command line."""

from __future__ import annotations

import json
import uuid

import click

from application.dto import plain
from application.ledger import ReturnsLedger
from domain.errors import NotFoundError
from interfaces.cli import store
from interfaces.cli.errors import LedgerGroup
from interfaces.cli.store import settings_for_command


@click.group(cls=LedgerGroup)
def main() -> None:
    """An event-sourced returns ledger for cross-border marketplace sellers.

    A command that fails says why in one line on stderr and exits with status 1
    (RETURNS_LEDGER_DEBUG=1 adds the traceback)."""


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
    for line in store.initialise(settings):
        click.echo(line)


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
@click.option("--serve", is_flag=True, help="Also fill the store with weeks of parcels on "
              "every platform, make an admin key, and serve it all (`make demo`).")
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 365),
              help="With --serve: days of orders.")
@click.option("--per-day", default=2, show_default=True, type=click.IntRange(1, 50),
              help="With --serve: orders per platform story and day.")
@click.option("--host", default="127.0.0.1", show_default=True, help="With --serve.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535),
              help="With --serve.")
def demo(serve: bool, days: int, per_day: int, host: str, port: int) -> None:
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
        if serve:
            continue
        _print_history(ledger, parcel_id)
    if not serve:
        for name, walk in ORDER_WALKS.items():
            for aggregate_id in walk(ledger, f"-{run}"):
                click.secho(f"\n== {name}: {_stage(ledger, aggregate_id)}", bold=True)
                _print_history(ledger, aggregate_id)
        ledger.close()
        return
    from datetime import UTC, datetime

    from demo.fill import fill
    from interfaces.cli.serve import serve as serve_command

    now = datetime.now(UTC)
    try:
        report = fill(ledger, now, days=days, per_day=per_day, run=run)
        issued = ledger.issue_api_key("admin", None, now, "demo", actor="demo")
    finally:
        ledger.close()
    click.echo(f"\nfilled: {sum(report.parcels.values())} parcels, {report.events} events, "
               f"orders from {report.first_day:%Y-%m-%d} to {now:%Y-%m-%d} "
               f"({', '.join(f'{n} {k}' for k, n in report.parcels.items())})")
    click.echo(f"admin key for the API and the web pages (shown once):\n{issued.token}\n")
    click.get_current_context().invoke(serve_command, host=host, port=port)



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
from interfaces.cli.backup import backup_command, restore_command  # noqa: E402
from interfaces.cli.deadlines import deadlines  # noqa: E402 - subcommands register last
from interfaces.cli.finance import finance  # noqa: E402
from interfaces.cli.keys import keys  # noqa: E402
from interfaces.cli.orders import orders, questions  # noqa: E402
from interfaces.cli.parcels import parcels  # noqa: E402
from interfaces.cli.project import project  # noqa: E402
from interfaces.cli.serve import serve  # noqa: E402

main.add_command(project)
main.add_command(deadlines)
main.add_command(keys)
main.add_command(finance)
main.add_command(orders)
main.add_command(questions)
main.add_command(parcels)
main.add_command(addresses)
main.add_command(customs)
main.add_command(serve)
main.add_command(backup_command)
main.add_command(restore_command)

from interfaces.cli.audit import audit  # noqa: E402
from interfaces.cli.privacy import privacy  # noqa: E402
from interfaces.cli.webhooks import webhooks  # noqa: E402

main.add_command(audit)
main.add_command(privacy)
main.add_command(webhooks)

from interfaces.cli.imports import import_command, imports  # noqa: E402

main.add_command(import_command)
main.add_command(imports)
