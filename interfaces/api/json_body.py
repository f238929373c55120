"""Request bodies as JSON, parsed once and strictly (RFC 8259 with the I-JSON limits).

Every JSON body of the API is parsed here, before any endpoint sees it, and the parsed
value is what the endpoints (through webargs) and the Idempotency-Key fingerprint read.
A body is refused with a 400 problem when it is not UTF-8, not JSON, has an object with
the same key twice, a NaN or Infinity literal, nesting deeper than MAX_DEPTH, or a string
holding a lone UTF-16 surrogate (`"\\ud800"`: valid JSON syntax, but no Unicode text,
so it could be neither stored nor answered).
"""

from __future__ import annotations

import json
import re
from typing import Any

import flask_smorest
from flask import Flask, Request, request
from flask.json.provider import DefaultJSONProvider
from marshmallow import RAISE, Schema, ValidationError, fields
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.exceptions import BadRequest

# Our deepest request is 4 levels (a parcel's lines -> a line -> its price -> amount).
MAX_DEPTH = 32
_SURROGATE = re.compile("[\ud800-\udfff]")
# A \u escape that may decode to a surrogate (a pair, or an escaped backslash before
# "ud8.." text, also matches: then the value is walked as any other).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class MalformedJsonError(ValueError):
    """The body is not JSON the API accepts; the message says why."""


def _refuse_constant(name: str) -> Any:
    raise MalformedJsonError(f"{name} is not a JSON number")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    made: dict[str, Any] = {}
    for key, value in pairs:
        if key in made:
            raise MalformedJsonError(f"the key {_shown(key)} appears twice in one object")
        made[key] = value
    return made


def _shown(key: str) -> str:
    return json.dumps(key[:40])  # escaped: a hostile key is shown, never echoed raw


def loads(text: str | bytes) -> Any:
    """The value of a JSON text, or MalformedJsonError saying what is wrong with it."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise MalformedJsonError(f"the body is not UTF-8 (byte {error.start})") from None
    try:
        value = json.loads(text, object_pairs_hook=_object, parse_constant=_refuse_constant)
    except RecursionError:
        raise MalformedJsonError(f"nested deeper than {MAX_DEPTH} levels") from None
    except MalformedJsonError:
        raise
    except ValueError as error:  # JSONDecodeError, and integers of over 4,300 digits
        raise MalformedJsonError(f"not valid JSON: {error}") from None
    if not _plainly_fine(text):
        _check(value)
    return value


def _plainly_fine(text: str) -> bool:
    """Whether the text alone shows the value passes `_check` (so it need not be
    walked, which is most of a body's parsing cost): no surrogate in it, raw or
    escaped, and no more opening brackets than MAX_DEPTH levels (a bracket inside a
    string counts too: that only sends the value to the walk)."""
    return (text.count("{") + text.count("[") <= MAX_DEPTH
            and not _SURROGATE_ESCAPE.search(text) and not _SURROGATE.search(text))


def _check(value: Any) -> None:
    """Depth and text, walked without recursion (the value may be deep)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise MalformedJsonError("a string holds a lone UTF-16 surrogate "
                                         "(\\ud800-\\udfff), which is not Unicode text")
            continue
        if not isinstance(item, (dict, list)):
            continue
        if depth > MAX_DEPTH:
            raise MalformedJsonError(f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, dict):
            pending.extend((key, depth) for key in item)
            pending.extend((child, depth + 1) for child in item.values())
        else:
            pending.extend((child, depth + 1) for child in item)


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON, with `loads` (so `request.get_json()`) parsing as above."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s)


class JsonRequest(Request):
    """A body that does not parse is a 400 saying why (Flask's says nothing)."""

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        raise BadRequest(f"the body is not accepted: {e}" if e else "the body is not JSON")


class JsonBodyParser(FlaskParser):
    """webargs reads the body Flask parsed (and cached) instead of parsing it again; a
    query parameter the operation does not document is refused (422), as in a body, and
    so is one given twice where it takes a single value (webargs would keep the first)."""

    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
                                   "query": RAISE, "querystring": RAISE}

    def load_querystring(self, req: Request, schema: Schema) -> Any:
        by_name = {field.data_key or name: field for name, field in schema.fields.items()}
        repeated = {name: ["given more than once; it takes one value"]
                    for name in req.args if len(req.args.getlist(name)) > 1
                    and not _takes_many(by_name.get(name))}
        if repeated:
            raise ValidationError(repeated)
        return super().load_querystring(req, schema)

    def _raw_load_json(self, req: Request) -> Any:
        if not is_json_request(req) or not req.get_data(cache=True):
            return core.missing
        return req.get_json()


def _takes_many(field: fields.Field | None) -> bool:
    explicit = getattr(field, "is_multiple", None)
    if explicit is not None:
        return bool(explicit)
    return isinstance(field, fields.List | fields.Tuple)


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint, its JSON arguments read through JsonBodyParser."""

    ARGUMENTS_PARSER = JsonBodyParser()


def parse_body() -> None:
    """Parse a JSON body now (cached for everything after): a bad one is a 400 here."""
    if request.get_data(cache=True) and request.is_json:
        request.get_json()


def install(app: Flask) -> None:
    app.json = StrictJSONProvider(app)
    app.request_class = JsonRequest
