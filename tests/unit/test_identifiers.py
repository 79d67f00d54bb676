"""Subject identifiers: GB 32100-2015 USCC and GB 11643-1999 resident ID numbers."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.domain.errors import DomainError, InvalidIdentifier
from gateway.domain.identifiers import (
    RESIDENT_ID_CHECK_CHARS,
    USCC_ALPHABET,
    SubjectId,
    make_resident_id,
    make_uscc,
    normalize,
    parse_subject_id,
    resident_id_check_char,
    subject_commitment,
    uscc_check_char,
)

VALID_USCC = "91350100M000100Y43"
VALID_RESIDENT_ID = "11010519491231002X"
PEPPER = bytes(range(32))


# --- known-valid examples, verified by hand ---------------------------------------------


def test_uscc_example_by_hand() -> None:
    # 9 1 3 5 0 1 0 0 M 0 0 0 1 0 0 Y 4  with M=21, Y=30 in the 31-char alphabet
    assert USCC_ALPHABET.index("M") == 21
    assert USCC_ALPHABET.index("Y") == 30
    total = (
        9 * 1 + 1 * 3 + 3 * 9 + 5 * 27 + 0 * 19 + 1 * 26 + 0 * 16 + 0 * 17 + 21 * 20
        + 0 * 29 + 0 * 25 + 0 * 13 + 1 * 8 + 0 * 24 + 0 * 10 + 30 * 30 + 4 * 28
    )  # fmt: skip
    assert total == 1640
    assert total % 31 == 28  # 1640 = 52 * 31 + 28
    assert (31 - 28) % 31 == 3
    assert uscc_check_char(VALID_USCC[:17]) == "3" == USCC_ALPHABET[3]
    subject = parse_subject_id(VALID_USCC)
    assert subject == SubjectId("uscc", VALID_USCC)


def test_resident_id_example_by_hand() -> None:
    # digits 1 1 0 1 0 5 1 9 4 9 1 2 3 1 0 0 2, weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2
    total = (
        1 * 7 + 1 * 9 + 0 * 10 + 1 * 5 + 0 * 8 + 5 * 4 + 1 * 2 + 9 * 1 + 4 * 6 + 9 * 3
        + 1 * 7 + 2 * 9 + 3 * 10 + 1 * 5 + 0 * 8 + 0 * 4 + 2 * 2
    )  # fmt: skip
    assert total == 167
    assert total % 11 == 2  # 167 = 15 * 11 + 2
    assert RESIDENT_ID_CHECK_CHARS[2] == "X"
    assert resident_id_check_char(VALID_RESIDENT_ID[:17]) == "X"
    subject = parse_subject_id(VALID_RESIDENT_ID)
    assert subject == SubjectId("resident_id", VALID_RESIDENT_ID)


@pytest.mark.parametrize(
    ("raw", "kind", "value"),
    [
        ("91350100m000100y43", "uscc", VALID_USCC),
        (" 9135 0100 M000 100Y 43 ", "uscc", VALID_USCC),
        ("９１３５０１００Ｍ０００１００Ｙ４３", "uscc", VALID_USCC),  # full-width
        ("\u3000110105 19491231 002x\t", "resident_id", VALID_RESIDENT_ID),
        ("１１０１０５１９４９１２３１００２ｘ", "resident_id", VALID_RESIDENT_ID),
    ],
)
def test_normalisation(raw: str, kind: str, value: str) -> None:
    subject = parse_subject_id(raw)
    assert (subject.kind, subject.value) == (kind, value)


# --- precise failures -------------------------------------------------------------------


def _failure(raw: str, **kwargs: str) -> InvalidIdentifier:
    with pytest.raises(InvalidIdentifier) as info:
        parse_subject_id(raw, **kwargs)  # type: ignore[arg-type]
    assert info.value.code == "invalid-identifier"
    assert isinstance(info.value, DomainError)
    return info.value


def test_uscc_check_character_mismatch_is_named() -> None:
    error = _failure("91350100M000100Y44")
    assert error.check == "check-character"
    assert "expected '3', got '4'" in str(error)


def test_resident_id_check_character_mismatch_is_named() -> None:
    error = _failure("110105194912310021")
    assert error.check == "check-character"
    assert "expected 'X', got '1'" in str(error)
    error = _failure("110105194912310021", kind="resident_id")
    assert str(error) == "resident ID check character mismatch: expected 'X', got '1'"


def test_impossible_birth_date_is_named() -> None:
    body = "11010519490230002"  # 30 February 1949
    with pytest.raises(InvalidIdentifier) as info:
        SubjectId("resident_id", body + resident_id_check_char(body))
    assert info.value.check == "birth-date"
    assert "19490230" in str(info.value)
    for bad_date in ("19491301", "19490000", "17991231"):
        body = "110105" + bad_date + "002"
        error = _failure(body + resident_id_check_char(body), kind="resident_id")
        assert error.check == "birth-date"


def test_leap_day_birth_date() -> None:
    assert make_resident_id("11010520000229123").startswith("11010520000229")
    with pytest.raises(InvalidIdentifier, match="birth date"):
        make_resident_id("11010519000229123")  # 1900 was not a leap year


@pytest.mark.parametrize(
    ("raw", "check"),
    [
        ("", "empty"),
        ("   \u3000", "empty"),
        ("913501", "length"),
        ("91350100M000100Y431", "length"),
        ("110105491231002", "length"),  # 15-digit first generation
        ("91350100I000100Y43", "characters"),  # I is not in the alphabet
        ("91350100O000100Y43", "characters"),
        ("91350100S000100Y43", "characters"),
        ("91350100V000100Y43", "characters"),
        ("91350100Z000100Y43", "characters"),
        ("91350100M000100Y4Z", "characters"),
        ("9135010\u00e9M000100Y43", "characters"),  # non-ASCII
        ("9135010\ufb00000100Y43", "characters"),  # 'ff' ligature upper-cases to FF
        ("91-50100M000100Y43", "characters"),
    ],
)
def test_rejections_name_the_failed_check(raw: str, check: str) -> None:
    assert _failure(raw).check == check


def test_fifteen_digit_ids_are_refused_with_a_hint() -> None:
    assert "15-digit" in str(_failure("110105491231002"))


def test_uscc_division_code_must_be_digits() -> None:
    body = "91A50100M000100Y4"
    with pytest.raises(InvalidIdentifier) as info:
        SubjectId("uscc", body + uscc_check_char(body))
    assert info.value.check == "format"
    with pytest.raises(InvalidIdentifier, match="administrative division"):
        make_uscc(body)


def test_kind_hint_forces_interpretation() -> None:
    error = _failure(VALID_USCC, kind="resident_id")
    assert error.check == "characters"
    error = _failure(VALID_RESIDENT_ID, kind="uscc")
    assert error.check == "check-character"


def test_direct_construction_validates() -> None:
    with pytest.raises(InvalidIdentifier):
        SubjectId("uscc", "91350100m000100y43")  # not normalised
    with pytest.raises(InvalidIdentifier, match="kind"):
        SubjectId("passport", VALID_USCC)  # type: ignore[arg-type]


def test_repr_masks_personal_data() -> None:
    subject = parse_subject_id(VALID_RESIDENT_ID)
    assert "19491231" not in repr(subject)
    assert "19491231" not in str(subject)
    assert repr(subject) == "SubjectId(kind='resident_id', value='110105********002X')"


def test_normalize_rejects_non_ascii_after_folding() -> None:
    assert normalize("ａｂｃ　１２３") == "ABC123"
    with pytest.raises(InvalidIdentifier, match="U\\+2168"):
        normalize("Ⅸ")


# --- every single-character corruption is rejected -------------------------------------

USCC_CHARS = USCC_ALPHABET + "IOSVZ"
RESIDENT_CHARS = "0123456789X"


def _corruptions(value: str, alphabet: str) -> list[str]:
    return [
        value[:i] + c + value[i + 1 :] for i in range(len(value)) for c in alphabet if c != value[i]
    ]


def _assert_rejected_as(kind: str, corrupted: str) -> None:
    with pytest.raises(InvalidIdentifier):
        parse_subject_id(corrupted, kind=kind)  # type: ignore[arg-type]
    # Without a hint the string may happen to be a valid id of the *other* kind, but it
    # is never accepted as the same kind.
    try:
        other = parse_subject_id(corrupted)
    except InvalidIdentifier:
        return
    assert other.kind != kind


def test_every_single_substitution_of_known_examples_is_rejected() -> None:
    for corrupted in _corruptions(VALID_USCC, USCC_CHARS):
        _assert_rejected_as("uscc", corrupted)
    for corrupted in _corruptions(VALID_RESIDENT_ID, RESIDENT_CHARS + "AB"):
        _assert_rejected_as("resident_id", corrupted)


uscc_bodies = st.builds(
    lambda head, division, tail: head + division + tail,
    st.text(USCC_ALPHABET, min_size=2, max_size=2),
    st.text("0123456789", min_size=6, max_size=6),
    st.text(USCC_ALPHABET, min_size=9, max_size=9),
)
resident_bodies = st.builds(
    lambda region, born, seq: f"{region:06d}{born:%Y%m%d}{seq:03d}",
    st.integers(110000, 829999),
    st.dates(datetime.date(1900, 1, 1), datetime.date(2030, 12, 31)),
    st.integers(0, 999),
)


@settings(max_examples=200)
@given(uscc_bodies, st.integers(0, 17), st.sampled_from(USCC_CHARS))
def test_any_uscc_single_substitution_is_rejected(body: str, position: int, char: str) -> None:
    valid = make_uscc(body)
    assert parse_subject_id(valid, kind="uscc").value == valid
    if valid[position] == char:
        return
    _assert_rejected_as("uscc", valid[:position] + char + valid[position + 1 :])


@settings(max_examples=200)
@given(resident_bodies, st.integers(0, 17), st.sampled_from(RESIDENT_CHARS))
def test_any_resident_id_single_substitution_is_rejected(
    body: str, position: int, char: str
) -> None:
    valid = make_resident_id(body)
    assert parse_subject_id(valid).value == valid
    if valid[position] == char:
        return
    _assert_rejected_as("resident_id", valid[:position] + char + valid[position + 1 :])


@settings(max_examples=100)
@given(uscc_bodies)
def test_make_uscc_round_trips(body: str) -> None:
    value = make_uscc(body.lower())
    assert value[:17] == body
    assert value[17] in USCC_ALPHABET
    assert parse_subject_id(value, kind="uscc").value == value


# --- commitments --------------------------------------------------------------------------


def _dual_valid_value() -> str:
    """An 18-digit string valid both as a resident ID and as a USCC."""
    for seq in itertools.count():
        body = f"610802199001{seq % 28 + 1:02d}{seq:03d}"[:17]
        if uscc_check_char(body) == resident_id_check_char(body):
            return body + uscc_check_char(body)
    raise AssertionError("unreachable")


def test_commitment_is_hmac_over_kind_tagged_value() -> None:
    subject = parse_subject_id(VALID_USCC)
    expected = hmac.new(PEPPER, b"uscc:91350100M000100Y43", hashlib.sha256).digest()
    assert subject_commitment(PEPPER, subject) == expected
    person = parse_subject_id(VALID_RESIDENT_ID)
    expected = hmac.new(PEPPER, b"resident_id:11010519491231002X", hashlib.sha256).digest()
    assert subject_commitment(PEPPER, person) == expected
    assert len(expected) == 32


def test_commitment_is_not_a_plain_hash() -> None:
    subject = parse_subject_id(VALID_USCC)
    commitment = subject_commitment(PEPPER, subject)
    assert commitment != hashlib.sha256(b"uscc:" + VALID_USCC.encode()).digest()
    assert commitment != hashlib.sha256(VALID_USCC.encode()).digest()


def test_commitments_differ_across_peppers() -> None:
    subject = parse_subject_id(VALID_USCC)
    other_pepper = bytes(range(1, 33))
    assert subject_commitment(PEPPER, subject) != subject_commitment(other_pepper, subject)


def test_commitments_differ_across_kinds_for_the_same_characters() -> None:
    value = _dual_valid_value()
    as_company = SubjectId("uscc", value)
    as_person = SubjectId("resident_id", value)
    assert subject_commitment(PEPPER, as_company) != subject_commitment(PEPPER, as_person)
    # Without a hint a string valid as both is read as a resident ID (documented).
    assert parse_subject_id(value).kind == "resident_id"
    assert parse_subject_id(value, kind="uscc") == as_company


def test_commitment_is_normalisation_invariant() -> None:
    a = subject_commitment(PEPPER, parse_subject_id("91350100m000100y43"))
    b = subject_commitment(PEPPER, parse_subject_id("９１３５０１００Ｍ０００１００Ｙ４３"))
    assert a == b


@pytest.mark.parametrize("size", [0, 16, 31])
def test_short_pepper_is_refused(size: int) -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        subject_commitment(bytes(size), parse_subject_id(VALID_USCC))
    assert len(subject_commitment(bytes(32), parse_subject_id(VALID_USCC))) == 32


def test_check_char_helpers_validate_input() -> None:
    with pytest.raises(InvalidIdentifier, match="17"):
        uscc_check_char("123")
    with pytest.raises(InvalidIdentifier, match="not a digit"):
        resident_id_check_char("1101051949123100X")
    with pytest.raises(InvalidIdentifier, match="alphabet"):
        uscc_check_char("91350100M000100I4")
