"""The verifier's fast canonical form gives exactly the bytes of the RFC 8785 reference, on any JSON."""

from __future__ import annotations

import json

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.format.jcs import canonical, parse

text = st.text(st.characters(codec="utf-8"), max_size=12) | st.text(st.characters(max_codepoint=127), max_size=12)
scalars = (st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.integers()
           | st.floats(allow_nan=False, allow_infinity=False) | text)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
                      max_leaves=20)


@settings(max_examples=1500, deadline=None)
@given(values, st.booleans(), st.sampled_from([None, 2]))
def test_fast_path_matches_reference(value, ascii_only, indent):
    line = json.dumps(value, ensure_ascii=ascii_only, indent=indent)
    parsed, fast = parse(line.encode("utf-8", "surrogatepass"))
    try:
        expected = rfc8785.dumps(json.loads(line))
    except (rfc8785.CanonicalizationError, ValueError, OverflowError):
        assert not fast  # what the reference refuses never takes the fast path
        return
    assert canonical(parsed, plain=fast, read=True) == expected


def test_fast_path_is_taken_for_typical_entries():
    entry: dict = {"v": 1, "seq": 12, "actor": {"kind": "user", "id": "3", "name": "ana"}, "changes": {"n": {"old": 1}}}
    parsed, fast = parse(json.dumps(entry).encode())
    assert fast and canonical(parsed, plain=fast, read=True) == rfc8785.dumps(entry)
    assert not parse(json.dumps({"x": 0.5}).encode())[1]
    # Text in the Basic Multilingual Plane sorts and escapes alike in both; astral text and escapes do not.
    bmp = {"é": "ü€", "e": "\u2028", "z": "x"}
    parsed, fast = parse(json.dumps(bmp, ensure_ascii=False).encode())
    assert fast and canonical(parsed, plain=fast, read=True) == rfc8785.dumps(bmp)
    assert not parse(json.dumps({"x": "\U0001f600"}, ensure_ascii=False).encode())[1]
    assert not parse(json.dumps({"x": "é"}).encode())[1]
    assert not parse(b'{"x": 9007199254740993}')[1]


@settings(max_examples=1500, deadline=None)
@given(values)
def test_writer_canonical_matches_reference(value):
    """The writer's fast path (the C encoder for float-free values with ASCII keys) gives RFC 8785's bytes."""
    entry = {"v": 1, "changes": value, "context": {"channel": "api"}}
    try:
        expected = rfc8785.dumps(entry)
    except (rfc8785.CanonicalizationError, ValueError, OverflowError) as exc:
        with pytest.raises(type(exc)):
            canonical(entry)
        return
    assert canonical(entry) == expected
