"""RFC 8785 (JCS) canonicalization: the RFC's own examples plus a differential check."""

from __future__ import annotations

import enum
import json
import math
import struct
from decimal import Decimal
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.domain.canonical import MAX_DEPTH, MAX_SAFE_INTEGER, canonicalize, parse_json
from gateway.domain.errors import CanonicalizationError, DomainError


def _from_bits(bits: int) -> float:
    value: float = struct.unpack(">d", bits.to_bytes(8, "big"))[0]
    return value


# --- RFC 8785 §3.2.2: the sample object and its canonical form -----------------------

RFC_SAMPLE_INPUT = r"""{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"""

RFC_SAMPLE_OUTPUT = (
    '{"literals":[null,true,false],'
    '"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
    '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
)

# The same output as the hex dump printed in RFC 8785 §3.2.4 (UTF-8 bytes).
RFC_SAMPLE_HEX = (
    "7b226c69746572616c73223a5b6e756c6c2c747275652c66616c73655d2c226e"
    "756d62657273223a5b3333333333333333332e333333333333332c31652b3330"
    "2c342e352c302e3030322c31652d32375d2c22737472696e67223a22e282ac24"
    "5c75303030665c6e4127425c225c5c5c5c5c222f227d"
)


def test_rfc_sample_object() -> None:
    result = canonicalize(parse_json(RFC_SAMPLE_INPUT))
    assert result == RFC_SAMPLE_OUTPUT.encode("utf-8")


def test_rfc_sample_object_matches_rfc_hex_dump() -> None:
    result = canonicalize(parse_json(RFC_SAMPLE_INPUT))
    assert result.hex() == RFC_SAMPLE_HEX


# --- RFC 8785 Appendix B: number serialization samples -------------------------------

APPENDIX_B = [
    (0x0000000000000000, "0"),  # zero
    (0x8000000000000000, "0"),  # minus zero
    (0x0000000000000001, "5e-324"),  # min pos number
    (0x8000000000000001, "-5e-324"),  # min neg number
    (0x7FEFFFFFFFFFFFFF, "1.7976931348623157e+308"),  # max pos number
    (0xFFEFFFFFFFFFFFFF, "-1.7976931348623157e+308"),  # max neg number
    (0x4340000000000000, "9007199254740992"),  # max pos int (as a float)
    (0xC340000000000000, "-9007199254740992"),  # max neg int (as a float)
    (0x4430000000000000, "295147905179352830000"),  # ~2**68
    (0x44B52D02C7E14AF5, "9.999999999999997e+22"),
    (0x44B52D02C7E14AF6, "1e+23"),
    (0x44B52D02C7E14AF7, "1.0000000000000001e+23"),
    (0x444B1AE4D6E2EF4E, "999999999999999700000"),
    (0x444B1AE4D6E2EF4F, "999999999999999900000"),
    (0x444B1AE4D6E2EF50, "1e+21"),
    (0x3EB0C6F7A0B5ED8C, "9.999999999999997e-7"),
    (0x3EB0C6F7A0B5ED8D, "0.000001"),
    (0x41B3DE4355555553, "333333333.3333332"),
    (0x41B3DE4355555554, "333333333.33333325"),
    (0x41B3DE4355555555, "333333333.3333333"),
    (0x41B3DE4355555556, "333333333.3333334"),
    (0x41B3DE4355555557, "333333333.33333343"),
    (0xBECBF647612F3696, "-0.0000033333333333333333"),
    (0x43143FF3C1CB0959, "1424953923781206.2"),  # round to even
]


@pytest.mark.parametrize(("bits", "expected"), APPENDIX_B, ids=[e for _, e in APPENDIX_B])
def test_appendix_b_number(bits: int, expected: str) -> None:
    assert canonicalize(_from_bits(bits)) == expected.encode("ascii")
    assert canonicalize([_from_bits(bits)]) == f"[{expected}]".encode("ascii")


@pytest.mark.parametrize(
    "bits",
    [0x7FF8000000000000, 0x7FF0000000000000, 0xFFF0000000000000],
    ids=["NaN", "Infinity", "-Infinity"],
)
def test_appendix_b_non_finite_is_an_error(bits: int) -> None:
    with pytest.raises(CanonicalizationError, match="non-finite"):
        canonicalize({"n": _from_bits(bits)})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.0, "1"),
        (-1.5, "-1.5"),
        (100.0, "100"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1.5e21, "1.5e+21"),
        (0.1, "0.1"),
        (1e-6, "0.000001"),
        (1.5e-7, "1.5e-7"),
        (1e-7, "1e-7"),
        (123456789.125, "123456789.125"),
        (0.30000000000000004, "0.30000000000000004"),
    ],
)
def test_ecmascript_number_layout(value: float, expected: str) -> None:
    assert canonicalize(value) == expected.encode("ascii")


# --- RFC 8785 §3.2.3: property sorting by UTF-16 code units --------------------------


def test_rfc_sorting_example() -> None:
    obj = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    result = canonicalize(obj).decode("utf-8")
    keys = list(json.loads(result))
    # U+1F600 is the surrogate pair D83D DE00 in UTF-16, so it sorts *before* U+FB33
    # even though its code point is larger.
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]
    assert result.startswith('{"\\r":"Carriage Return","1":"One"')


def test_utf16_order_differs_from_code_point_order() -> None:
    obj = {"\uffff": 1, "\U00010000": 2}
    assert sorted(obj) == ["\uffff", "\U00010000"]  # code-point order
    assert canonicalize(obj) == '{"\U00010000":2,"\uffff":1}'.encode()


def test_sorting_is_applied_recursively_and_arrays_keep_order() -> None:
    obj = {"b": [{"z": 1, "a": 2}, 3, 1], "a": {"y": None, "x": True}}
    assert canonicalize(obj) == b'{"a":{"x":true,"y":null},"b":[{"a":2,"z":1},3,1]}'


def test_cyberphone_weird_vector() -> None:
    obj = {
        "\u20ac": "Euro Sign",
        "1": "One",
        "\u0080": "Control\u007f",
        "\U0001f602": "Smiley",
        "\u00f6": "Latin Small Letter O With Diaeresis",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "</script>": "Browser Challenge",
    }
    expected = (
        '{"1":"One","</script>":"Browser Challenge","\u0080":"Control\u007f",'
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
        '"\U0001f602":"Smiley","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    )
    assert canonicalize(obj) == expected.encode("utf-8")


# --- strings ------------------------------------------------------------------------


def test_control_characters_and_minimal_escaping() -> None:
    text = "".join(chr(c) for c in range(0x20)) + '"\\/\u007f\u2028\u00e9'
    expected = (
        '"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b'
        "\\f\\r\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017"
        '\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\\"\\\\/\u007f\u2028\u00e9"'
    )
    assert canonicalize(text) == expected.encode("utf-8")


def test_astral_characters_are_literal_utf8() -> None:
    assert canonicalize("\U0001f600") == b'"\xf0\x9f\x98\x80"'


@pytest.mark.parametrize("text", ["\ud800", "a\udfffb", "\ud83d\ude00"])
def test_surrogates_in_strings_are_rejected(text: str) -> None:
    with pytest.raises(CanonicalizationError, match="surrogate"):
        canonicalize({"k": [text]})


def test_surrogate_in_key_is_rejected_with_location() -> None:
    with pytest.raises(CanonicalizationError, match="object key contains surrogate") as info:
        canonicalize({"a": {"\ud800": 1}})
    assert "at /a/" in str(info.value)


def test_lone_surrogate_escape_in_json_text_is_rejected() -> None:
    with pytest.raises(CanonicalizationError, match="surrogate"):
        canonicalize(parse_json('{"a":"\\ud800"}'))
    # ... while a well-formed escaped pair is fine.
    assert canonicalize(parse_json('"\\ud83d\\ude00"')) == '"\U0001f600"'.encode()


# --- numbers: integer domain --------------------------------------------------------


@pytest.mark.parametrize("value", [MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER, 0, -1])
def test_safe_integers_are_accepted(value: int) -> None:
    assert canonicalize(value) == str(value).encode("ascii")


@pytest.mark.parametrize("value", [2**53, -(2**53), 2**64, -(2**63)])
def test_unsafe_integers_are_rejected(value: int) -> None:
    with pytest.raises(CanonicalizationError, match="safe range"):
        canonicalize({"big": value})


def test_bool_is_not_an_integer_and_intenum_is_a_number() -> None:
    class Level(enum.IntEnum):
        HIGH = 3

    assert canonicalize([True, False, Level.HIGH]) == b"[true,false,3]"


def test_negative_zero_and_integral_float() -> None:
    assert canonicalize([-0.0, 0.0, 2.0, -0]) == b"[0,0,2,0]"


# --- rejected inputs ----------------------------------------------------------------


@pytest.mark.parametrize("key", [1, True, None, (1, 2), 1.5])
def test_non_string_keys_are_rejected(key: Any) -> None:
    with pytest.raises(CanonicalizationError, match="not a str"):
        canonicalize({key: "v"})


@pytest.mark.parametrize("value", [b"bytes", {1, 2}, Decimal("1.5"), object(), 1j])
def test_non_json_types_are_rejected(value: object) -> None:
    with pytest.raises(CanonicalizationError, match="not JSON"):
        canonicalize({"a": [value]})


def test_error_names_the_location() -> None:
    with pytest.raises(CanonicalizationError) as info:
        canonicalize({"outer": [1, {"a/b~c": math.inf}]})
    assert "/outer/1/a~1b~0c" in str(info.value)
    assert info.value.code == "canonicalization-error"
    assert isinstance(info.value, DomainError)


def test_depth_limit_and_cycles() -> None:
    nested: Any = []
    for _ in range(MAX_DEPTH - 1):
        nested = [nested]
    assert canonicalize(nested) == b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    with pytest.raises(CanonicalizationError, match="nesting"):
        canonicalize([nested])
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(CanonicalizationError, match="nesting"):
        canonicalize(cycle)


def test_tuples_and_mappings() -> None:
    from types import MappingProxyType

    assert canonicalize(MappingProxyType({"b": (1, 2), "a": ()})) == b'{"a":[],"b":[1,2]}'


# --- parse_json -----------------------------------------------------------------------


def test_parse_json_rejects_duplicate_member_names() -> None:
    with pytest.raises(CanonicalizationError, match="duplicate"):
        parse_json('{"a": 1, "b": {"c": 1, "c": 2}}')


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"x": -Infinity}'])
def test_parse_json_rejects_non_standard_literals(text: str) -> None:
    with pytest.raises(CanonicalizationError, match="literal"):
        parse_json(text)


@pytest.mark.parametrize("text", ["", "{", "[1,]", "{'a': 1}", b"\xff"])
def test_parse_json_rejects_invalid_text(text: str | bytes) -> None:
    with pytest.raises(CanonicalizationError, match="invalid JSON"):
        parse_json(text)


def test_parse_json_large_integer_literals() -> None:
    assert parse_json("9007199254740991") == MAX_SAFE_INTEGER
    assert type(parse_json("9007199254740991")) is int
    exact = parse_json("[9007199254740992, 295147905179352830000]")
    assert exact == [2.0**53, 295147905179352830000.0]
    assert canonicalize(exact) == b"[9007199254740992,295147905179352830000]"
    with pytest.raises(CanonicalizationError, match="silently rounded"):
        parse_json("9007199254740993")  # would silently become ...992 in a double


def test_overflowing_literal_is_rejected_at_canonicalization() -> None:
    with pytest.raises(CanonicalizationError, match="non-finite"):
        canonicalize(parse_json("[1e400]"))


# --- differential property tests against the PyPI rfc8785 package --------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(blacklist_categories=("Cs",)))
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.text(st.characters(blacklist_categories=("Cs",))), children, max_size=5
        )
    ),
    max_leaves=30,
)


@settings(max_examples=400)
@given(json_values)
def test_matches_rfc8785_package(value: object) -> None:
    assert canonicalize(value) == rfc8785.dumps(value)  # type: ignore[arg-type]


@settings(max_examples=2000)
@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_every_double_bit_pattern_matches_rfc8785_package(bits: int) -> None:
    value = _from_bits(bits)
    if not math.isfinite(value):
        with pytest.raises(CanonicalizationError):
            canonicalize(value)
        return
    result = canonicalize(value)
    assert result == rfc8785.dumps(value)
    assert float(result) == value or value == 0.0  # shortest form still round-trips


@settings(max_examples=300)
@given(json_values)
def test_canonical_form_is_a_fixed_point(value: object) -> None:
    once = canonicalize(value)
    assert canonicalize(parse_json(once)) == once


# Characters on both sides of the surrogate range, where UTF-16 order and code-point
# order disagree, mixed with ordinary ones.
tricky_chars = st.sampled_from(
    ["a", "Z", "\u00e9", "\u20ac", "\ud7ff", "\ue000", "\ufb33", "\uffff", "\U00010000",
     "\U0001f600", "\U0010ffff"]
)  # fmt: skip


@settings(max_examples=300)
@given(
    st.dictionaries(
        st.text(tricky_chars | st.characters(blacklist_categories=("Cs",)), max_size=4),
        st.integers(0, 9),
    )
)
def test_keys_sorted_by_utf16_code_units(obj: dict[str, int]) -> None:
    keys = list(json.loads(canonicalize(obj)))
    assert keys == sorted(obj, key=lambda k: [ord(u) for u in _utf16_units(k)])


def _utf16_units(text: str) -> str:
    """The UTF-16 code units of ``text`` as a str of 16-bit chars (independent of the impl)."""
    units = []
    for char in text:
        cp = ord(char)
        if cp >= 0x10000:
            cp -= 0x10000
            units.append(chr(0xD800 + (cp >> 10)))
            units.append(chr(0xDC00 + (cp & 0x3FF)))
        else:
            units.append(char)
    return "".join(units)


# --- nesting depth: refused before the recursive parser runs (issue 9, finding 1) --------


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


_CRASH_PROBE = """
import sys, threading
import py_ecc  # raises the recursion limit to 100,000, as it does in the gateway
from gateway.domain.canonical import parse_json
from gateway.domain.errors import CanonicalizationError
out = []
def parse(body):
    try:
        parse_json(body)
        out.append("parsed")
    except CanonicalizationError as exc:
        out.append("refused: " + str(exc))
for body in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000):
    worker = threading.Thread(target=parse, args=(body,))  # a server thread's stack
    worker.start()
    worker.join()
print("|".join(out))
"""


def test_deep_nesting_is_refused_without_crashing_the_process() -> None:
    """100,000 nested arrays/objects in a thread killed the process with SIGSEGV."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", _CRASH_PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    answers = done.stdout.strip().split("|")
    assert answers == [f"refused: arrays and objects nested deeper than {MAX_DEPTH} levels"] * 2


@pytest.mark.parametrize(
    ("opener", "closer"),
    [("[", "]"), ('{"k":', "}"), ('[{"k":', "}]")],
)
def test_depth_limit_is_exact(opener: str, closer: str) -> None:
    levels = len(opener.replace('"k":', ""))
    fits = MAX_DEPTH // levels
    parse_json(opener * fits + "0" + closer * fits)
    extra = fits + 1
    with pytest.raises(CanonicalizationError, match="nested deeper"):
        parse_json(opener * extra + "0" + closer * extra)


@pytest.mark.parametrize(
    "text",
    [
        '["' + "[" * 500 + '"]',  # brackets inside a string are not structure
        '["\\"' + "[" * 500 + '"]',  # behind an escaped quote too
        '["\\\\", "' + "{" * 500 + '"]',
        "[" + ",".join(['"]"'] * 500) + "]",
        "[" + "[]," * 5000 + "[]]",  # wide, not deep
    ],
)
def test_brackets_in_strings_and_wide_documents_are_not_deep(text: str) -> None:
    assert _depth(parse_json(text)) <= 2
    assert _depth(parse_json(text.encode())) <= 2


@pytest.mark.parametrize(
    "text",
    [
        "[" * 200,  # never closed
        '["]' + "[" * 200,  # an unterminated string, then depth
        "[" + '"]",[' * 200 + "0" + "]" * 200 + "]",  # closers hidden in strings
        '["\\\\"' + "[" * 200 + "]" * 200 + "]",  # an escaped backslash ends the string
        "[" * 100 + "]" * 99 + "[" * 100 + "]" * 101,  # depth 100 then 100 again: fine...
    ],
)
def test_hidden_or_unbalanced_depth_is_refused_or_parsed_safely(text: str) -> None:
    try:
        value = parse_json(text)
    except CanonicalizationError:
        return
    assert _depth(value) <= MAX_DEPTH


json_tricky_text = st.text(alphabet='[]{}"\\ab,:', max_size=8)
json_nested = st.recursive(
    st.none() | st.integers(0, 9) | json_tricky_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(json_tricky_text, children, max_size=4)
    ),
    max_leaves=40,
)


@settings(max_examples=500)
@given(json_nested, st.integers(min_value=0, max_value=12))
def test_depth_prescan_agrees_with_the_real_depth(value: object, limit: int) -> None:
    from gateway.domain.canonical import _depth_within

    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False, indent=1)):
        assert _depth_within(text.encode(), limit) == (_depth(value) <= limit)


@settings(max_examples=300)
@given(st.binary(max_size=300) | st.text(alphabet='[]{}"\\ ,:0', max_size=300))
def test_prescan_never_lets_the_parser_past_the_limit(data: bytes | str) -> None:
    """On any input, parse_json either refuses or returns a value within the depth limit;
    with a small limit the pre-scan must refuse everything the parser would nest deeper."""
    from gateway.domain.canonical import _depth_within

    raw = data.encode() if isinstance(data, str) else data
    try:
        value = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return
    if not _depth_within(raw, 3):
        return
    assert _depth(value) <= 3


def test_parse_json_requires_utf8() -> None:
    for data in ('{"a": 1}'.encode("utf-16"), b"\xef\xbb\xbf{}", b'"\xed\xa0\x80"'):
        with pytest.raises(CanonicalizationError, match="invalid JSON"):
            parse_json(data)
