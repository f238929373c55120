"""What the OpenAPI document says beyond the marshmallow schemas, and what the server checks
with the very same patterns: the command headers, and nullable nested objects."""

from __future__ import annotations

import re
from typing import Any

from apispec import BasePlugin

# Idempotency-Key: 1 to 200 visible ASCII characters (no space, no control character).
IDEMPOTENCY_KEY = r"^[!-~]{1,200}$"
# If-Match: "*", or one version ETag as the answers send it ("3", weak W/"3" too, or bare 3).
IF_MATCH = r'^(\*|(W/)?"[0-9]{1,9}"|[0-9]{1,9})$'

IDEMPOTENCY_KEY_HEADER = {
    "in": "header", "name": "Idempotency-Key", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 200,
               "pattern": IDEMPOTENCY_KEY},
    "description": "1 to 200 visible ASCII characters; a retry with the same key (and the "
                   "same body) answers the first result and records nothing twice; a "
                   "malformed key is a 400"}
IF_MATCH_HEADER = {
    "in": "header", "name": "If-Match", "required": False,
    "schema": {"type": "string", "pattern": IF_MATCH, "example": '"1"'},
    "description": "the parcel version (ETag) you expect, such as \"3\": 412 when the "
                   "parcel is at another version; `*` or no header: any version; "
                   "a malformed value is a 400"}

# Commands whose answer carries a secret shown once: never stored, so no Idempotency-Key
# (interfaces/api/webhooks.py refuses one with a 400); the document does not offer it.
NO_IDEMPOTENCY_KEY = frozenset({("post", "/v1/webhook-endpoints"),
                                # An import is idempotent by its content and its lines' sources.
                                ("post", "/v1/imports"), ("post", "/v1/intake/{source}"),
                                ("post", "/v1/webhook-endpoints/{endpoint_id}/secret-rotations")})

_IF_MATCH = re.compile(IF_MATCH)
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY)


def expected_version(raw: str) -> int | None:
    """The version an If-Match value names (None for `*`); ValueError when malformed."""
    if _IF_MATCH.fullmatch(raw) is None:
        raise ValueError(raw)
    return None if raw == "*" else int(raw.removeprefix("W/").strip('"'))


def valid_idempotency_key(key: str) -> bool:
    return _IDEMPOTENCY_KEY.fullmatch(key) is not None


def nullable_nested(self: Any, field: Any, ret: dict[str, Any], **_: Any) -> dict[str, Any]:
    """apispec writes a nullable nested schema (OpenAPI 3.0) as `anyOf: [the schema,
    {type: object, nullable: true}]`, which admits any object at all. Say instead: this
    schema, or null (`allOf: [the schema]`, `nullable: true`)."""
    variants = ret.get("anyOf")
    if isinstance(variants, list) and {"type": "object", "nullable": True} in variants:
        others = [v for v in variants if v != {"type": "object", "nullable": True}]
        del ret["anyOf"]
        ret["allOf"] = others
        ret["nullable"] = True
    return {}


class SchemaExtras(BasePlugin):
    """A marshmallow schema's SPEC_EXTRA (what JSON Schema says beyond its fields, such as
    MoneyRequest's decimals per currency) merged into its component in the document."""

    def schema_helper(self, name: str, definition: dict[str, Any], **kwargs: Any) -> dict | None:
        schema = kwargs.get("schema")
        extra = getattr(schema, "SPEC_EXTRA", None)
        return dict(extra) if extra else None
