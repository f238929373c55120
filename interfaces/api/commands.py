"""Running a command over HTTP: If-Match, Idempotency-Key, the acting key, the answer."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any
from uuid import UUID

from flask import abort, request

from application.dto import CommandResult
from application.idempotency import Idempotency, jsonable
from interfaces.api import contract
from interfaces.api.auth import actor, caller, check_parcel_view
from interfaces.api.ledger import ledger

# A parcel command: (ledger, actor, expected_version) -> CommandResult.
ParcelCommand = Callable[[Any, str, int | None], CommandResult]


def if_match() -> int | None:
    """The version the caller expects (If-Match: "3"); none means any. A malformed value
    is a 400: no precondition was evaluated, so it cannot have failed (412)."""
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    try:
        return contract.expected_version(raw)
    except ValueError:
        abort(400, "If-Match must be a version ETag such as \"3\", or *")


def idempotency() -> Idempotency | None:
    """The Idempotency-Key of this request, scoped to the calling key, with a fingerprint."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not contract.valid_idempotency_key(key):
        abort(400, "Idempotency-Key must be 1 to 200 visible ASCII characters")
    body = request.get_json(silent=True)
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(f"{request.method}\n{request.path}\n{canonical}".encode())
    return Idempotency(str(caller().id), key, digest.hexdigest())


def answer(result: CommandResult) -> dict[str, Any]:
    """The JSON body of a command's answer (first time or replayed: the same)."""
    return {"id": str(result.id), "version": result.version, "status": result.status,
            "position": result.position, **jsonable(result.extra)}


def etag(version: int) -> dict[str, str]:
    return {"ETag": f'"{version}"'}


def run(command: Callable[[], Any], effects_outside: bool = False) -> Any:
    """Run once per Idempotency-Key: a retry gets the first answer and records nothing.
    `effects_outside`: the command writes outside its transaction too (see run_once)."""
    return ledger().run_once(idempotency(), command, effects_outside)


def on_parcel(parcel_id: UUID, command: ParcelCommand) -> tuple[dict[str, Any], int, dict]:
    """Check the key may see the parcel, then run the command on it: 201 with ETag.
    The command acts on the parcel loaded for the check (one read, not two)."""
    with ledger().parcel_loaded(parcel_id) as view:
        check_parcel_view(parcel_id, view)
        expected = if_match()
        result = run(lambda: command(ledger(), actor(), expected))
    return answer(result), 201, etag(result.version)
