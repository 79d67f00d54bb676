"""RFC 8785 JSON Canonicalization Scheme (JCS).

:func:`canonicalize` turns a JSON-compatible Python value into the unique UTF-8 byte string
that RFC 8785 prescribes, so that independent implementations hash and sign the same bytes:

* no insignificant whitespace;
* object members sorted by the UTF-16 code units of their names (RFC 8785 §3.2.3), which
  differs from code-point order for characters outside the Basic Multilingual Plane;
* strings escaped minimally (RFC 8785 §3.2.2.2): only ``"``, ``\\`` and U+0000..U+001F are
  escaped, with the short forms ``\\b \\t \\n \\f \\r`` where they exist and lowercase
  ``\\u00xx`` otherwise; everything else is emitted as UTF-8;
* numbers written as ECMAScript ``Number.prototype.toString`` writes them
  (RFC 8785 §3.2.2.3, ECMA-262 Number::toString).

The input domain is I-JSON (RFC 7493). The following are refused with
:class:`~gateway.domain.errors.CanonicalizationError` rather than silently altered:
non-finite floats, integers outside the IEEE-754 safe range ±(2**53 - 1), object keys that
are not ``str``, strings holding surrogate code points (lone or "paired" — a Python ``str``
holding UTF-16 surrogates is not valid Unicode), values of any other type, and nesting
deeper than :data:`MAX_DEPTH` (which also catches reference cycles).

Accepted Python types: ``None``, ``bool``, ``int``, ``float``, ``str``, ``list``/``tuple``
(JSON arrays) and any :class:`collections.abc.Mapping` with ``str`` keys (JSON objects).
Integers and integral floats are the same JSON number: ``1`` and ``1.0`` both give ``1``.

:func:`parse_json` is the matching strict reader for untrusted JSON text: it refuses
duplicate member names and the non-standard ``NaN``/``Infinity`` literals, so that what it
returns can always be canonicalized unambiguously. It also refuses text that is not UTF-8
and nesting deeper than :data:`MAX_DEPTH`, found by a C-speed pre-scan *before* the recursive
parser runs: the process's recursion limit is raised far beyond what a thread's stack holds
(py_ecc sets it to 100,000), so a body of 100,000 ``[`` would otherwise crash the process.
"""

from __future__ import annotations

import json
import math
import re
from array import array
from collections.abc import Mapping
from itertools import accumulate
from typing import Final, NoReturn

from gateway.domain.errors import CanonicalizationError

__all__ = ["MAX_DEPTH", "MAX_SAFE_INTEGER", "canonicalize", "parse_json"]

MAX_SAFE_INTEGER: Final = 2**53 - 1
"""Largest integer exactly representable in an IEEE-754 double (ECMAScript MAX_SAFE_INTEGER)."""

MAX_DEPTH: Final = 128
"""Maximum nesting depth of arrays/objects accepted by :func:`canonicalize`."""

_SHORT_ESCAPES: Final = {
    0x08: "\\b",
    0x09: "\\t",
    0x0A: "\\n",
    0x0C: "\\f",
    0x0D: "\\r",
    0x22: '\\"',
    0x5C: "\\\\",
}
_ESCAPE_TABLE: Final[dict[int, str]] = {
    **{c: f"\\u{c:04x}" for c in range(0x20)},
    **_SHORT_ESCAPES,
}
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def canonicalize(obj: object) -> bytes:
    """Return the RFC 8785 canonical UTF-8 encoding of ``obj``.

    Raises:
        CanonicalizationError: ``obj`` is outside the I-JSON domain (see module docstring);
            the message names the offending location as a JSON Pointer.
    """
    if _fast_ok(obj, 0):
        try:
            return _FAST.encode(obj).encode("utf-8")
        except UnicodeEncodeError:  # a surrogate: let the full writer name it
            pass
    out: list[str] = []
    _write(obj, out, (), 0)
    return "".join(out).encode("utf-8")


_FAST: Final = json.JSONEncoder(
    ensure_ascii=False,
    separators=(",", ":"),
    sort_keys=True,
    allow_nan=False,
    check_circular=False,
)
_BMP_LOW: Final = "\ud800"


def _fast_ok(obj: object, depth: int) -> bool:
    """True when ``json`` (C encoder, sorted keys, no ASCII escaping) writes exactly the JCS
    bytes: exact dict/list/tuple/str/int/float/bool/None types, keys below U+D800 (code
    point order = UTF-16 order), safe integers, non-integral floats in [1e-4, 1e16) (where
    repr() and ECMAScript agree), depth below MAX_DEPTH."""
    t = type(obj)
    if t is str or obj is None or t is bool:
        return True
    if t is int:
        return -MAX_SAFE_INTEGER <= obj <= MAX_SAFE_INTEGER  # type: ignore[operator]
    if t is dict:
        if depth >= MAX_DEPTH:
            return False
        for key, value in obj.items():  # type: ignore[attr-defined]
            if type(key) is not str or (key and max(key) >= _BMP_LOW):
                return False
            if not _fast_ok(value, depth + 1):
                return False
        return True
    if t is list or t is tuple:
        if depth >= MAX_DEPTH:
            return False
        return all(_fast_ok(v, depth + 1) for v in obj)  # type: ignore[attr-defined]
    if t is float:
        return 1e-4 <= abs(obj) < 1e16 and not obj.is_integer()  # type: ignore[arg-type,attr-defined]
    return False


def parse_json(text: str | bytes) -> object:
    """Parse JSON text strictly (I-JSON, RFC 7493) for later canonicalization.

    Unlike :func:`json.loads` this refuses duplicate member names and the ``NaN``,
    ``Infinity`` and ``-Infinity`` literals. Numbers with a fraction or exponent become
    ``float`` (IEEE-754 double, as RFC 8785 assumes); integers within ±(2**53 - 1) become
    ``int``. A larger integer literal becomes a ``float`` when it is exactly how
    :func:`canonicalize` writes that double (so ``parse_json(canonicalize(x))`` is a fixed
    point: ``canonicalize(2.0**53)`` is ``9007199254740992``) and is refused otherwise,
    never silently rounded (``9007199254740993`` is refused). Values that
    parse but fall outside the canonical domain (a lone surrogate escape such as
    ``"\\ud800"``, a literal such as ``1e400`` that overflows to infinity) are rejected
    later by :func:`canonicalize`.

    Bytes must be UTF-8 (RFC 8259 §8.1; no byte order mark, no encoded surrogates). Arrays and
    objects nested deeper than :data:`MAX_DEPTH` are refused before parsing starts, so that no
    input can exhaust the stack (see the module docstring).

    Raises:
        CanonicalizationError: the text is not valid JSON or breaks one of the rules above.
    """
    try:
        if isinstance(text, str):
            data = text.encode("utf-8", "surrogatepass")
        else:
            data, text = text, text.decode("utf-8")
        if not _depth_within(data, MAX_DEPTH):
            raise CanonicalizationError(f"arrays and objects nested deeper than {MAX_DEPTH} levels")
        return json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_reject_constant,
            parse_int=_parse_int,
        )
    except CanonicalizationError:
        raise
    except (ValueError, TypeError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise CanonicalizationError(f"invalid JSON text: {exc}") from exc


_KEEP: Final = b'[]{}"'
_NOT_KEPT: Final = bytes(b for b in range(256) if b not in _KEEP)
_CURLY_TO_SQUARE: Final = bytes.maketrans(b"{}", b"[]")
_TO_STEPS: Final = bytes.maketrans(b"[]", b"\x01\xff")  # +1 / -1 as signed bytes
_CHEAP_PASSES: Final = 16


def _depth_within(data: bytes, limit: int) -> bool:
    """False when the UTF-8 JSON text ``data`` nests arrays/objects deeper than ``limit``.

    C-speed (bytes methods only), no recursion: escapes that hide a quote are dropped, then
    everything but quotes and brackets, then strings without brackets (two adjacent quotes),
    then any remaining string contents. What is left is the bracket structure, ``{}`` written
    as ``[]``. Each pass removes the innermost pairs (``[]``), one level; a run of unclosed
    ``[`` longer than the levels still allowed is too deep. Past a few passes (only
    adversarial shapes get there) the exact running depth is taken in one sweep.

    Never too lenient on a *prefix* the parser reads before it can fail, so malformed text is
    safe too (it may be refused here rather than by the parser; either way it is refused).
    """
    if len(data) <= limit:
        return True
    if b"\\" in data:
        # Inside strings, a backslash escapes the next character; pairs first (``\\\\``).
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    s = data.translate(_CURLY_TO_SQUARE, _NOT_KEPT)
    if len(s) <= limit:
        return True
    s = s.replace(b'""', b"")
    if b'"' in s:  # brackets inside strings: drop every string's contents
        s = b"".join(s.split(b'"')[::2])
    for done in range(_CHEAP_PASSES):
        if b"[" * (limit - done + 1) in s:
            return False
        if b"[]" not in s:
            return True
        s = s.replace(b"[]", b"")
    steps = array("b", s.translate(_TO_STEPS))
    return max(accumulate(steps), default=0) <= limit - _CHEAP_PASSES


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise CanonicalizationError(f"duplicate object member name {key!r}")
        result[key] = value
    return result


def _parse_int(text: str) -> int | float:
    value = int(text)
    if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return value
    as_double = float(value) if abs(value) < 2**1024 else math.inf
    if math.isfinite(as_double) and _number(as_double) == text:
        return as_double  # e.g. "9007199254740992", as canonicalize() writes 2.0**53
    raise CanonicalizationError(
        f"integer literal {text} is outside the safe range and is not the canonical "
        "form of an IEEE-754 double (it would be silently rounded)"
    )


def _reject_constant(name: str) -> NoReturn:
    raise CanonicalizationError(f"non-standard JSON literal {name!r} is not allowed")


def _pointer(path: tuple[str | int, ...]) -> str:
    """Render a path as an RFC 6901 JSON Pointer ("" is the whole document)."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _fail(path: tuple[str | int, ...], reason: str) -> NoReturn:
    where = _pointer(path) or "(root)"
    raise CanonicalizationError(f"cannot canonicalize value at {where}: {reason}")


def _write(obj: object, out: list[str], path: tuple[str | int, ...], depth: int) -> None:
    # Order matters: bool is a subclass of int.
    if obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, str):
        out.append(_string(obj, path))
    elif isinstance(obj, int):
        value = int(obj)  # drop subclass behaviour such as IntEnum.__str__
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            _fail(path, f"integer {value} is outside the IEEE-754 safe range ±(2**53 - 1)")
        out.append(str(value))
    elif isinstance(obj, float):
        if not math.isfinite(obj):
            _fail(path, f"non-finite number {obj!r} has no JSON representation")
        out.append(_number(float(obj)))
    elif isinstance(obj, (list, tuple)):
        if depth >= MAX_DEPTH:
            _fail(path, f"nesting deeper than {MAX_DEPTH} levels (or a reference cycle)")
        out.append("[")
        for index, item in enumerate(obj):
            if index:
                out.append(",")
            _write(item, out, (*path, index), depth + 1)
        out.append("]")
    elif isinstance(obj, Mapping):
        if depth >= MAX_DEPTH:
            _fail(path, f"nesting deeper than {MAX_DEPTH} levels (or a reference cycle)")
        keys: list[str] = []
        for key in obj:
            if not isinstance(key, str):
                _fail(path, f"object key {key!r} is a {type(key).__name__}, not a str")
            keys.append(key)
        # RFC 8785 §3.2.3: sort by UTF-16 code units. Big-endian UTF-16 bytes compare
        # exactly like the sequences of unsigned 16-bit code units they encode.
        encoded: list[tuple[bytes, str]] = []
        for key in keys:
            _check_unicode(key, (*path, key), what="object key")
            encoded.append((key.encode("utf-16-be"), key))
        encoded.sort()
        out.append("{")
        for index, (_, key) in enumerate(encoded):
            if index:
                out.append(",")
            out.append(f'"{key.translate(_ESCAPE_TABLE)}"')
            out.append(":")
            _write(obj[key], out, (*path, key), depth + 1)
        out.append("}")
    else:
        _fail(path, f"values of type {type(obj).__name__} are not JSON")


def _check_unicode(text: str, path: tuple[str | int, ...], *, what: str) -> None:
    match = _SURROGATE.search(text)
    if match is not None:
        _fail(
            path,
            f"{what} contains surrogate code point U+{ord(match.group()):04X} at index "
            f"{match.start()}; only valid Unicode scalar values are allowed",
        )


def _string(text: str, path: tuple[str | int, ...]) -> str:
    _check_unicode(text, path, what="string")
    return f'"{text.translate(_ESCAPE_TABLE)}"'


def _number(value: float) -> str:
    """ECMA-262 Number::toString(value) for a finite double (radix 10)."""
    if value == 0.0:
        return "0"  # also for -0.0
    if value < 0.0:
        return "-" + _number(-value)
    digits, n = _shortest_digits(value)
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    exponent = n - 1
    sign = "+" if exponent >= 0 else "-"
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{mantissa}e{sign}{abs(exponent)}"


def _shortest_digits(value: float) -> tuple[str, int]:
    """Return ``(s, n)`` of ECMA-262 Number::toString for a finite positive double.

    ``s`` is the shortest decimal digit string (no leading or trailing zeros) that
    round-trips to ``value``, choosing the one closest to ``value`` when several are
    equally short, and ``n`` places the decimal point: ``value == int(s) * 10**(n - len(s))``.
    CPython's ``repr(float)`` produces exactly that digit string (David Gay's shortest,
    correctly rounded conversion), so only its layout needs undoing here.
    """
    text = repr(value)
    mantissa, _, exp_text = text.partition("e")
    exponent = int(exp_text) if exp_text else 0
    int_part, _, frac_part = mantissa.partition(".")
    digits = int_part + frac_part
    n = len(int_part) + exponent
    stripped = digits.lstrip("0")
    n -= len(digits) - len(stripped)
    return stripped.rstrip("0"), n
