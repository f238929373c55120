"""Cheap copies of aggregates: immutable values are shared, only what can change is copied."""

from __future__ import annotations

import copy
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from domain.money import Money
from domain.values import Line, RefundComponent

# Types whose instances never change: a copy may share them.
IMMUTABLE: frozenset[type] = frozenset({
    str, int, float, bool, bytes, type(None), datetime, date, timedelta, Decimal, UUID,
    Money, Line, RefundComponent})


# IMMUTABLE plus each enum type met so far: one set look-up per value on the hot path.
_SHARED: set[type] = set(IMMUTABLE)


def _copy_value(value: Any, memo: dict[int, Any]) -> Any:
    kind = type(value)
    if kind in _SHARED:
        return value
    if issubclass(kind, Enum):
        _SHARED.add(kind)
        return value
    if kind is list and all(type(v) in _SHARED for v in value):
        return list(value)
    if kind is dict and all(type(k) in _SHARED and type(v) in _SHARED
                            for k, v in value.items()):
        return dict(value)  # e.g. an address's fields, or no investigations yet
    return copy.deepcopy(value, memo)


class CheapCopy:
    """An aggregate whose deep copy shares its immutable values (times, money, lines).

    The repository copies each cached aggregate before a command runs; copying
    datetimes and money field by field cost more than the command itself.
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        clone = object.__new__(type(self))
        memo[id(self)] = clone
        shared = _SHARED
        clone.__dict__.update({k: v if type(v) in shared else _copy_value(v, memo)
                               for k, v in self.__dict__.items()})
        return clone
