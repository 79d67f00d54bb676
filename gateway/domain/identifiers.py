"""Subject identifiers: unified social credit codes and resident identity numbers.

Two kinds of subject are recognised:

``uscc``
    Unified social credit code (统一社会信用代码), GB 32100-2015, for legal persons and
    other organisations. 18 characters over the 31-character alphabet
    ``0123456789ABCDEFGHJKLMNPQRTUWXY`` (no I, O, S, V, Z). Positions 3-8 are the GB/T 2260
    administrative division code and must be digits. The 18th character is a check
    character: with ``v(c)`` the index of ``c`` in the alphabet and weights
    ``1,3,9,27,19,26,16,17,20,29,25,13,8,24,10,30,28`` (3**i mod 31),
    ``check = alphabet[(31 - sum(v(c_i) * w_i) % 31) % 31]``.
    Not checked: the registration-authority and category codes (positions 1-2) against
    their tables, and the embedded GB 11714 organisation code check character.

``resident_id``
    Citizen identity number (公民身份号码), GB 11643-1999. 17 digits then a check
    character: weights ``7,9,10,5,8,4,2,1,6,3,7,9,10,5,8,4,2``,
    ``check = "10X98765432"[sum(d_i * w_i) % 11]``. Positions 7-14 must be a real
    calendar date ``YYYYMMDD`` (year 1800 or later). 15-digit first-generation numbers are
    refused: convert them to 18 digits first.

Normalisation (:func:`normalize`) maps full-width ASCII forms (U+FF01..U+FF5E) and the
ideographic space to ASCII, removes all whitespace and upper-cases; anything still
non-ASCII afterwards is refused rather than guessed at.

An 18-character string whose first 17 characters are digits can be syntactically both
kinds. Without an explicit ``kind`` it is read as a ``resident_id`` when it is a valid one
and as a ``uscc`` otherwise (and refused, naming the resident-ID check that failed, when it
is neither). Callers that know the kind (an enterprise record vs. a person)
should pass it, because the kind is part of the subject commitment.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from gateway.domain.errors import InvalidIdentifier

__all__ = [
    "MIN_PEPPER_BYTES",
    "RESIDENT_ID_CHECK_CHARS",
    "RESIDENT_ID_WEIGHTS",
    "USCC_ALPHABET",
    "USCC_WEIGHTS",
    "SubjectId",
    "SubjectKind",
    "make_resident_id",
    "make_uscc",
    "normalize",
    "parse_canonical_subject_id",
    "parse_subject_id",
    "resident_id_check_char",
    "subject_commitment",
    "uscc_check_char",
]

SubjectKind: TypeAlias = Literal["uscc", "resident_id"]

USCC_ALPHABET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS: Final = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
RESIDENT_ID_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RESIDENT_ID_CHECK_CHARS: Final = "10X98765432"
MIN_PEPPER_BYTES: Final = 32
"""Minimum length of the network pepper used by :func:`subject_commitment`."""

_USCC_VALUE: Final = {c: i for i, c in enumerate(USCC_ALPHABET)}
_DIGITS: Final = frozenset("0123456789")
_MIN_BIRTH_YEAR: Final = 1800
_FULLWIDTH: Final = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def normalize(raw: str) -> str:
    """Return ``raw`` with full-width forms folded, whitespace removed and upper-cased.

    Raises:
        InvalidIdentifier: (check ``"empty"``) nothing is left, or (check
            ``"characters"``) a non-ASCII character remains.
    """
    folded = "".join(raw.translate(_FULLWIDTH).split())
    if not folded:
        raise InvalidIdentifier("identifier is empty", check="empty")
    for index, char in enumerate(folded):
        if not char.isascii():
            raise InvalidIdentifier(
                f"character {char!r} (U+{ord(char):04X}) at position {index + 1} "
                "is not allowed in an identifier",
                check="characters",
            )
    return folded.upper()


def uscc_check_char(first17: str) -> str:
    """Return the GB 32100-2015 check character for the first 17 characters of a USCC.

    ``first17`` must already be normalised (upper case, ASCII).

    Raises:
        InvalidIdentifier: wrong length or a character outside the USCC alphabet.
    """
    if len(first17) != 17:
        raise InvalidIdentifier(
            f"a USCC body has 17 characters, got {len(first17)}", check="length"
        )
    total = 0
    for index, (char, weight) in enumerate(zip(first17, USCC_WEIGHTS, strict=True)):
        value = _USCC_VALUE.get(char)
        if value is None:
            raise InvalidIdentifier(
                f"character {char!r} at position {index + 1} is not in the USCC alphabet "
                f"{USCC_ALPHABET}",
                check="characters",
            )
        total += value * weight
    return USCC_ALPHABET[(31 - total % 31) % 31]


def resident_id_check_char(first17: str) -> str:
    """Return the GB 11643-1999 check character for the first 17 digits of a resident ID.

    Raises:
        InvalidIdentifier: wrong length or a non-digit.
    """
    if len(first17) != 17:
        raise InvalidIdentifier(
            f"a resident ID body has 17 digits, got {len(first17)}", check="length"
        )
    total = 0
    for index, (char, weight) in enumerate(zip(first17, RESIDENT_ID_WEIGHTS, strict=True)):
        if char not in _DIGITS:
            raise InvalidIdentifier(
                f"character {char!r} at position {index + 1} is not a digit; the first 17 "
                "characters of a resident ID are digits",
                check="characters",
            )
        total += int(char) * weight
    return RESIDENT_ID_CHECK_CHARS[total % 11]


def make_uscc(prefix17: str) -> str:
    """Complete a USCC by appending its check character (for tests and fixtures).

    Raises:
        InvalidIdentifier: ``prefix17`` is not a structurally valid USCC body.
    """
    body = normalize(prefix17)
    check = uscc_check_char(body)
    _check_uscc_structure(body)
    return body + check


def make_resident_id(prefix17: str) -> str:
    """Complete a resident ID by appending its check character (for tests and fixtures).

    Raises:
        InvalidIdentifier: ``prefix17`` is not 17 digits containing a valid birth date.
    """
    body = normalize(prefix17)
    check = resident_id_check_char(body)
    _check_birth_date(body)
    return body + check


@dataclass(frozen=True, slots=True)
class SubjectId:
    """A validated, normalised subject identifier.

    Constructing one directly re-validates ``value`` against ``kind``, so an instance is
    always valid. ``repr()`` masks the middle of the value, because resident IDs are
    personal data and reprs end up in logs; use ``.value`` deliberately when needed.
    """

    kind: SubjectKind
    value: str

    def __post_init__(self) -> None:
        if not isinstance(self.value, str):
            raise InvalidIdentifier("identifier value must be a str", check="characters")
        if self.kind == "uscc":
            _validate_uscc(self.value)
        elif self.kind == "resident_id":
            _validate_resident_id(self.value)
        else:
            raise InvalidIdentifier(f"unknown identifier kind {self.kind!r}", check="kind")

    def __repr__(self) -> str:
        masked = self.value[:6] + "*" * (len(self.value) - 10) + self.value[-4:]
        return f"SubjectId(kind={self.kind!r}, value={masked!r})"

    def __str__(self) -> str:
        return repr(self)

    def commitment_input(self) -> bytes:
        """The exact bytes committed to by :func:`subject_commitment`: ``kind:value``."""
        return f"{self.kind}:{self.value}".encode("ascii")


def parse_subject_id(raw: str, *, kind: SubjectKind | None = None) -> SubjectId:
    """Normalise and validate a subject identifier.

    Args:
        raw: the identifier as entered (spaces, lower case and full-width forms allowed).
        kind: the expected kind. When omitted the kind is inferred (see module docstring).

    Raises:
        InvalidIdentifier: with ``check`` and a message naming the failed check.
    """
    value = normalize(raw)
    if kind is not None:
        return SubjectId(kind, value)
    if len(value) == 15 and value.isdigit():
        raise InvalidIdentifier(
            "15-digit first-generation resident IDs are not accepted; use the 18-digit number",
            check="length",
        )
    if len(value) != 18:
        raise InvalidIdentifier(
            f"identifier must have 18 characters after normalisation, got {len(value)}",
            check="length",
        )
    if value[:17].isdigit():
        try:
            return SubjectId("resident_id", value)
        except InvalidIdentifier as as_resident:
            try:
                return SubjectId("uscc", value)
            except InvalidIdentifier:
                pass
            raise InvalidIdentifier(
                f"not a valid resident ID number ({as_resident}) nor a valid unified "
                "social credit code",
                check=as_resident.check,
            ) from None
    return SubjectId("uscc", value)


def parse_canonical_subject_id(raw: str, *, kind: SubjectKind) -> SubjectId:
    """Validate a subject identifier as a request or record must carry it: already in
    normalised form (ASCII, upper case, no whitespace, no full-width forms). Any other form is
    refused, never normalised: what was signed or hashed is the text as sent, so the gateway
    must not act on another text (docs/formats.md §2). For identifiers as typed by a person,
    :func:`parse_subject_id`.

    Raises:
        InvalidIdentifier: check ``"format"`` when ``raw`` is not in normalised form (the
            message does not repeat the identifier: it is personal data), else the failed check.
    """
    if normalize(raw) != raw:
        raise InvalidIdentifier(
            "identifier must be sent in normalised form: ASCII digits and upper-case letters, "
            "no whitespace, no full-width forms",
            check="format",
        )
    return SubjectId(kind, raw)


def subject_commitment(pepper: bytes, subject: SubjectId) -> bytes:
    """Peppered commitment to a subject, safe to publish on-chain.

    Returns ``HMAC-SHA256(key=pepper, msg=kind || b":" || value)`` where ``kind`` is
    ``b"uscc"`` or ``b"resident_id"`` and ``value`` is the normalised 18-character ASCII
    identifier, e.g. the message for a company is exactly ``b"uscc:91350100M000100Y43"``
    and for a person ``b"resident_id:11010519491231002X"``. 32 bytes.

    A plain hash would be brute-forceable (the identifier space is small); the pepper is
    the network secret shared by member gateways only.

    Raises:
        ValueError: ``pepper`` is shorter than :data:`MIN_PEPPER_BYTES` (32) bytes.
    """
    if len(pepper) < MIN_PEPPER_BYTES:
        raise ValueError(f"pepper must be at least {MIN_PEPPER_BYTES} bytes, got {len(pepper)}")
    return hmac.new(pepper, subject.commitment_input(), hashlib.sha256).digest()


def _check_length(value: str, what: str) -> None:
    if len(value) != 18:
        raise InvalidIdentifier(f"{what} has 18 characters, got {len(value)}", check="length")


def _check_uscc_structure(body: str) -> None:
    division = body[2:8]
    if not division.isdigit():
        raise InvalidIdentifier(
            f"positions 3-8 of a USCC are the administrative division code and must be "
            f"digits, got {division!r}",
            check="format",
        )


def _validate_uscc(value: str) -> None:
    _check_length(value, "a unified social credit code")
    expected = uscc_check_char(value[:17])
    if value[17] not in _USCC_VALUE:
        raise InvalidIdentifier(
            f"character {value[17]!r} at position 18 is not in the USCC alphabet {USCC_ALPHABET}",
            check="characters",
        )
    _check_uscc_structure(value)
    if value[17] != expected:
        raise InvalidIdentifier(
            f"USCC check character mismatch: expected {expected!r}, got {value[17]!r}",
            check="check-character",
        )


def _check_birth_date(body: str) -> None:
    text = body[6:14]
    year, month, day = int(text[:4]), int(text[4:6]), int(text[6:8])
    try:
        datetime.date(year, month, day)
    except ValueError:
        valid = False
    else:
        valid = year >= _MIN_BIRTH_YEAR
    if not valid:
        raise InvalidIdentifier(
            f"positions 7-14 of a resident ID must be a birth date YYYYMMDD "
            f"(year >= {_MIN_BIRTH_YEAR}), got {text!r}",
            check="birth-date",
        )


def _validate_resident_id(value: str) -> None:
    _check_length(value, "a resident ID number")
    expected = resident_id_check_char(value[:17])
    if value[17] not in RESIDENT_ID_CHECK_CHARS:
        raise InvalidIdentifier(
            f"character {value[17]!r} at position 18 is not a digit or 'X'",
            check="characters",
        )
    _check_birth_date(value)
    if value[17] != expected:
        raise InvalidIdentifier(
            f"resident ID check character mismatch: expected {expected!r}, got {value[17]!r}",
            check="check-character",
        )
