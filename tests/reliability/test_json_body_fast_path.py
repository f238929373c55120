"""The strict JSON body check's shortcut (a body whose text shows it needs no walk) never
lets through what the full walk refuses: lone surrogates, raw or escaped in keys and
values, and nesting past MAX_DEPTH."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interfaces.api.json_body import MAX_DEPTH, MalformedJsonError, _check, loads

texts = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=8)
values = st.recursive(
    st.none() | st.booleans() | st.integers() | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=40)


def _walk_refuses(value: object) -> bool:
    try:
        _check(value)
    except MalformedJsonError:
        return True
    return False


@given(values, st.booleans())
def test_loads_refuses_exactly_what_the_walk_refuses(value, ascii_only) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)  # escaped and raw surrogates both
    try:
        parsed = loads(text.encode("utf-8", "surrogatepass") if not ascii_only else text)
    except MalformedJsonError:
        refused = True
    else:
        refused = False
        assert parsed == value
    assert refused == _walk_refuses(value)


@pytest.mark.parametrize("text", [
    '{"a": "\\ud800"}', '{"\\uDC00": 1}', '["x\\uDbFf"]', '"\\ud83d"',
    "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
    '{"a": ' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1),
])
def test_lone_surrogates_and_deep_nesting_are_still_refused(text) -> None:
    with pytest.raises(MalformedJsonError):
        loads(text)


@pytest.mark.parametrize("text", [
    '{"a": "\\ud83d\\ude00"}', "[" * MAX_DEPTH + "]" * MAX_DEPTH,
    '{"note": "' + "[" * 100 + '"}', '{"path": "C:\\\\ud800"}',
])
def test_pairs_shallow_values_and_brackets_in_text_are_accepted(text) -> None:
    assert loads(text) == json.loads(text)
