"""Whether a view still belongs to the event store it follows.

Each view records, with every batch it applies, the event store's identity and the
position and hash of the last event it applied (infrastructure/view_store.py). A view
whose store was replaced, that is ahead of its store, or whose last event is no longer
the one at that position (a deleted tail, a reused position) is refused: runners do not
start on it, queries and /readyz answer not ready, and `project status` says that
`project rebuild` is the fix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infrastructure.hash_chain import stored_hash
from infrastructure.persistence import LedgerRecorder
from infrastructure.view_store import ViewRecorder

APPLICATION_NAME = "ReturnsLedger"


class ViewMismatchError(Exception):
    """A view does not belong to the event store it is asked to follow."""

    def __init__(self, view: str, detail: str) -> None:
        super().__init__(f"view {view}: {detail}; run `returns-ledger project rebuild {view}`")
        self.view = view
        self.detail = detail


def event_hash_at(recorder: LedgerRecorder, position: int) -> str | None:
    """The hash of the event stored at exactly this position, None when there is none."""
    found = recorder.select_notifications(position, 1)
    if not found or found[0].id != position:
        return None
    return stored_hash(found[0])


def binder(store_id: str | None, recorder: LedgerRecorder) -> Callable[[int], tuple[str | None,
                                                                                   str]]:
    """What a view records with each batch: the store's identity and the last event's hash."""
    def bind(position: int) -> tuple[str | None, str]:
        return store_id, event_hash_at(recorder, position) or ""
    return bind


def mismatch(view: ViewRecorder, recorder: LedgerRecorder, store_id: str | None) -> str | None:
    """Why this view does not belong to this event store, or None when it does."""
    # The view's figures first, the store's head after them: a runner applying events
    # meanwhile moves the view only to events already committed, so never past a head
    # read later (read the other way round, a busy view looks ahead of its store).
    position = view.max_tracking_id(APPLICATION_NAME) or 0  # type: ignore[attr-defined]
    binding: dict[str, Any] | None = view.binding()
    head = recorder.max_notification_id() or 0
    if position > head:
        return (f"it has applied the event store up to position {position}, but the store "
                f"ends at {head}: the views belong to another or an older store")
    if binding is None or position == 0:
        return None  # nothing applied yet (or a view made before bindings existed)
    if store_id is not None and binding["store_id"] not in (None, store_id):
        return (f"it was built from another event store ({binding['store_id']}), not from "
                f"this one ({store_id})")
    if binding["position"] > head:
        return (f"it has applied position {binding['position']}, past the store's end "
                f"({head})")
    if binding["event_hash"] and event_hash_at(recorder, binding["position"]) != \
            binding["event_hash"]:
        return (f"the event it applied at position {binding['position']} is no longer the "
                "one stored there (deleted or replaced)")
    return None


def check(name: str, view: ViewRecorder, recorder: LedgerRecorder,
          store_id: str | None) -> None:
    """Raise ViewMismatchError when the view does not belong to the store."""
    problem = mismatch(view, recorder, store_id)
    if problem is not None:
        raise ViewMismatchError(name, problem)
