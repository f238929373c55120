"""The seller's contact during a hold (TT-8) and a replacement remedy (AM-6), mixed into
the ledger."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from application.dto import CommandResult


class ParcelRemedyCommands:
    """Mixed into the ledger (application/ledger.py, application/command_cache.py)."""

    _act: Callable[..., CommandResult]

    def contact_buyer(self, parcel_id: UUID, occurred_at: datetime, actor: str = "system",
                      expected_version: int | None = None) -> CommandResult:
        """TT-8: the seller contacted the buyer within the hold (no text is kept)."""
        return self._act(parcel_id, lambda p: p.contact_buyer(occurred_at, actor),
                         expected_version)

    def agree_replacement(self, parcel_id: UUID, replacement_order_id: str,
                          occurred_at: datetime, actor: str = "system",
                          expected_version: int | None = None) -> CommandResult:
        """AM-6: a replacement instead of (or with) a partial refund ends the parcel."""
        return self._act(parcel_id, lambda p: p.agree_replacement(
            replacement_order_id, occurred_at, actor), expected_version)
