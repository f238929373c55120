"""One load per command request: the seller-scope check and the command share the parcel."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from uuid import UUID

from application.dto import ParcelView
from domain.parcel import ReturnParcel

_LOADED: ContextVar[ReturnParcel | None] = ContextVar("loaded_parcel", default=None)


class PreloadedParcels:
    """Mixed into the ledger: a parcel loaded for a check is the one the command acts on."""

    @contextmanager
    def parcel_loaded(self, parcel_id: UUID) -> Iterator[ParcelView]:
        """The parcel's state now; the first command on it inside the block reuses this load."""
        parcel = self._get_parcel(parcel_id)  # type: ignore[attr-defined]
        token = _LOADED.set(parcel)
        try:
            yield ParcelView.of(parcel)
        finally:
            _LOADED.reset(token)

    @staticmethod
    def _take_loaded(parcel_id: Any) -> ReturnParcel | None:
        """The parcel loaded for this request, once (a second load reads the store again)."""
        loaded = _LOADED.get()
        if loaded is None or loaded.id != parcel_id:
            return None
        _LOADED.set(None)
        return loaded
