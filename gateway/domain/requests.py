"""Signed request types, declared once (issue 12 item 1; ``docs/formats.md`` §3, §9, §10).

Each signed request type is ONE class listing its wire members (name and wire form: the one
hex form, integer range, enum values, text bounds, nesting) and its EIP-712 members (name,
Solidity type and where the value comes from: a wire member, the route, or a function of the
parsed members). From that one declaration come:

* :meth:`RequestType.parse` — the strict parser: exactly the declared members (optional ones
  may be absent), each in its one accepted form, errors as
  :class:`~gateway.domain.errors.MalformedObject` (problem ``malformed-request``) with the
  member's JSON pointer, or :class:`~gateway.domain.errors.InvalidIdentifier` for a subject;
* :meth:`RequestType.type_string` / :meth:`RequestType.message` — the EIP-712 primary type
  and message (``gateway.domain.signing.TYPES`` takes its request types from here, so the
  type hashes are these declarations);
* :meth:`RequestType.schema` — the JSON Schema of the body (the OpenAPI document's);
* :meth:`RequestType.build` — the signed body a client sends.

Authentication (replay window, signature, signer at time, org standing, nonce) is one step
at the gateway level: :mod:`gateway._auth`. Nothing here imports the web framework, the store
or the chain.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from gateway.domain.canonical import canonicalize
from gateway.domain.errors import InvalidIdentifier, MalformedObject
from gateway.domain.identifiers import SubjectId, parse_canonical_subject_id

__all__ = [
    "MAX_NESTING",
    "REQUEST_TYPES",
    "SESSION_MAX_SECONDS",
    "AuditQuery",
    "LogRequest",
    "Member",
    "OfficeRequest",
    "ProofRequest",
    "ReadRequest",
    "RequestType",
    "SubjectQuery",
    "SubjectRequest",
    "SubjectSession",
    "Transition",
    "details_hash",
    "subject_digest",
]

SESSION_MAX_SECONDS: Final = 900
"""The longest a credit office's ``SubjectSession`` may last (15 minutes, formats §9.1)."""

Signer = Callable[[str, Mapping[str, object]], bytes]
"""``(type name, message) -> 65-byte signature`` (``gateway.domain.signing.TypedSigner``)."""

_LOWER_HEX = re.compile(r"[0-9a-f]*")


def _fail(pointer: str, reason: str) -> MalformedObject:
    return MalformedObject(pointer, reason)


# -- wire forms ---------------------------------------------------------------------------------


class Form:
    """How one member travels in JSON: ``parse`` it (strictly), ``dump`` it, its ``schema``."""

    nullable: bool = False

    def parse(self, value: object, pointer: str) -> Any:
        if value is None and self.nullable:
            return None
        return self._parse(value, pointer)

    def _parse(self, value: object, pointer: str) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def dump(self, value: Any) -> Any:
        return value

    def schema(self) -> dict[str, Any]:
        inner = self._schema()
        return {"anyOf": [inner, {"type": "null"}]} if self.nullable else inner

    def _schema(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class Hex(Form):
    """Lower-case hex of exactly ``size`` bytes, ``0x``-prefixed iff ``prefixed`` (the one
    hex form of each member; as ``gateway.domain.records.parse_hex``)."""

    size: int
    prefixed: bool
    nullable: bool = False

    def _parse(self, value: object, pointer: str) -> bytes:
        if not isinstance(value, str):
            raise _fail(pointer, "must be a hex string")
        text = value
        if self.prefixed:
            if not text.startswith("0x"):
                raise _fail(pointer, "must start with 0x")
            text = text[2:]
        elif text.startswith("0x"):
            raise _fail(pointer, "must be hex without a 0x prefix")
        if _LOWER_HEX.fullmatch(text) is None or len(text) % 2:
            raise _fail(pointer, "must be an even number of lowercase hex digits")
        if len(text) != 2 * self.size:
            raise _fail(pointer, f"must encode exactly {self.size} bytes, got {len(text) // 2}")
        return bytes.fromhex(text)

    def dump(self, value: Any) -> Any:
        if value is None or isinstance(value, str):  # None, or already in its wire form
            return value
        return ("0x" if self.prefixed else "") + bytes(value).hex()

    def _schema(self) -> dict[str, Any]:
        prefix = "0x" if self.prefixed else ""
        return {"type": "string", "pattern": f"^{prefix}[0-9a-f]{{{2 * self.size}}}$"}


def _bounded(json_type: str, *bounds: tuple[str, int | None]) -> dict[str, Any]:
    """``{"type": json_type}`` with each bound that is set."""
    return {"type": json_type} | {key: value for key, value in bounds if value is not None}


@dataclass(frozen=True)
class UInt(Form):
    """A JSON integer (never a bool, a float or a string) in ``[minimum, maximum]``."""

    minimum: int | None = 0
    maximum: int | None = None

    def _parse(self, value: object, pointer: str) -> int:
        if type(value) is not int:
            raise _fail(pointer, "must be an integer")
        if self.minimum is not None and value < self.minimum:
            raise _fail(pointer, f"must be an integer of at least {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise _fail(pointer, f"must be an integer of at most {self.maximum}")
        return value

    def _schema(self) -> dict[str, Any]:
        return _bounded("integer", ("minimum", self.minimum), ("maximum", self.maximum))


@dataclass(frozen=True)
class Enum(Form):
    """One of ``values`` (strings)."""

    values: tuple[str, ...]

    def _parse(self, value: object, pointer: str) -> str:
        if not isinstance(value, str) or value not in self.values:
            raise _fail(pointer, f"must be one of {list(self.values)}")
        return value

    def _schema(self) -> dict[str, Any]:
        return {"enum": list(self.values)}


@dataclass(frozen=True)
class Text(Form):
    """A string of ``min_length`` to ``max_length`` characters (no bound: any string)."""

    min_length: int = 0
    max_length: int | None = None
    nullable: bool = False

    def _parse(self, value: object, pointer: str) -> str:
        if not isinstance(value, str) or len(value) < self.min_length:
            raise _fail(pointer, self._what())
        if self.max_length is not None and len(value) > self.max_length:
            raise _fail(pointer, self._what())
        return value

    def _what(self) -> str:
        if self.max_length is None:
            return "must be a string"
        return f"must be a string of {self.min_length} to {self.max_length} characters"

    def _schema(self) -> dict[str, Any]:
        low = self.min_length or None
        return _bounded("string", ("minLength", low), ("maxLength", self.max_length))


_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")  # ASCII only


def _checksummed(value: str) -> str:
    # imported here: signing imports this module (its EIP-55 needs no eth-utils)
    from gateway.domain.signing import to_checksum_address

    return to_checksum_address(value)


@dataclass(frozen=True)
class Address(Form):
    """A ``0x`` address: 40 hex digits, all lower case, all upper case or EIP-55."""

    def _parse(self, value: object, pointer: str) -> bytes:
        if not (isinstance(value, str) and _ADDRESS.fullmatch(value)):
            raise _fail(pointer, "an address is 0x and 40 hex digits")
        digits = value[2:]
        if digits not in (digits.lower(), digits.upper()) and _checksummed(value) != value:
            raise _fail(pointer, "a mixed-case address must be EIP-55 checksummed")
        return bytes.fromhex(digits)

    def dump(self, value: Any) -> Any:
        return value if isinstance(value, str) else "0x" + bytes(value).hex()

    def _schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"}


@dataclass(frozen=True)
class AnyObject(Form):
    """A JSON object of any members (checked by the route: e.g. ``details``)."""

    def _parse(self, value: object, pointer: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _fail(pointer, "must be an object")
        return value

    def dump(self, value: Any) -> Any:
        return dict(value)

    def _schema(self) -> dict[str, Any]:
        return {"type": "object"}


@dataclass(frozen=True)
class Subject(Form):
    """A ``{"kind", "id"}`` subject in its canonical form (never normalised, never inferred)."""

    nullable: bool = False

    def _parse(self, value: object, pointer: str) -> SubjectId:
        if not isinstance(value, dict) or set(value) != {"kind", "id"}:
            raise _fail(pointer, 'subject is {"kind", "id"}')
        kind, ident = value["kind"], value["id"]
        if kind not in ("uscc", "resident_id"):
            raise InvalidIdentifier(f"unknown subject kind {kind!r}", check="kind")
        if not isinstance(ident, str):
            raise _fail(pointer + "/id", "the subject id is a string")
        return parse_canonical_subject_id(ident, kind=kind)

    def dump(self, value: Any) -> Any:
        if isinstance(value, SubjectId):
            return {"kind": value.kind, "id": value.value}
        return dict(value)

    def _schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["kind", "id"],
            "additionalProperties": False,
            "properties": {"kind": {"enum": ["uscc", "resident_id"]}, "id": {"type": "string"}},
        }


@dataclass(frozen=True)
class Nested(Form):
    """A member that is itself a declared request type (one level deep: the nesting bound)."""

    type: type[RequestType]

    def _parse(self, value: object, pointer: str) -> dict[str, Any]:
        return self.type.parse(value, pointer)

    def dump(self, value: Any) -> Any:
        return {m.name: m.form.dump(value[m.name]) for m in self.type.members if m.name in value}

    def _schema(self) -> dict[str, Any]:
        return self.type.schema()


@dataclass(frozen=True)
class Member:
    """One wire member: its JSON name, its form, and whether it may be absent."""

    name: str
    form: Form
    optional: bool = False


# -- where an EIP-712 member's value comes from -------------------------------------------------


@dataclass(frozen=True)
class Wire:
    """The parsed wire member ``name`` (``None`` -> ``default``)."""

    name: str
    default: object = None


@dataclass(frozen=True)
class Bound:
    """A value the route binds (e.g. the action, the record id): ``bound[key]``."""

    key: str


@dataclass(frozen=True)
class Derived:
    """A function of the parsed members and the bound values."""

    fn: Callable[[Mapping[str, Any], Mapping[str, Any]], object]


Source = Wire | Bound | Derived
_ZERO32: Final = b"\x00" * 32


def subject_digest(salt: bytes, subject: SubjectId | Mapping[str, str]) -> bytes:
    """What a signed request names instead of an identifier: SHA-256(salt ‖ kind ":" id)."""
    if isinstance(subject, SubjectId):
        text = subject.commitment_input()
    else:
        text = f"{subject['kind']}:{subject['id']}".encode()
    return hashlib.sha256(salt + text).digest()


def details_hash(details: object) -> bytes:
    """SHA-256 of the canonical JSON of a request's ``details`` (what the signature covers)."""
    return hashlib.sha256(canonicalize(details)).digest()


def _digest_of(salt_member: str) -> Derived:
    def fn(values: Mapping[str, Any], bound: Mapping[str, Any]) -> bytes:
        subject = values.get("subject", bound.get("subject"))
        if subject is None:
            return _ZERO32
        return subject_digest(values[salt_member], subject)

    return Derived(fn)


_DETAILS_HASH: Final = Derived(lambda values, _: details_hash(values["details"]))


# -- the declarations ---------------------------------------------------------------------------


MAX_NESTING: Final = 1
"""How deep request types may nest (a subject's request carries a session; nothing deeper)."""


def _depth(rtype: type[RequestType]) -> int:
    nested = [m.form.type for m in rtype.__dict__.get("members", ()) if isinstance(m.form, Nested)]
    return max((1 + _depth(t) for t in nested), default=0)


class RequestType:
    """A signed request type: subclasses declare ``members`` (wire, in parse order) and
    ``eip712`` (``(name, Solidity type, source)`` in the signed type's order)."""

    primary_type: ClassVar[str]
    members: ClassVar[tuple[Member, ...]]
    eip712: ClassVar[tuple[tuple[str, str, Source], ...]]
    signature_member: ClassVar[str] = "signature"
    what: ClassVar[str] = "a request"
    description: ClassVar[str | None] = None
    """The schema's ``description`` (for the OpenAPI document)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if _depth(cls) > MAX_NESTING:
            raise TypeError(f"{cls.__name__} nests request types more than {MAX_NESTING} deep")

    @classmethod
    def parse(cls, doc: object, pointer: str = "") -> dict[str, Any]:
        """The parsed members (absent optional ones omitted); raises ``MalformedObject``."""
        if not isinstance(doc, dict):
            raise _fail(pointer, f"{cls.what} is a JSON object")
        names = {m.name for m in cls.members}
        required = {m.name for m in cls.members if not m.optional}
        missing, extra = required - set(doc), set(doc) - names
        if missing or extra:
            raise _fail(
                pointer,
                f"{cls.what}: missing {sorted(missing)}, unexpected {sorted(map(str, extra))}",
            )
        out: dict[str, Any] = {}
        for m in cls.members:
            if m.name in doc:
                out[m.name] = m.form.parse(doc[m.name], f"{pointer}/{m.name}")
        cls.check(out, pointer)
        return out

    @classmethod
    def check(cls, values: dict[str, Any], pointer: str) -> None:
        """Rules across members (none by default)."""

    @classmethod
    def type_string(cls) -> str:
        """The EIP-712 ``encodeType`` of the primary type, e.g. ``LogRequest(bytes32 org,…)``."""
        return f"{cls.primary_type}({','.join(f'{t} {n}' for n, t, _ in cls.eip712)})"

    @classmethod
    def eip712_types(cls) -> tuple[tuple[str, str], ...]:
        return tuple((n, t) for n, t, _ in cls.eip712)

    @classmethod
    def message(cls, values: Mapping[str, Any], **bound: Any) -> dict[str, object]:
        """The EIP-712 message of parsed ``values`` with the route's ``bound`` values."""
        out: dict[str, object] = {}
        for name, _, source in cls.eip712:
            if isinstance(source, Wire):
                value = values.get(source.name)
                out[name] = source.default if value is None else value
            elif isinstance(source, Bound):
                out[name] = bound[source.key]
            else:
                out[name] = source.fn(values, bound)
        return out

    @classmethod
    def schema(cls) -> dict[str, Any]:
        """The JSON Schema of the body (what :meth:`parse` accepts, or less strictly where a
        rule spans members)."""
        out: dict[str, Any] = {"type": "object"}
        if cls.description is not None:
            out["description"] = cls.description
        out["required"] = [m.name for m in cls.members if not m.optional]
        out["additionalProperties"] = False
        out["properties"] = {m.name: m.form.schema() for m in cls.members}
        return out

    @classmethod
    def build(cls, sign: Signer, values: Mapping[str, Any], **bound: Any) -> dict[str, Any]:
        """The signed wire body of ``values`` (every member but the signature, as parsed
        values: bytes, ints, subject mappings), signed by ``sign`` over :meth:`message`."""
        signature = sign(cls.primary_type, cls.message(values, **bound))
        full = {**values, cls.signature_member: signature}
        return {
            m.name: m.form.dump(full[m.name])
            for m in cls.members
            if not (m.optional and full.get(m.name) is None)
        }


_HEX32_0X: Final = Hex(32, prefixed=True)
_HEX32: Final = Hex(32, prefixed=False)
_SIG: Final = Hex(65, prefixed=True)
_TIME: Final = UInt()
_NONCE: Final = Member("nonce", _HEX32_0X)
_SIGNATURE: Final = Member("signature", _SIG)
_SIGNED_AT: Final = ("signedAt", "uint64", Wire("signed_at"))
_NONCE_712: Final = ("nonce", "bytes32", Wire("nonce"))


class SubjectSession(RequestType):
    """A credit office certifies a session key to act for a subject (formats §9.1); nested
    in a subject's request as ``session``. Bound: ``subject`` (the outer request's)."""

    primary_type = "SubjectSession"
    what = "a session"
    description = (
        "A credit office's SubjectSession certifying the request's signing key "
        "(docs/formats.md §9.1); absent when the key bound in Grants signs."
    )
    members = (
        Member("issuer", _HEX32_0X),
        Member("session_key", Address()),
        Member("subject_salt", _HEX32),
        Member("signature", _SIG),
        Member("issued_at", _TIME),
        Member("expires_at", _TIME),
    )
    eip712 = (
        ("subjectDigest", "bytes32", _digest_of("subject_salt")),
        ("sessionKey", "address", Derived(lambda v, _: Address().dump(v["session_key"]))),
        ("issuer", "bytes32", Wire("issuer")),
        ("issuedAt", "uint64", Wire("issued_at")),
        ("expiresAt", "uint64", Wire("expires_at")),
    )

    @classmethod
    def check(cls, values: dict[str, Any], pointer: str) -> None:
        if not 0 < values["expires_at"] - values["issued_at"] <= SESSION_MAX_SECONDS:
            raise _fail(
                f"{pointer}/expires_at",
                f"a session lasts more than 0 and at most {SESSION_MAX_SECONDS} s",
            )


_SUBJECT_SIGNED: Final = (
    Member("subject", Subject()),
    Member("subject_salt", _HEX32),
    _NONCE,
    _SIGNATURE,
    Member("signed_at", _TIME),
)
"""The members a subject's signed request opens with (in the hand parsers' order)."""
_SESSION: Final = Member("session", Nested(SubjectSession), optional=True)


class SubjectQuery(RequestType):
    """A subject asks for its accesses or its file (bound ``action``: the route)."""

    primary_type = "SubjectQuery"
    what = "a subject query"
    members = (*_SUBJECT_SIGNED, _SESSION)
    eip712 = (
        ("subjectDigest", "bytes32", _digest_of("subject_salt")),
        ("action", "string", Bound("action")),
        _SIGNED_AT,
        _NONCE_712,
    )


class SubjectRequest(RequestType):
    """A subject's objection or repair application (bound ``action``, ``record_id``)."""

    primary_type = "SubjectRequest"
    what = "a subject request"
    members = (*_SUBJECT_SIGNED, Member("details", AnyObject()), _SESSION)
    eip712 = (
        ("subjectDigest", "bytes32", _digest_of("subject_salt")),
        ("recordId", "bytes32", Bound("record_id")),
        ("action", "string", Bound("action")),
        ("detailsHash", "bytes32", _DETAILS_HASH),
        _SIGNED_AT,
        _NONCE_712,
    )

    @classmethod
    def schema(cls) -> dict[str, Any]:
        out = super().schema()
        out["properties"]["details"] = {
            "type": "object",
            "required": ["reason"],
            "properties": {
                "reason": Text(1, 200).schema(),
                "evidence_hash": _HEX32.schema(),
            },
        }
        return out


class OfficeRequest(RequestType):
    """A credit office's (or origin department's) signed request: legal hold, repair
    rejection, objection list, status texts (bound ``action``, ``target``)."""

    primary_type = "OfficeRequest"
    what = "an office request"
    members = (
        Member("org", _HEX32_0X),
        _NONCE,
        _SIGNATURE,
        Member("signed_at", _TIME),
        Member("details", AnyObject()),
    )
    eip712 = (
        ("org", "bytes32", Wire("org")),
        ("action", "string", Bound("action")),
        ("target", "bytes32", Bound("target")),
        ("detailsHash", "bytes32", _DETAILS_HASH),
        _SIGNED_AT,
        _NONCE_712,
    )


_INT63: Final = UInt(0, 2**63 - 1)


class LogRequest(RequestType):
    """A signed read of log entries or of the access index (bound ``action``, formats §9.2)."""

    primary_type = "LogRequest"
    what = "a log request"
    description = "A signed LogRequest (formats §9.2): the action is the route's"
    members = (
        Member("org", _HEX32_0X),
        _NONCE,
        _SIGNATURE,
        Member("start", _INT63),
        Member("end", _INT63),
        Member("signed_at", _INT63),
    )
    eip712 = (
        ("org", "bytes32", Wire("org")),
        ("action", "string", Bound("action")),
        ("start", "uint64", Wire("start")),
        ("end", "uint64", Wire("end")),
        _SIGNED_AT,
        _NONCE_712,
    )

    @classmethod
    def schema(cls) -> dict[str, Any]:
        out = super().schema()
        out["properties"]["end"]["minimum"] = 1  # end = 0 names no entry (log-out-of-range)
        return out


class ProofRequest(RequestType):
    """The submitting department opens its record's bundle (bound ``record_id``, formats §7).
    Its signature travels as ``value``."""

    primary_type = "ProofRequest"
    what = "a proof request"
    signature_member = "value"
    members = (
        Member("org", _HEX32_0X),
        _NONCE,
        Member("value", _SIG),
        Member("signed_at", _TIME),
    )
    eip712 = (
        ("org", "bytes32", Wire("org")),
        ("recordId", "bytes32", Bound("record_id")),
        _SIGNED_AT,
        _NONCE_712,
    )


@dataclass(frozen=True)
class _Categories(Form):
    def _parse(self, value: object, pointer: str) -> list[str]:
        if not isinstance(value, list) or not value or not all(isinstance(c, str) for c in value):
            raise _fail(pointer, "categories must be a non-empty array of category codes")
        return value

    def _schema(self) -> dict[str, Any]:
        return {"type": "array", "minItems": 1, "items": {"type": "string"}}


class ReadRequest(RequestType):
    """A consent-gated read (formats §8). Bound: ``purpose`` (the purpose id of the named
    purpose) and ``categories`` (the catalog mask of the named categories): the catalog
    decides both."""

    primary_type = "ReadRequest"
    what = "a read request"
    members = (
        Member("requester", _HEX32_0X),
        _NONCE,
        _SIGNATURE,
        Member("signed_at", _TIME),
        Member("purpose", Text()),
        Member("categories", _Categories()),
        Member("grant_id", Hex(32, prefixed=True, nullable=True)),
        Member("record_id", Hex(32, prefixed=False, nullable=True)),
        Member("subject", Subject(nullable=True)),
        Member("subject_salt", Hex(32, prefixed=False, nullable=True)),
    )
    eip712 = (
        ("requester", "bytes32", Wire("requester")),
        ("subjectDigest", "bytes32", _digest_of("subject_salt")),
        ("recordId", "bytes32", Wire("record_id", _ZERO32)),
        ("purpose", "bytes32", Bound("purpose")),
        ("categories", "uint256", Bound("categories")),
        ("grantId", "bytes32", Wire("grant_id", _ZERO32)),
        _SIGNED_AT,
        _NONCE_712,
    )

    @classmethod
    def check(cls, values: dict[str, Any], pointer: str) -> None:
        if values["subject"] is None and values["subject_salt"] is not None:
            raise _fail(f"{pointer}/subject_salt", "subject_salt without subject")
        if values["subject"] is not None and values["subject_salt"] is None:
            raise _fail(f"{pointer}/subject_salt", "must be a hex string")
        if (values["subject"] is None) == (values["record_id"] is None):
            raise _fail(pointer, "name exactly one of subject and record_id")


class AuditFilters(RequestType):
    """An audit query's filters (all optional), each in its one form."""

    primary_type = "AuditFilters"  # not signed itself: hashed into the AuditQuery
    what = "a query"
    members = (
        Member("subject", Subject(), optional=True),
        Member("requester", _HEX32_0X, optional=True),
        Member("record", _HEX32, optional=True),
        Member("since", _TIME, optional=True),
        Member("until", _TIME, optional=True),
    )
    eip712 = ()


class AuditQuery(RequestType):
    """An auditor's trace query (formats §8.3); ``queryHash`` is the canonical query's."""

    primary_type = "AuditQuery"
    what = "an audit query"
    members = (
        Member("auditor", _HEX32_0X),
        _NONCE,
        _SIGNATURE,
        Member("signed_at", _TIME),
        Member("query", Nested(AuditFilters)),
    )
    eip712 = (
        ("auditor", "bytes32", Wire("auditor")),
        ("queryHash", "bytes32", Bound("query_hash")),
        _SIGNED_AT,
        _NONCE_712,
    )


_STATUSES: Final = ("active", "objected", "corrected", "repaired", "withdrawn", "erased")


class Transition(RequestType):
    """A record status transition (formats §10). Its signature is the ``RecordStatus``
    contract's EIP-712 ``Transition`` (its own domain, ``node.transition_digest``), over
    values the gateway computes from the log; this declares the wire form only."""

    primary_type = "Transition"
    what = "a transition"
    members = (
        Member("to", Enum(_STATUSES)),
        Member("reason", Text(1, 200)),
        Member("note", Text(nullable=True)),
        Member("successor", Hex(32, prefixed=False, nullable=True)),
        Member("actor", _HEX32_0X),
        Member("version", UInt(0, 2**32 - 1)),
        Member("deadline", _TIME),
        Member("signature", _SIG),
        Member("reason_salt", _HEX32),
        Member("note_salt", Hex(32, prefixed=False, nullable=True)),
    )
    eip712 = ()

    @classmethod
    def check(cls, values: dict[str, Any], pointer: str) -> None:
        if (values["note"] is None) != (values["note_salt"] is None):
            raise _fail(f"{pointer}/note_salt", "note_salt exactly with a note")


REQUEST_TYPES: Final[tuple[type[RequestType], ...]] = (
    ProofRequest,
    ReadRequest,
    SubjectQuery,
    AuditQuery,
    SubjectRequest,
    SubjectSession,
    OfficeRequest,
    LogRequest,
)
"""The signed request types whose EIP-712 type is the creditchain domain's."""
