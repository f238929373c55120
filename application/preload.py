"""One load per command request: the seller-scope check and the command share the parcel."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain.parcel import ReturnParcel


@dataclass(frozen=True)
class ParcelScope:
    """Whose parcel it is: what a request checks before it may act on the parcel."""

    id: UUID
    seller_id: str

# The parcel loaded for this request, and whether it was read from the store (not cache).
_LOADED: ContextVar[tuple[ReturnParcel, bool] | None] = ContextVar("loaded_parcel",
                                                                   default=None)


class PreloadedParcels:
    """Mixed into the ledger: a parcel loaded for a check is the one the command acts on."""

    @contextmanager
    def parcel_loaded(self, parcel_id: UUID) -> Iterator[ParcelScope]:
        """Whose parcel it is; the first command on it inside the block reuses this load."""
        loaded = self._parcel_for_command(parcel_id)  # type: ignore[attr-defined]
        token = _LOADED.set(loaded)
        try:
            yield ParcelScope(parcel_id, loaded[0].seller_id)
        finally:
            _LOADED.reset(token)

    @staticmethod
    def _take_loaded(parcel_id: Any) -> tuple[ReturnParcel, bool] | None:
        """The parcel loaded for this request, once (a second load reads the store again)."""
        loaded = _LOADED.get()
        if loaded is None or loaded[0].id != parcel_id:
            return None
        _LOADED.set(None)
        return loaded
