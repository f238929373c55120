"""Every command's unexpected failure as one clear line on stderr and exit status 1.

A damaged store (an event whose stored state no longer reads, a version missing in the
middle of a parcel), an unreachable database or a bug is never a traceback to the user:
the line names the command, what kind of failure it was and what to do next. Set
RETURNS_LEDGER_DEBUG=1 to get the traceback as well.
"""

from __future__ import annotations

import errno
import os
import traceback
from typing import Any

import click
from eventsourcing.domain import OriginatorVersionError
from eventsourcing.persistence import (
    DatabaseError,
    InterfaceError,
    MapperDeserialisationError,
    OperationalError,
)

EXIT_FAILED = 1
DEBUG_VARIABLE = "RETURNS_LEDGER_DEBUG"
_WORDS = "returns_ledger.cli.words"

# The store holds something the ledger cannot read back: events edited or removed.
DAMAGE = (MapperDeserialisationError, OriginatorVersionError, UnicodeDecodeError)
UNREACHABLE = (OperationalError, InterfaceError)


def explain(error: BaseException) -> str:
    """What went wrong, in one line, and what to do about it."""
    detail = " ".join(str(error).split())[:300] or type(error).__name__
    if isinstance(error, DAMAGE):
        return (f"the event store looks damaged: {detail} ({type(error).__name__}); "
                "run `returns-ledger audit verify --all` to find the altered events")
    if isinstance(error, UNREACHABLE):
        return (f"the event store is not reachable: {detail} ({type(error).__name__}); "
                "check the database settings and that the database is running")
    if isinstance(error, DatabaseError):
        return f"the event store refused the operation: {detail} ({type(error).__name__})"
    return f"unexpected error: {detail} ({type(error).__name__})"


class LedgerGroup(click.Group):
    """The top-level group: click's own errors (usage, ClickException, Abort, exit) pass
    through; any other exception becomes `explain`'s line and exit status 1."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[_WORDS] = list(args)  # to name the failing command later
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as error:
            if isinstance(error, OSError) and error.errno == errno.EPIPE:
                raise  # click ends quietly when the reader of a pipe went away
            if os.environ.get(DEBUG_VARIABLE, "").lower() in ("1", "yes", "true"):
                traceback.print_exc()
            click.secho(f"{self._failing(ctx)}: {explain(error)}", err=True, fg="red")
            raise click.exceptions.Exit(EXIT_FAILED) from None

    def _failing(self, ctx: click.Context) -> str:
        """`returns-ledger audit history`: the command words the user typed."""
        names = [ctx.command_path]
        command: click.Command = self
        for word in ctx.meta.get(_WORDS, []):
            if not isinstance(command, click.Group) or word not in command.commands:
                break
            command = command.commands[word]
            names.append(word)
        return " ".join(names)
