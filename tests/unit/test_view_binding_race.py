"""A view that a runner moves on while its binding is checked is not "ahead of its store"."""

from __future__ import annotations

from typing import Any

from projections.binding import mismatch


class _Store:
    """The event store: its head moves when events are committed."""

    def __init__(self) -> None:
        self.head = 5

    def max_notification_id(self) -> int:
        return self.head

    def select_notifications(self, start: int, limit: int) -> list[Any]:
        return []


class _BusyView:
    """A view whose runner applies two newly committed events between two reads."""

    def __init__(self, store: _Store) -> None:
        self.store = store

    def max_tracking_id(self, application_name: str) -> int:
        return 5

    def binding(self) -> dict[str, Any]:
        self.store.head = 7  # committed, then applied by the runner
        return {"store_id": "s", "position": 7, "event_hash": ""}


def test_a_view_applying_new_events_during_the_check_belongs_to_its_store() -> None:
    store = _Store()
    assert mismatch(_BusyView(store), store, "s") is None  # type: ignore[arg-type]


def test_a_view_really_ahead_of_its_store_is_still_refused() -> None:
    store = _Store()
    view = _BusyView(store)
    view.binding = lambda: {"store_id": "s", "position": 9, "event_hash": ""}  # type: ignore[method-assign]
    assert "past the store's end" in (mismatch(view, store, "s") or "")  # type: ignore[arg-type]
