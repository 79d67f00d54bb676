"""The public credit information catalog and its strict field validator."""

from __future__ import annotations

import copy
import datetime
import json
import re
from importlib import resources
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.domain.catalog import (
    SUBMITTER_KINDS,
    Category,
    Duration,
    PeriodRule,
    load_catalog,
    parse_catalog,
)
from gateway.domain.errors import InvalidCatalog, SchemaViolation, UnknownCategory
from tests.samples import AUTHORITY, SAMPLES

EXPECTED_CODES = (
    "admin_licence",
    "admin_penalty",
    "serious_dishonesty_list",
    "judgment_defaulter",
    "tax_credit_rating",
    "utility_arrears",
    "credit_commitment",
    "honour_red_list",
)
CATALOG = load_catalog()
CJK = re.compile(r"[\u4e00-\u9fff]")


def _reference_validator(category: Category) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        category.schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def _violation(code: str, fields: object) -> SchemaViolation:
    with pytest.raises(SchemaViolation) as info:
        CATALOG.category(code).validate_fields(fields)
    assert info.value.code == "schema-violation"
    return info.value


# --- catalog shape -----------------------------------------------------------------------


def test_catalog_version_and_codes() -> None:
    assert CATALOG.version == "2026.1"
    assert CATALOG.codes == EXPECTED_CODES
    assert len(CATALOG) == 8
    assert "admin_penalty" in CATALOG
    assert load_catalog() is CATALOG  # cached


def test_packaged_file_is_the_source() -> None:
    text = resources.files("gateway.catalog").joinpath("catalog-v1.json").read_text("utf-8")
    data = json.loads(text)
    assert data["version"] == CATALOG.version
    assert [c["code"] for c in data["categories"]] == list(EXPECTED_CODES)
    assert set(data["submitter_kinds"]) == SUBMITTER_KINDS


@pytest.mark.parametrize("code", EXPECTED_CODES)
def test_every_category_has_all_attributes(code: str) -> None:
    category = CATALOG.category(code)
    assert category.code == code
    assert CJK.search(category.name_zh)
    assert category.name_en.isascii()
    assert category.name_en.strip()
    assert category.description
    assert category.submitter_kinds
    assert category.submitter_kinds <= SUBMITTER_KINDS
    assert category.sharing_scope in ("public", "conditional", "restricted")
    for rule in (category.disclosure_period, category.retention_period):
        assert isinstance(rule, PeriodRule)
        assert rule.basis.strip()
        assert rule.default is None or isinstance(rule.default, Duration)
    assert category.disclosure_period.anchor in category.schema["required"]
    assert category.schema["additionalProperties"] is False
    assert category.schema["type"] == "object"


@pytest.mark.parametrize("code", EXPECTED_CODES)
def test_every_schema_is_a_valid_2020_12_schema(code: str) -> None:
    schema = CATALOG.category(code).schema
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert jsonschema.validators.validator_for(schema) is jsonschema.Draft202012Validator


def test_schema_property_is_a_copy() -> None:
    category = CATALOG.category("admin_penalty")
    category.schema["properties"].clear()
    assert category.schema["properties"]
    category.validate_fields(SAMPLES["admin_penalty"])


@pytest.mark.parametrize(
    ("code", "kind", "allowed"),
    [
        ("utility_arrears", "utility", True),
        ("utility_arrears", "department", False),
        ("judgment_defaulter", "department", True),
        ("judgment_defaulter", "financial_institution", False),
        ("tax_credit_rating", "department", True),
        ("admin_penalty", "gateway", False),
        ("serious_dishonesty_list", "credit_office", True),
    ],
)
def test_submitter_kinds(code: str, kind: str, allowed: bool) -> None:
    assert CATALOG.category(code).may_submit(kind) is allowed


def test_sharing_scopes() -> None:
    assert CATALOG.category("admin_penalty").sharing_scope == "public"
    assert CATALOG.category("judgment_defaulter").sharing_scope == "public"
    assert CATALOG.category("utility_arrears").sharing_scope == "conditional"
    assert CATALOG.category("tax_credit_rating").sharing_scope == "conditional"


def test_unknown_category() -> None:
    with pytest.raises(UnknownCategory) as info:
        CATALOG.category("credit_score")
    assert info.value.code == "unknown-category"
    assert info.value.category_code == "credit_score"
    assert "2026.1" in str(info.value)


# --- periods ----------------------------------------------------------------------------


def test_penalty_disclosure_rule() -> None:
    rule = CATALOG.category("admin_penalty").disclosure_period
    assert rule.anchor == "decision_date"
    assert (str(rule.minimum), str(rule.default), str(rule.maximum)) == ("P3M", "P3Y", "P3Y")
    assert "2023年第58号令" in rule.basis
    start = datetime.date(2026, 2, 10)
    assert rule.end(start) == datetime.date(2029, 2, 10)
    assert rule.earliest_end(start) == datetime.date(2026, 5, 10)
    assert rule.end(start, Duration.parse("P6M")) == datetime.date(2026, 8, 10)
    with pytest.raises(ValueError, match="shorter than the minimum"):
        rule.end(start, Duration.parse("P1M"))
    with pytest.raises(ValueError, match="longer than the maximum"):
        rule.end(start, Duration.parse("P3Y1D"))


def test_judgment_defaulter_and_serious_list_rules() -> None:
    defaulter = CATALOG.category("judgment_defaulter").disclosure_period
    assert str(defaulter.default) == "P2Y"
    assert str(defaulter.maximum) == "P5Y"
    assert "法释〔2017〕7号" in defaulter.basis
    serious = CATALOG.category("serious_dishonesty_list").disclosure_period
    assert str(serious.default) == "P3Y"


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("P1M", datetime.date(2024, 1, 31), datetime.date(2024, 2, 29)),
        ("P1M", datetime.date(2023, 1, 31), datetime.date(2023, 2, 28)),
        ("P1Y", datetime.date(2024, 2, 29), datetime.date(2025, 2, 28)),
        ("P3Y", datetime.date(2024, 2, 29), datetime.date(2027, 2, 28)),
        ("P14M", datetime.date(2024, 11, 30), datetime.date(2026, 1, 30)),
        ("P2W3D", datetime.date(2024, 12, 20), datetime.date(2025, 1, 6)),
        ("P1Y1M1D", datetime.date(2024, 1, 31), datetime.date(2025, 3, 1)),
    ],
)
def test_duration_arithmetic(text: str, start: datetime.date, end: datetime.date) -> None:
    assert Duration.parse(text).add_to(start) == end
    assert str(Duration.parse(text)) == text


@pytest.mark.parametrize("text", ["", "P", "3Y", "P1.5Y", "PT1H", "P1D1Y", "p1y", "P-1Y"])
def test_invalid_durations(text: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        Duration.parse(text)


def test_open_ended_rule() -> None:
    rule = PeriodRule(None, None, None, "listed_date", True, "until removed")
    assert rule.end(datetime.date(2026, 1, 1)) is None
    assert rule.earliest_end(datetime.date(2026, 1, 1)) is None


# --- validation: valid samples --------------------------------------------------------------


def test_there_is_a_sample_for_every_category() -> None:
    assert set(SAMPLES) == set(EXPECTED_CODES)


@pytest.mark.parametrize("code", EXPECTED_CODES)
def test_valid_sample_passes(code: str) -> None:
    category = CATALOG.category(code)
    category.validate_fields(SAMPLES[code])
    _reference_validator(category).validate(SAMPLES[code])


@pytest.mark.parametrize("code", EXPECTED_CODES)
def test_minimal_sample_passes(code: str) -> None:
    category = CATALOG.category(code)
    minimal = {k: v for k, v in SAMPLES[code].items() if k in category.schema["required"]}
    category.validate_fields(minimal)
    _reference_validator(category).validate(minimal)


# --- validation: typical violations ----------------------------------------------------------


def _mutated(code: str, **changes: Any) -> dict[str, Any]:
    fields = copy.deepcopy(SAMPLES[code])
    for key, value in changes.items():
        if value is _DELETE:
            del fields[key]
        else:
            fields[key] = value
    return fields


_DELETE = object()

VIOLATIONS = [
    ("admin_penalty", {"decision_no": _DELETE}, "/decision_no", "required"),
    ("admin_penalty", {"fine_amount_fen": -1}, "/fine_amount_fen", ">= 0"),
    ("admin_penalty", {"fine_amount_fen": 12.5}, "/fine_amount_fen", "expected integer"),
    ("admin_penalty", {"fine_amount_fen": "500000"}, "/fine_amount_fen", "expected integer"),
    ("admin_penalty", {"fine_amount_fen": True}, "/fine_amount_fen", "got boolean"),
    ("admin_penalty", {"fine_amount_fen": 2**53}, "/fine_amount_fen", "<="),
    ("admin_penalty", {"decision_date": "2026-02-30"}, "/decision_date", "calendar date"),
    ("admin_penalty", {"decision_date": "2026/02/10"}, "/decision_date", "pattern"),
    ("admin_penalty", {"decision_date": "20260210"}, "/decision_date", "pattern"),
    ("admin_penalty", {"penalty_types": []}, "/penalty_types", "at least 1"),
    ("admin_penalty", {"penalty_types": ["fine", "fine"]}, "/penalty_types/1", "duplicates"),
    ("admin_penalty", {"penalty_types": ["fine", "flogging"]}, "/penalty_types/1", "one of"),
    ("admin_penalty", {"dishonesty_severity": "mild"}, "/dishonesty_severity", "one of"),
    ("admin_penalty", {"authority_uscc": "11610800MB123456"}, "/authority_uscc", "pattern"),
    ("admin_penalty", {"authority_uscc": "11610800MB1234567I"}, "/authority_uscc", "pattern"),
    ("admin_penalty", {"violation_facts": ""}, "/violation_facts", "at least 1"),
    ("admin_penalty", {"violation_facts": "x" * 4001}, "/violation_facts", "at most 4000"),
    ("admin_penalty", {"subject_name": "某公司"}, "/subject_name", "unexpected member"),
    ("admin_penalty", {"a/b~c": 1}, "/a~1b~0c", "unexpected member"),
    ("admin_licence", {"licence_types": "general"}, "/licence_types", "expected array"),
    ("admin_licence", {"valid_until": None}, "/valid_until", "expected string"),
    ("judgment_defaulter", {"listing_period_months": 61}, "/listing_period_months", "<= 60"),
    ("judgment_defaulter", {"performance_status": "done"}, "/performance_status", "one of"),
    ("tax_credit_rating", {"rating": "AA"}, "/rating", "one of"),
    ("tax_credit_rating", {"rating": "a"}, "/rating", "one of"),
    ("tax_credit_rating", {"score": 100.5}, "/score", "<= 100"),
    ("tax_credit_rating", {"evaluation_year": 2013}, "/evaluation_year", ">= 2014"),
    ("utility_arrears", {"arrears_amount_fen": 0}, "/arrears_amount_fen", ">= 1"),
    ("utility_arrears", {"account_no": "61 00"}, "/account_no", "pattern"),
    ("utility_arrears", {"notice_dates": ["2025-09-31"]}, "/notice_dates/0", "calendar date"),
    ("utility_arrears", {"utility_type": "internet"}, "/utility_type", "one of"),
    ("honour_red_list", {"incentive_measures": [1]}, "/incentive_measures/0", "expected string"),
    ("credit_commitment", {"fulfilment_status": _DELETE}, "/fulfilment_status", "required"),
]


@pytest.mark.parametrize(
    ("code", "changes", "pointer", "reason"),
    VIOLATIONS,
    ids=[f"{c}:{p}:{r}" for c, _, p, r in VIOLATIONS],
)
def test_typical_violations(code: str, changes: dict[str, Any], pointer: str, reason: str) -> None:
    fields = _mutated(code, **changes)
    error = _violation(code, fields)
    assert error.pointer == pointer
    assert reason in error.reason
    # The reference implementation agrees that the record is invalid.
    assert not _reference_validator(CATALOG.category(code)).is_valid(fields)


def test_integral_float_is_an_integer_as_in_json_schema() -> None:
    fields = _mutated("admin_penalty", fine_amount_fen=500.0)
    CATALOG.category("admin_penalty").validate_fields(fields)
    assert _reference_validator(CATALOG.category("admin_penalty")).is_valid(fields)


def test_first_error_order_is_deterministic() -> None:
    fields = _mutated("admin_penalty", decision_no=_DELETE, zzz=1, aaa=2, fine_amount_fen=-1)
    assert _violation("admin_penalty", fields).pointer == "/decision_no"  # required first
    fields = _mutated("admin_penalty", zzz=1, aaa=2, fine_amount_fen=-1)
    assert _violation("admin_penalty", fields).pointer == "/aaa"  # then unexpected, sorted


@pytest.mark.parametrize("fields", [None, [], "x", 1, 1.5, True])
def test_fields_must_be_an_object(fields: object) -> None:
    assert _violation("admin_penalty", fields).pointer == ""


def test_non_json_values_are_violations() -> None:
    error = _violation("admin_penalty", _mutated("admin_penalty", fine_amount_fen=float("nan")))
    assert (error.pointer, error.reason) == ("/fine_amount_fen", "number must be finite")
    error = _violation(
        "admin_penalty", _mutated("admin_penalty", decision_date=datetime.date.today())
    )
    assert error.pointer == "/decision_date"
    assert "not a JSON value" in error.reason
    fields: dict[Any, Any] = _mutated("admin_penalty")
    fields[1] = "x"
    assert "not a string" in _violation("admin_penalty", fields).reason


def test_pattern_dollar_means_end_of_input() -> None:
    """ECMA-262 '$' does not match before a trailing newline (Python's re does)."""
    fields = _mutated("admin_penalty", authority_uscc=AUTHORITY + "\n")
    assert _violation("admin_penalty", fields).pointer == "/authority_uscc"
    fields = _mutated("admin_penalty", decision_date="2026-02-10\n")
    assert _violation("admin_penalty", fields).pointer == "/decision_date"


def test_unicode_digits_do_not_satisfy_ascii_patterns() -> None:
    fields = _mutated("admin_penalty", decision_date="２０２６-02-10")
    assert _violation("admin_penalty", fields).pointer == "/decision_date"


# --- differential: our validator agrees with jsonschema on mutated samples --------------

json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)), max_size=8)
    | st.sampled_from(["2026-01-01", "2026-13-01", "A", "fine", "general", AUTHORITY, "", "x"])
)
json_value = st.recursive(
    json_leaf,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
    max_leaves=10,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_agrees_with_reference_validator(data: st.DataObject) -> None:
    code = data.draw(st.sampled_from(EXPECTED_CODES))
    category = CATALOG.category(code)
    fields = copy.deepcopy(SAMPLES[code])
    names = [*sorted(category.schema["properties"]), "extra"]
    for _ in range(data.draw(st.integers(1, 3))):
        name = data.draw(st.sampled_from(names))
        action = data.draw(st.sampled_from(["delete", "set", "set-item"]))
        if action == "delete":
            fields.pop(name, None)
        elif action == "set-item" and isinstance(fields.get(name), list):
            fields[name] = [*fields[name], data.draw(json_value)]
        else:
            fields[name] = data.draw(json_value)
    ours: SchemaViolation | None = None
    try:
        category.validate_fields(fields)
    except SchemaViolation as exc:
        ours = exc
    reference = _reference_validator(category)
    assert (ours is None) == reference.is_valid(fields), (fields, ours)
    if ours is not None:
        pointers = {
            "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in e.absolute_path)
            for e in reference.iter_errors(fields)
        }
        # jsonschema reports "required"/"additionalProperties" at the parent object;
        # we point at the member itself.
        parent = ours.pointer.rsplit("/", 1)[0]
        assert ours.pointer in pointers or (parent or "/") in pointers or parent in pointers


# --- catalog loading rejects malformed catalogs --------------------------------------------


def _catalog_doc() -> dict[str, Any]:
    text = resources.files("gateway.catalog").joinpath("catalog-v1.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def test_parse_catalog_round_trip() -> None:
    parsed = parse_catalog(_catalog_doc())
    assert parsed.codes == CATALOG.codes
    assert parsed.category("admin_penalty") == CATALOG.category("admin_penalty")


def _break(path: str, value: Any) -> dict[str, Any]:
    doc = _catalog_doc()
    node: Any = doc["categories"][1]  # admin_penalty
    *parents, last = path.split(".")
    for part in parents:
        node = node[part]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("schema.properties.fine_amount_fen.oneOf", [], "unsupported keywords"),
        ("schema.properties.decision_date.format", "date-time", "format"),
        ("schema.properties.decision_no.$ref", "#/$defs/missing", "$ref"),
        ("schema.properties.decision_no.$ref", "https://example.com/s.json", "$ref"),
        ("schema.properties.penalty_content.pattern", "(?<=a)b", "pattern"),
        ("schema.properties.penalty_content.pattern", "\\p{L}", "pattern"),
        ("schema.properties.fine_amount_fen.type", "int", "type"),
        ("schema.properties.fine_amount_fen.minimum", "0", "minimum"),
        ("schema.required", ["decision_no", "decision_no"], "required"),
        ("schema.required", ["decision_no", "ghost"], "can never be present"),
        ("schema.$schema", "http://json-schema.org/draft-07/schema#", "$schema"),
        ("schema.type", "array", "type 'object'"),
        ("sharing_scope", "open", "sharing_scope"),
        ("submitter_kinds", ["court"], "submitter_kinds"),
        ("submitter_kinds", [], "submitter_kinds"),
        ("code", "Admin-Penalty", "code"),
        ("name_zh", "", "name_zh"),
        ("colour", "red", "unknown attributes"),
        ("disclosure_period.default", "3 years", "ISO 8601"),
        ("disclosure_period.minimum", "P4Y", "minimum <= default <= maximum"),
        ("disclosure_period.anchor", "violation_type", "anchor"),
        ("disclosure_period.anchor", "disclosure_end", "anchor"),
        ("disclosure_period.configurable", "yes", "configurable"),
        ("disclosure_period.basis", _DELETE, "basis"),
        ("retention_period.anchor", "nowhere", "retention anchor"),
    ],
)
def test_malformed_catalog_is_rejected(path: str, value: Any, message: str) -> None:
    with pytest.raises(InvalidCatalog, match=re.escape(message)) as info:
        parse_catalog(_break(path, value))
    assert info.value.code == "invalid-catalog"


def test_duplicate_category_code_is_rejected() -> None:
    doc = _catalog_doc()
    doc["categories"].append(copy.deepcopy(doc["categories"][0]))
    with pytest.raises(InvalidCatalog, match="duplicate category code"):
        parse_catalog(doc)


@pytest.mark.parametrize("doc", [None, [], {}, {"version": "1", "categories": []}])
def test_catalog_document_shape(doc: Any) -> None:
    with pytest.raises(InvalidCatalog):
        parse_catalog(doc)
