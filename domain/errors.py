"""Domain errors: one root, and a broken rule names itself."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Root of every error the ledger raises on purpose."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidValueError(DomainError, ValueError):
    """A value given to the domain is malformed (bad currency, bad amount, ...)."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field


class RefusedValueError(InvalidValueError):
    """A value a rule refuses (RL-3's plausibility, or a correction the parcel's rules do
    not allow): names the field and the rule (a 422 in the API, with both)."""

    def __init__(self, field: str, rule: str, detail: str, **facts: Any) -> None:
        super().__init__(field, f"{detail} ({rule})")
        self.rule = rule
        self.facts = {k: str(v) for k, v in facts.items()}


class CurrencyMismatchError(InvalidValueError):
    """Money of two currencies was combined."""

    def __init__(self, left: str, right: str) -> None:
        super().__init__("currency", f"cannot combine {left} with {right}")


class RuleViolationError(DomainError):
    """A platform or ledger rule refuses the command; `rule` is its id (TT-4, AM-3, ...)."""

    def __init__(self, rule: str, detail: str, **facts: Any) -> None:
        super().__init__(f"{rule}: {detail}")
        self.rule = rule
        self.facts = {k: str(v) for k, v in facts.items()}


class TransitionError(DomainError):
    """The aggregate's current state does not allow the command (no rule broke: the
    command does not apply to that state at all)."""

    def __init__(self, status: str, command: str, subject: str = "parcel") -> None:
        super().__init__(f"'{command}' is not allowed when the {subject} is '{status}'")
        self.status = str(status)
        self.command = command
        self.subject = subject


class NoApplicableRuleError(DomainError):
    """No rule of the platform decides this command: the ledger cannot decide it."""

    def __init__(self, platform: str, decision: str) -> None:
        super().__init__(f"no {decision} rule for {platform}")
        self.platform = platform
        self.decision = decision


class NotFoundError(DomainError):
    """Root of the 'no such thing' errors."""


class InvestigationNotFoundError(NotFoundError):
    """The parcel has no investigation with that id."""

    def __init__(self, investigation_id: str) -> None:
        super().__init__(f"investigation {investigation_id} not found")


class InvestigationClosedError(DomainError):
    """The investigation was resolved already: it takes no second finding."""

    def __init__(self, investigation_id: str) -> None:
        super().__init__(f"investigation {investigation_id} is resolved already")


class ParcelNotFoundError(NotFoundError):
    """No parcel has that id (or that platform and tracking number)."""

    def __init__(self, key: object) -> None:
        super().__init__(f"parcel {key} not found")
        self.key = key


class ReturnAddressNotFoundError(NotFoundError):
    """No return address has that id."""

    def __init__(self, key: object) -> None:
        super().__init__(f"return address {key} not found")


class CustomsProfileNotFoundError(NotFoundError):
    """No customs profile exists for that seller and SKU."""

    def __init__(self, key: object) -> None:
        super().__init__(f"customs profile {key} not found")


class DuplicateParcelError(DomainError):
    """A parcel with that platform and tracking number is already registered."""

    def __init__(self, parcel_id: object) -> None:
        super().__init__(f"parcel {parcel_id} is already registered")
        self.parcel_id = parcel_id


class DuplicateAggregateError(DomainError):
    """Something with that id exists already: a concurrent twin created it first."""

    def __init__(self, aggregate_id: object) -> None:
        super().__init__(f"{aggregate_id} exists already")
        self.aggregate_id = aggregate_id


class VersionConflictError(DomainError):
    """Someone else changed the aggregate since it was read (optimistic concurrency)."""

    def __init__(self, aggregate_id: object, expected: int | None = None,
                 actual: int | None = None) -> None:
        detail = f"{aggregate_id} was changed concurrently"
        if expected is not None:
            detail = f"{aggregate_id} is at version {actual}, not {expected}"
        super().__init__(detail)
        self.aggregate_id = aggregate_id
        self.expected = expected
        self.actual = actual
