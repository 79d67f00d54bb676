"""The public credit information catalog (公共信用信息目录).

The catalog ships as data (``gateway/catalog/catalog-v1.json``, loaded with
:mod:`importlib.resources`) and is versioned as a whole (``"version": "2026.1"``). Each
:class:`Category` carries its stable ASCII ``code``, Chinese and English names, a JSON Schema
(draft 2020-12) for the record's ``fields``, the org kinds allowed to submit it, its
sharing scope, and its disclosure and retention period rules.

Field validation is done here without a third-party JSON Schema library, by a small strict
validator for the subset of draft 2020-12 the catalog uses. The subset is enforced when the
catalog is loaded, so a schema can never silently use a keyword that is not checked:

* annotations: ``$schema``, ``$id``, ``title``, ``description``, ``$comment``,
  ``examples``, ``default``, ``deprecated``, ``readOnly``, ``writeOnly``;
* ``$defs`` (root only) and ``$ref`` of the form ``#/$defs/<name>``;
* ``type``, ``enum``, ``const``;
* objects: ``properties``, ``required``, ``additionalProperties``;
* arrays: ``items``, ``minItems``, ``maxItems``, ``uniqueItems``;
* strings: ``minLength``, ``maxLength``, ``pattern`` (ECMA-262 semantics for the constructs
  used: ``$`` means end of input), ``format: "date"`` — asserted, RFC 3339 full-date;
* numbers: ``minimum``, ``maximum``, ``exclusiveMinimum``, ``exclusiveMaximum``.

Errors report the RFC 6901 JSON Pointer of the first offending instance location, checking
in a fixed order (``$ref``, ``type``, ``enum``/``const``, then required members in schema
order, unexpected members in sorted order, declared members in schema order; array items in
order), so the same input always yields the same error.
"""

from __future__ import annotations

import calendar
import datetime
import functools
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Final, Literal, TypeAlias, cast

from gateway.domain.errors import InvalidCatalog, SchemaViolation, UnknownCategory, UnknownPurpose

__all__ = [
    "CATALOG_RESOURCE",
    "SUBMITTER_KINDS",
    "Catalog",
    "Category",
    "Duration",
    "PeriodRule",
    "Purpose",
    "SharingScope",
    "SubmitterKind",
    "load_catalog",
    "parse_catalog",
]

SharingScope: TypeAlias = Literal["public", "conditional", "restricted"]
SubmitterKind: TypeAlias = Literal[
    "department", "financial_institution", "utility", "credit_office", "auditor", "gateway"
]
SUBMITTER_KINDS: Final[frozenset[str]] = frozenset(
    ("department", "financial_institution", "utility", "credit_office", "auditor", "gateway")
)
SHARING_SCOPES: Final[frozenset[str]] = frozenset(("public", "conditional", "restricted"))
CATALOG_RESOURCE: Final = "catalog-v1.json"
DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
DISCLOSURE_END: Final = "disclosure_end"
"""Anchor name meaning "the end of the disclosure period" (used by retention rules)."""

_CODE: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
_DURATION: Final = re.compile(r"P(?:([0-9]+)Y)?(?:([0-9]+)M)?(?:([0-9]+)W)?(?:([0-9]+)D)?")
_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

JsonSchema: TypeAlias = "Mapping[str, Any] | bool"


# ---------------------------------------------------------------------------------------
# Periods


@dataclass(frozen=True, slots=True)
class Duration:
    """A calendar duration in the ISO 8601 form ``PnYnMnWnD`` (no time part)."""

    years: int = 0
    months: int = 0
    weeks: int = 0
    days: int = 0

    @classmethod
    def parse(cls, text: str) -> Duration:
        """Parse ``PnYnMnWnD`` (at least one component). Raises ValueError."""
        match = _DURATION.fullmatch(text) if isinstance(text, str) else None
        if match is None or text == "P":
            raise ValueError(f"not an ISO 8601 date duration (PnYnMnWnD): {text!r}")
        years, months, weeks, days = (int(g) if g else 0 for g in match.groups())
        return cls(years, months, weeks, days)

    def add_to(self, start: datetime.date) -> datetime.date:
        """``start`` plus this duration: years and months first (clamping the day to the
        end of a shorter month, so 2024-01-31 + P1M = 2024-02-29), then weeks and days."""
        month_index = start.month - 1 + self.months + 12 * self.years
        year = start.year + month_index // 12
        month = month_index % 12 + 1
        day = min(start.day, calendar.monthrange(year, month)[1])
        shifted = datetime.date(year, month, day)
        return shifted + datetime.timedelta(days=7 * self.weeks + self.days)

    def __str__(self) -> str:
        parts = [
            f"{value}{unit}"
            for value, unit in (
                (self.years, "Y"),
                (self.months, "M"),
                (self.weeks, "W"),
                (self.days, "D"),
            )
            if value
        ]
        return "P" + ("".join(parts) or "0D")


@dataclass(frozen=True, slots=True)
class PeriodRule:
    """How long a record is disclosed (or retained), counted from ``anchor``.

    ``anchor`` is the name of a required date field of the category's schema, or
    ``"disclosure_end"`` for a retention period. ``default`` is ``None`` when the period has
    no fixed end (e.g. until removed by the issuing authority). ``minimum``/``maximum``
    bound what may be configured or decided for an individual record; ``configurable``
    says whether a deployment may change ``default``; ``basis`` cites the rule.
    """

    default: Duration | None
    minimum: Duration | None
    maximum: Duration | None
    anchor: str
    configurable: bool
    basis: str
    notes: str | None = None

    def end(self, start: datetime.date, duration: Duration | None = None) -> datetime.date | None:
        """End date of the period starting at ``start``.

        Uses ``duration`` when given (a per-record decision or local configuration), else
        the default. Returns ``None`` for an open-ended default.

        Raises:
            ValueError: ``duration`` ends before ``start + minimum`` or after
                ``start + maximum``.
        """
        chosen = self.default if duration is None else duration
        if chosen is None:
            return None
        result = chosen.add_to(start)
        if duration is not None:
            if self.minimum is not None and result < self.minimum.add_to(start):
                raise ValueError(f"period {duration} is shorter than the minimum {self.minimum}")
            if self.maximum is not None and result > self.maximum.add_to(start):
                raise ValueError(f"period {duration} is longer than the maximum {self.maximum}")
        return result

    def earliest_end(self, start: datetime.date) -> datetime.date | None:
        """``start + minimum`` (e.g. earliest date credit repair may end disclosure)."""
        return None if self.minimum is None else self.minimum.add_to(start)


# ---------------------------------------------------------------------------------------
# Categories and catalog


@dataclass(frozen=True, slots=True)
class Category:
    """One catalog category. ``schema`` returns a fresh copy of its JSON Schema."""

    code: str
    name_zh: str
    name_en: str
    description: str
    schema_json: str = field(repr=False)
    submitter_kinds: frozenset[str]
    sharing_scope: SharingScope
    disclosure_period: PeriodRule
    retention_period: PeriodRule
    _schema: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def schema(self) -> dict[str, Any]:
        """The category's JSON Schema (draft 2020-12) for record ``fields`` (a copy)."""
        return cast(dict[str, Any], json.loads(self.schema_json))

    def may_submit(self, org_kind: str) -> bool:
        """Whether an org of ``org_kind`` may submit records of this category."""
        return org_kind in self.submitter_kinds

    def validate_fields(self, fields: object) -> None:
        """Check a record's ``fields`` against the category schema.

        Raises:
            SchemaViolation: with ``pointer`` of the first error (see module docstring).
        """
        _Validator(self._schema).validate(self._schema, fields, ())


@dataclass(frozen=True, slots=True)
class Purpose:
    """A stated purpose of reading (信贷审批, 招投标, …) and, per category, the fields it may
    receive: the minimum necessary. ``("*",)`` releases every field of that category."""

    code: str
    name_zh: str
    name_en: str
    basis_note: str
    release: Mapping[str, tuple[str, ...]] = field(repr=False)
    holders: frozenset[str] = frozenset()
    """The org kinds that may state this purpose (a bank may not state a credit office's
    purpose). Empty: nobody may."""

    def allows(self, category: str) -> bool:
        return category in self.release

    def may_hold(self, org_kind: str) -> bool:
        """Whether an org of ``org_kind`` may state this purpose in a read."""
        return org_kind in self.holders

    def released_fields(self, category: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """The part of a record's ``fields`` this purpose may receive (empty if none)."""
        allowed = self.release.get(category, ())
        if allowed == ("*",):
            return dict(fields)
        return {k: v for k, v in fields.items() if k in allowed}


@dataclass(frozen=True, slots=True)
class Catalog:
    """A versioned catalog: an ordered, read-only collection of categories, and the purposes
    for which they may be read."""

    version: str
    categories: Mapping[str, Category] = field(repr=False)
    purposes: Mapping[str, Purpose] = field(default_factory=dict, repr=False)
    policy_revision: int = 1
    """Revision of the read policy data (purposes, their holders and allowances) within
    ``version``. ``version`` is what records sign (categories, schemas, bits); a change to
    who may read what bumps ``policy_revision`` instead, and every access-log entry names
    the revision that decided it."""

    def purpose(self, code: str) -> Purpose:
        """Look up a purpose by code.

        Raises:
            UnknownPurpose: no such purpose in this catalog version.
        """
        try:
            return self.purposes[code]
        except (KeyError, TypeError):
            raise UnknownPurpose(str(code)) from None

    def category_bit(self, code: str) -> int:
        """The category's bit in a grant's category set: its index in catalog order
        (categories are only ever appended)."""
        self.category(code)
        return list(self.categories).index(code)

    def category_mask(self, codes: Sequence[str]) -> int:
        mask = 0
        for code in codes:
            mask |= 1 << self.category_bit(code)
        return mask

    def categories_of(self, mask: int) -> tuple[str, ...]:
        return tuple(c for i, c in enumerate(self.categories) if mask >> i & 1)

    def category(self, code: str) -> Category:
        """Look up a category by code.

        Raises:
            UnknownCategory: no such code in this catalog version.
        """
        try:
            return self.categories[code]
        except (KeyError, TypeError):
            raise UnknownCategory(str(code), catalog_version=self.version) from None

    @property
    def codes(self) -> tuple[str, ...]:
        """Category codes in catalog order."""
        return tuple(self.categories)

    def __iter__(self) -> Iterator[Category]:
        return iter(self.categories.values())

    def __len__(self) -> int:
        return len(self.categories)

    def __contains__(self, code: object) -> bool:
        return code in self.categories


@functools.cache
def load_catalog() -> Catalog:
    """Load (once) and validate the catalog shipped in :mod:`gateway.catalog`.

    Raises:
        InvalidCatalog: the packaged data is malformed.
    """
    text = resources.files("gateway.catalog").joinpath(CATALOG_RESOURCE).read_text("utf-8")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidCatalog(f"{CATALOG_RESOURCE} is not valid JSON: {exc}") from exc
    return parse_catalog(data)


def parse_catalog(data: object) -> Catalog:
    """Build a :class:`Catalog` from its decoded JSON document, validating everything.

    Raises:
        InvalidCatalog: naming the first problem found.
    """
    doc = _mapping(data, "catalog")
    version = _text(doc.get("version"), "catalog version")
    raw_categories = doc.get("categories")
    if not isinstance(raw_categories, list) or not raw_categories:
        raise InvalidCatalog("catalog 'categories' must be a non-empty array")
    categories: dict[str, Category] = {}
    for index, raw in enumerate(raw_categories):
        category = _parse_category(raw, f"categories[{index}]")
        if category.code in categories:
            raise InvalidCatalog(f"duplicate category code {category.code!r}")
        categories[category.code] = category
    purposes: dict[str, Purpose] = {}
    raw_purposes = doc.get("purposes", [])
    if not isinstance(raw_purposes, list):
        raise InvalidCatalog("catalog 'purposes' must be an array")
    for index, raw in enumerate(raw_purposes):
        purpose = _parse_purpose(raw, f"purposes[{index}]", categories)
        if purpose.code in purposes:
            raise InvalidCatalog(f"duplicate purpose code {purpose.code!r}")
        purposes[purpose.code] = purpose
    revision = doc.get("policy_revision", 1)
    if type(revision) is not int or revision < 1:
        raise InvalidCatalog("catalog 'policy_revision' must be a positive integer")
    return Catalog(
        version=version,
        categories=_ReadOnlyMapping(categories),
        purposes=dict(purposes),
        policy_revision=revision,
    )


def _parse_purpose(raw: object, where: str, categories: Mapping[str, Category]) -> Purpose:
    doc = _mapping(raw, where)
    known = {"code", "name_zh", "name_en", "basis_note", "holders", "release"}
    extra = sorted(set(doc) - known)
    if extra:
        raise InvalidCatalog(f"{where}: unknown attributes {extra}")
    code = _text(doc.get("code"), f"{where}.code")
    holders = doc.get("holders")
    if (
        not isinstance(holders, list)
        or not holders
        or not all(isinstance(k, str) and k in SUBMITTER_KINDS for k in holders)
        or len(set(holders)) != len(holders)
    ):
        raise InvalidCatalog(
            f"{where}: holders must be a non-empty list of distinct org kinds from "
            f"{sorted(SUBMITTER_KINDS)}"
        )
    release_raw = _mapping(doc.get("release"), f"{where}.release")
    release: dict[str, tuple[str, ...]] = {}
    for category_code, fields in release_raw.items():
        if category_code not in categories:
            raise InvalidCatalog(f"{where}.release: unknown category {category_code!r}")
        if (
            not isinstance(fields, list)
            or not fields
            or not all(isinstance(f, str) for f in fields)
        ):
            raise InvalidCatalog(f"{where}.release.{category_code} must be a list of fields")
        if fields != ["*"]:
            known_fields = set(categories[category_code].schema.get("properties", {}))
            unknown = sorted(set(fields) - known_fields)
            if unknown:
                raise InvalidCatalog(
                    f"{where}.release.{category_code}: not fields of the category: {unknown}"
                )
        release[category_code] = tuple(fields)
    return Purpose(
        code=code,
        name_zh=_text(doc.get("name_zh"), f"{where}.name_zh"),
        name_en=_text(doc.get("name_en"), f"{where}.name_en"),
        basis_note=_text(doc.get("basis_note"), f"{where}.basis_note"),
        release=release,
        holders=frozenset(holders),
    )


class _ReadOnlyMapping(Mapping[str, Category]):
    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Category]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Category:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"{{{', '.join(map(repr, self._data))}}}"


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidCatalog(f"{where} must be an object")
    return value


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidCatalog(f"{where} must be a non-empty string")
    return value


def _parse_category(raw: object, where: str) -> Category:
    doc = _mapping(raw, where)
    code = _text(doc.get("code"), f"{where}.code")
    if _CODE.fullmatch(code) is None:
        raise InvalidCatalog(f"{where}.code {code!r} must match {_CODE.pattern}")
    where = f"category {code!r}"
    known = {
        "code",
        "name_zh",
        "name_en",
        "description",
        "schema",
        "submitter_kinds",
        "sharing_scope",
        "disclosure_period",
        "retention_period",
    }
    extra = sorted(set(doc) - known)
    if extra:
        raise InvalidCatalog(f"{where}: unknown attributes {extra}")
    kinds = doc.get("submitter_kinds")
    if (
        not isinstance(kinds, list)
        or not kinds
        or not all(isinstance(k, str) and k in SUBMITTER_KINDS for k in kinds)
        or len(set(kinds)) != len(kinds)
    ):
        raise InvalidCatalog(
            f"{where}: submitter_kinds must be a non-empty list of distinct values from "
            f"{sorted(SUBMITTER_KINDS)}"
        )
    scope = doc.get("sharing_scope")
    if scope not in SHARING_SCOPES:
        raise InvalidCatalog(f"{where}: sharing_scope must be one of {sorted(SHARING_SCOPES)}")
    schema = _mapping(doc.get("schema"), f"{where}.schema")
    try:
        _check_schema(schema)
    except InvalidCatalog as exc:
        raise InvalidCatalog(f"{where}: {exc}") from None
    date_fields = _required_date_fields(schema)
    disclosure = _parse_period(doc.get("disclosure_period"), f"{where}.disclosure_period")
    if disclosure.anchor not in date_fields:
        raise InvalidCatalog(
            f"{where}: disclosure anchor {disclosure.anchor!r} must be a required date field"
        )
    retention = _parse_period(doc.get("retention_period"), f"{where}.retention_period")
    if retention.anchor != DISCLOSURE_END and retention.anchor not in date_fields:
        raise InvalidCatalog(
            f"{where}: retention anchor must be {DISCLOSURE_END!r} or a required date field"
        )
    return Category(
        code=code,
        name_zh=_text(doc.get("name_zh"), f"{where}.name_zh"),
        name_en=_text(doc.get("name_en"), f"{where}.name_en"),
        description=_text(doc.get("description"), f"{where}.description"),
        schema_json=json.dumps(schema, ensure_ascii=False, sort_keys=True),
        submitter_kinds=frozenset(kinds),
        sharing_scope=cast(SharingScope, scope),
        disclosure_period=disclosure,
        retention_period=retention,
        _schema=json.loads(json.dumps(schema)),  # private deep copy
    )


def _parse_period(raw: object, where: str) -> PeriodRule:
    doc = _mapping(raw, where)
    known = {"default", "minimum", "maximum", "anchor", "configurable", "basis", "notes"}
    extra = sorted(set(doc) - known)
    if extra:
        raise InvalidCatalog(f"{where}: unknown attributes {extra}")

    def duration(key: str) -> Duration | None:
        value = doc.get(key)
        if value is None:
            return None
        try:
            return Duration.parse(value)
        except ValueError as exc:
            raise InvalidCatalog(f"{where}.{key}: {exc}") from None

    configurable = doc.get("configurable")
    if not isinstance(configurable, bool):
        raise InvalidCatalog(f"{where}.configurable must be true or false")
    notes = doc.get("notes")
    if notes is not None:
        notes = _text(notes, f"{where}.notes")
    rule = PeriodRule(
        default=duration("default"),
        minimum=duration("minimum"),
        maximum=duration("maximum"),
        anchor=_text(doc.get("anchor"), f"{where}.anchor"),
        configurable=configurable,
        basis=_text(doc.get("basis"), f"{where}.basis"),
        notes=notes,
    )
    probe = datetime.date(2000, 1, 31)  # a month end: the hardest case for clamping
    ends = [d.add_to(probe) if d else None for d in (rule.minimum, rule.default, rule.maximum)]
    low, default_end, high = ends
    if (
        (low and default_end and default_end < low)
        or (high and default_end and default_end > high)
        or (low and high and low > high)
    ):
        raise InvalidCatalog(f"{where}: require minimum <= default <= maximum")
    return rule


def _required_date_fields(schema: Mapping[str, Any]) -> set[str]:
    properties = schema.get("properties", {})
    defs = schema.get("$defs", {})
    result = set()
    for name in schema.get("required", []):
        prop = properties.get(name)
        if not isinstance(prop, Mapping):
            continue
        ref = prop.get("$ref")
        target = defs.get(ref.removeprefix(_REF_PREFIX)) if isinstance(ref, str) else None
        via_ref = isinstance(target, Mapping) and target.get("format") == "date"
        if prop.get("format") == "date" or via_ref:
            result.add(name)
    return result


# ---------------------------------------------------------------------------------------
# Schema subset: load-time check


_ANNOTATIONS: Final = frozenset(
    (
        "title",
        "description",
        "$comment",
        "examples",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
    )
)
_ROOT_ONLY: Final = frozenset(("$schema", "$id", "$defs"))
_ASSERTIONS: Final = frozenset(
    (
        "$ref",
        "type",
        "enum",
        "const",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
    )
)
_TYPES: Final = frozenset(("null", "boolean", "object", "array", "number", "integer", "string"))
_FORMATS: Final = frozenset(("date",))
_REF_PREFIX: Final = "#/$defs/"


def _check_schema(root: Mapping[str, Any]) -> None:
    if root.get("$schema") != DIALECT:
        raise InvalidCatalog(f"schema must declare $schema {DIALECT!r}")
    if root.get("type") != "object":
        raise InvalidCatalog("a category schema must have type 'object'")
    defs = root.get("$defs", {})
    if not isinstance(defs, Mapping):
        raise InvalidCatalog("$defs must be an object")
    for name, sub in defs.items():
        _check_subschema(sub, root, f"/$defs/{name}")
    _check_subschema(root, root, "", is_root=True)


def _check_subschema(node: object, root: Mapping[str, Any], at: str, is_root: bool = False) -> None:
    def bad(reason: str) -> InvalidCatalog:
        return InvalidCatalog(f"schema {at or '/'}: {reason}")

    if isinstance(node, bool):
        return
    if not isinstance(node, Mapping):
        raise bad("a schema must be an object or a boolean")
    allowed = _ANNOTATIONS | _ASSERTIONS | (_ROOT_ONLY if is_root else frozenset())
    unknown = sorted(set(node) - allowed)
    if unknown:
        raise bad(f"unsupported keywords {unknown}")

    def non_negative_int(key: str) -> None:
        value = node.get(key)
        if value is not None and (type(value) is not int or value < 0):
            raise bad(f"{key} must be a non-negative integer")

    for key in ("minItems", "maxItems", "minLength", "maxLength"):
        non_negative_int(key)
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        value = node.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise bad(f"{key} must be a number")
    if "uniqueItems" in node and not isinstance(node["uniqueItems"], bool):
        raise bad("uniqueItems must be a boolean")
    if "$ref" in node:
        ref = node["$ref"]
        defs = root.get("$defs", {})
        if (
            not isinstance(ref, str)
            or not ref.startswith(_REF_PREFIX)
            or ref.removeprefix(_REF_PREFIX) not in defs
        ):
            raise bad(f"$ref must be '{_REF_PREFIX}<name>' naming an existing definition")
    if "type" in node:
        types = node["type"]
        names = types if isinstance(types, list) else [types]
        if not names or not all(isinstance(t, str) and t in _TYPES for t in names):
            raise bad(f"type must be one of {sorted(_TYPES)} or a non-empty list of them")
    if "enum" in node and (not isinstance(node["enum"], list) or not node["enum"]):
        raise bad("enum must be a non-empty array")
    if "properties" in node:
        props = node["properties"]
        if not isinstance(props, Mapping):
            raise bad("properties must be an object")
        for name, sub in props.items():
            _check_subschema(sub, root, f"{at}/properties/{name}")
    if "required" in node:
        required = node["required"]
        if (
            not isinstance(required, list)
            or not all(isinstance(r, str) for r in required)
            or len(set(required)) != len(required)
        ):
            raise bad("required must be an array of distinct strings")
        if node.get("additionalProperties") is False:
            missing = [r for r in required if r not in node.get("properties", {})]
            if missing:
                raise bad(f"required members {missing} can never be present")
    if "additionalProperties" in node:
        _check_subschema(node["additionalProperties"], root, f"{at}/additionalProperties")
    if "items" in node:
        _check_subschema(node["items"], root, f"{at}/items")
    if "pattern" in node:
        pattern = node["pattern"]
        if not isinstance(pattern, str):
            raise bad("pattern must be a string")
        try:
            _compile_pattern(pattern)
        except (re.error, ValueError) as exc:
            raise bad(f"pattern {pattern!r} is not supported: {exc}") from None
    if "format" in node and node["format"] not in _FORMATS:
        raise bad(f"format must be one of {sorted(_FORMATS)}")


@functools.lru_cache(maxsize=256)
def _compile_pattern(pattern: str) -> re.Pattern[str]:
    """Compile an ECMA-262 pattern (the common subset) with ECMA semantics in Python.

    Differences handled: ``$`` outside a character class matches only at the end of
    input (Python's also matches before a final newline), and ``\\d``/``\\w``/``\\s`` are
    ASCII. Lookbehind, named groups and other Python/ECMA-divergent syntax are refused.
    """
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            if i + 1 >= len(pattern):
                raise ValueError("dangling backslash")
            nxt = pattern[i + 1]
            if nxt not in "dDwWsSbB.^$|?*+()[]{}/\\-nrtfv" and not nxt.isdigit():
                raise ValueError(f"escape \\{nxt} is not supported")
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if char == "]":
                in_class = False
        elif char == "[":
            in_class = True
        elif char == "$":
            out.append(r"\Z")
            i += 1
            continue
        elif char == "(" and pattern.startswith("(?", i) and not pattern.startswith("(?:", i):
            raise ValueError("only non-capturing groups '(?:' are supported")
        out.append(char)
        i += 1
    if in_class:
        raise ValueError("unterminated character class")
    return re.compile("".join(out), re.ASCII)


# ---------------------------------------------------------------------------------------
# Schema subset: validation


def _pointer(path: Sequence[str | int]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _json_type(value: object) -> str | None:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return None


def _type_matches(value: object, name: str) -> bool:
    actual = _json_type(value)
    if name == "number":
        return actual in ("integer", "number")
    if name == "integer":
        return actual == "integer" or (
            actual == "number" and float(cast(float, value)).is_integer()
        )
    return actual == name


def _json_equal(a: object, b: object) -> bool:
    """Equality in the JSON data model: ``true != 1``, ``1 == 1.0``, arrays by element."""
    ta, tb = _json_type(a), _json_type(b)
    numeric = ("integer", "number")
    if ta in numeric and tb in numeric:
        return a == b
    if ta != tb:
        return False
    if ta == "array":
        sa, sb = cast(Sequence[object], a), cast(Sequence[object], b)
        return len(sa) == len(sb) and all(_json_equal(x, y) for x, y in zip(sa, sb, strict=True))
    if ta == "object":
        ma, mb = cast(Mapping[str, object], a), cast(Mapping[str, object], b)
        return ma.keys() == mb.keys() and all(_json_equal(ma[k], mb[k]) for k in ma)
    return a == b


class _Validator:
    __slots__ = ("_defs",)

    def __init__(self, root: Mapping[str, Any]) -> None:
        self._defs: Mapping[str, Any] = root.get("$defs", {})

    def validate(self, schema: JsonSchema, value: object, path: tuple[str | int, ...]) -> None:
        if schema is True:
            return
        if schema is False:
            raise SchemaViolation(_pointer(path), "no value is allowed here")
        assert isinstance(schema, Mapping)
        kind = _json_type(value)
        if kind is None:
            raise SchemaViolation(_pointer(path), f"a {type(value).__name__} is not a JSON value")
        if kind == "number" and not math.isfinite(cast(float, value)):
            raise SchemaViolation(_pointer(path), "number must be finite")
        if "$ref" in schema:
            self.validate(self._defs[schema["$ref"].removeprefix(_REF_PREFIX)], value, path)
        if "type" in schema:
            types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not any(_type_matches(value, t) for t in types):
                expected = " or ".join(types)
                raise SchemaViolation(_pointer(path), f"expected {expected}, got {kind}")
        if "enum" in schema and not any(_json_equal(value, e) for e in schema["enum"]):
            allowed = ", ".join(json.dumps(e, ensure_ascii=False) for e in schema["enum"])
            raise SchemaViolation(_pointer(path), f"must be one of: {allowed}")
        if "const" in schema and not _json_equal(value, schema["const"]):
            raise SchemaViolation(
                _pointer(path), f"must be {json.dumps(schema['const'], ensure_ascii=False)}"
            )
        if kind == "string":
            self._string(schema, cast(str, value), path)
        elif kind in ("integer", "number"):
            self._number(schema, cast(float, value), path)
        elif kind == "array":
            self._array(schema, cast(Sequence[object], value), path)
        elif kind == "object":
            self._object(schema, cast(Mapping[object, object], value), path)

    # The JSON pointer of a failure is built only when one is raised (hot path).

    def _string(self, schema: Mapping[str, Any], value: str, path: tuple[str | int, ...]) -> None:
        if "minLength" in schema and len(value) < schema["minLength"]:
            raise SchemaViolation(
                _pointer(path), f"must be at least {schema['minLength']} character(s) long"
            )
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise SchemaViolation(
                _pointer(path), f"must be at most {schema['maxLength']} characters long"
            )
        if "pattern" in schema and _compile_pattern(schema["pattern"]).search(value) is None:
            raise SchemaViolation(_pointer(path), f"does not match pattern {schema['pattern']}")
        if schema.get("format") == "date" and not _is_date(value):
            raise SchemaViolation(_pointer(path), "is not a valid calendar date YYYY-MM-DD")

    def _number(self, schema: Mapping[str, Any], value: float, path: tuple[str | int, ...]) -> None:
        if "minimum" in schema and value < schema["minimum"]:
            raise SchemaViolation(_pointer(path), f"must be >= {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise SchemaViolation(_pointer(path), f"must be <= {schema['maximum']}")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            raise SchemaViolation(_pointer(path), f"must be > {schema['exclusiveMinimum']}")
        if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
            raise SchemaViolation(_pointer(path), f"must be < {schema['exclusiveMaximum']}")

    def _array(
        self, schema: Mapping[str, Any], value: Sequence[object], path: tuple[str | int, ...]
    ) -> None:
        if "minItems" in schema and len(value) < schema["minItems"]:
            raise SchemaViolation(
                _pointer(path), f"must have at least {schema['minItems']} item(s)"
            )
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise SchemaViolation(_pointer(path), f"must have at most {schema['maxItems']} item(s)")
        if schema.get("uniqueItems"):
            for j, item in enumerate(value):
                if any(_json_equal(item, earlier) for earlier in value[:j]):
                    raise SchemaViolation(_pointer((*path, j)), "duplicates an earlier item")
        if "items" in schema:
            for j, item in enumerate(value):
                self.validate(schema["items"], item, (*path, j))

    def _object(
        self,
        schema: Mapping[str, Any],
        value: Mapping[object, object],
        path: tuple[str | int, ...],
    ) -> None:
        for key in value:
            if not isinstance(key, str):
                raise SchemaViolation(_pointer(path), f"member name {key!r} is not a string")
        members = cast(Mapping[str, object], value)
        properties: Mapping[str, Any] = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in members:
                raise SchemaViolation(_pointer((*path, name)), "required member is missing")
        if "additionalProperties" in schema:
            extra_schema = schema["additionalProperties"]
            for name in sorted(n for n in members if n not in properties):
                if extra_schema is False:
                    raise SchemaViolation(
                        _pointer((*path, name)), "unexpected member (not in the schema)"
                    )
                self.validate(extra_schema, members[name], (*path, name))
        for name, sub in properties.items():
            if name in members:
                self.validate(sub, members[name], (*path, name))


def _is_date(text: str) -> bool:
    if _DATE.fullmatch(text) is None:
        return False
    try:
        datetime.date(int(text[:4]), int(text[5:7]), int(text[8:10]))
    except ValueError:
        return False
    return True
