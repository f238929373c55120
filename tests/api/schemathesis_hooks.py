"""Schemathesis hooks for runs against returns-ledger (SCHEMATHESIS_HOOKS=tests.api.
schemathesis_hooks): a generated Idempotency-Key is used for one request only.

The contract says a key names one request: a second, different request with the same key
is refused (422 idempotency-key-reused), as it must be. Generated keys repeat ("0", "!")
across unrelated requests, which a client keeping to the contract never does; the hook
makes such a repeat unique (the key keeps its generated characters and stays valid), so
positive-data checks see what a well-behaved client sees. Replays with the same key and the
same request are tested by tests/api/test_idempotency.py and tests/reliability. JSON Lines
bodies are sent as the text they are.
"""

from __future__ import annotations

import itertools
import json
import threading
from typing import Any

import schemathesis

from interfaces.api.contract import valid_idempotency_key

_seen: dict[str, str] = {}
_lock = threading.Lock()
_count = itertools.count()


def _request(case: Any) -> str:
    return json.dumps([case.method, case.formatted_path, case.body], default=str,
                      sort_keys=True)


def fresh_idempotency_key(case: Any) -> None:
    """Give a repeated Idempotency-Key (used before for another request) a unique suffix."""
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if not isinstance(key, str) or not valid_idempotency_key(key):
        return  # a malformed key is the negative test: it must stay as generated
    request = _request(case)
    with _lock:
        if _seen.setdefault(key, request) == request:
            return
        unique = f"{key[:180]}~{next(_count)}"
        _seen[unique] = request
    headers["Idempotency-Key"] = unique


# JSON Lines bodies (the imports' and the intake's application/x-ndjson) are text.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")


@schemathesis.hook
def before_call(context: Any, case: Any, **kwargs: Any) -> None:
    fresh_idempotency_key(case)
