"""RL-2 corrections, mixed into the ledger: void a parcel registered by mistake, correct a
field recorded wrongly; both are events, decided on the parcel like every command."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from application.dto import CommandResult


class ParcelCorrectionCommands:
    """Mixed into the ledger (application/ledger.py, application/command_cache.py)."""

    _act: Callable[..., CommandResult]
    _policy: Callable[[Any], Any]
    _customs_skus: Callable[..., frozenset[str]]

    def void_parcel(self, parcel_id: UUID, reason: str, occurred_at: datetime,
                    actor: str = "system",
                    expected_version: int | None = None) -> CommandResult:
        """RL-2: the parcel was registered by mistake; it ends, and leaves every view."""
        return self._act(parcel_id, lambda p: p.void(reason, occurred_at, actor),
                         expected_version)

    def correct_parcel(self, parcel_id: UUID, field: str, value: Any, reason: str,
                       occurred_at: datetime, actor: str = "system",
                       expected_version: int | None = None) -> CommandResult:
        """RL-2: the right value of a field recorded wrongly, naming what it corrects
        (corrected lines: a list of `Line`, their SKUs' customs data looked up for LZ-2)."""
        def correct(parcel: Any) -> dict[str, Any]:
            parcel.check_allowed("correct")  # the state first, then the rules
            skus = (self._customs_skus(parcel, value) if field == "lines"
                    and isinstance(value, list) else frozenset())
            return {"corrects_version": parcel.correct(
                field, value, reason, self._policy(parcel), occurred_at, actor, skus)}

        return self._act(parcel_id, correct, expected_version)
