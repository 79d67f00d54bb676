"""Credit records on the wire: identifiers, records, batches, leaf entries, receipts.

Pure logic for ``docs/formats.md`` §1-§6, shared by the gateway, the client SDK and the
bundle verifier. Nothing here reads the clock or draws randomness: times, salts and nonces
are passed in, and signing is a callable (:data:`~gateway.domain.signing.TypedSigner`).

Encodings (formats.md): ``bytes32`` values are lowercase hex, with a ``0x`` prefix for org
ids, log ids, nonces and signatures and without one for hashes (commitments, leaf hashes,
roots, paths, salts). Parsers here are strict — exact member sets, exact JSON types,
lowercase hex of the exact length, integers within their Solidity width and the
IEEE-754 safe range — and raise :class:`~gateway.domain.errors.MalformedObject` naming
the offending member, so that every accepted object has exactly one canonical encoding.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
from binascii import hexlify
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from json.encoder import py_encode_basestring
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias, cast

from gateway.domain.canonical import MAX_SAFE_INTEGER, canonicalize, parse_json
from gateway.domain.catalog import Catalog, Category
from gateway.domain.envelope import SALT_BYTES, record_commitment
from gateway.domain.errors import (
    BadSignature,
    CatalogVersionMismatch,
    InvalidIdentifier,
    MalformedObject,
)
from gateway.domain.identifiers import (
    SubjectId,
    SubjectKind,
    normalize,
    parse_canonical_subject_id,
)
from gateway.domain.merkle import MemoryTree, all_inclusion_proofs, leaf_hash, verify_inclusion
from gateway.domain.signing import (
    SigningDomain,
    TypedSigner,
    check_signature_encoding,
    fast_recover_typed,
)

if TYPE_CHECKING:
    import jsonschema_rs

__all__ = [
    "LEAF_VERSION",
    "LOG_NAMES",
    "MAX_BATCH_RECORDS",
    "SIGNATURE_SCHEME",
    "BatchPosition",
    "DepartmentSignature",
    "LeafEntry",
    "Receipt",
    "Record",
    "SignatureType",
    "Submission",
    "SubmittedRecord",
    "batch_path",
    "batch_paths",
    "batch_root",
    "commitment",
    "department_message",
    "department_signer",
    "hex0x",
    "leaf_bytes",
    "leaf_entries",
    "log_id",
    "make_leaf_entry",
    "make_receipt",
    "org_id_for",
    "parse_hex",
    "parse_leaf_entry",
    "parse_receipt",
    "parse_record",
    "parse_submission",
    "receipt_message",
    "receipt_signer",
    "record_id",
    "subject_tag",
    "verify_batch_path",
]

SIGNATURE_SCHEME: Final = "eip712-v1"
LEAF_VERSION: Final = 2
"""Version of the leaf entries the gateway writes; version 1 entries still parse and verify."""
LEAF_VERSIONS: Final = (1, 2)
_LEAF_V: Final = str(LEAF_VERSION).encode("ascii")
LOG_NAMES: Final = ("records", "access")
MAX_BATCH_RECORDS: Final = 1000
"""Default upper bound on the records of one submission (:func:`parse_submission`)."""

SignatureType: TypeAlias = Literal["CreditRecord", "CreditRecordBatch"]

_ORG_PREFIX: Final = b"creditchain/org/v1:"
_LOG_PREFIX: Final = b"creditchain/log/v1:"
_SUBJECT_TAG_PREFIX: Final = b"creditchain/record-subject/v1"
_HEX: Final = re.compile(r"[0-9a-f]*")
_UINT32: Final = 2**32 - 1
_UINT64: Final = 2**64 - 1
try:  # the C string encoder json.dumps uses (ensure_ascii=False); same output as the Python one
    from _json import encode_basestring as _encode_text
except ImportError:  # pragma: no cover - CPython always has it
    _encode_text = py_encode_basestring
_IDENTIFIER_DEFS: Final[Mapping[str, SubjectKind]] = {"uscc": "uscc", "resident_id": "resident_id"}
_REF_PREFIX: Final = "#/$defs/"


# ---------------------------------------------------------------------------------------
# Encoding helpers


def _jcs_text(value: str) -> bytes:
    """``canonicalize(value)`` for a ``str``, in one C call: the ``json`` string encoder (no
    ASCII escaping) escapes exactly what RFC 8785 escapes, the same way; a surrogate (which
    UTF-8 cannot encode) goes to :func:`canonicalize` to be refused there."""
    try:
        return _encode_text(value).encode("utf-8")
    except UnicodeEncodeError:
        return canonicalize(value)


def hex0x(value: bytes) -> str:
    """``0x`` followed by lowercase hex."""
    return "0x" + value.hex()


def _ptr(*parts: str | int) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def parse_hex(value: object, *, size: int | None, prefixed: bool, pointer: str = "") -> bytes:
    """Decode lowercase hex (``0x``-prefixed iff ``prefixed``) of exactly ``size`` bytes.

    Raises:
        MalformedObject: not a string, wrong prefix, upper-case or non-hex digits, or the
            wrong length.
    """
    if not isinstance(value, str):
        raise MalformedObject(pointer, "must be a hex string")
    text = value
    if prefixed:
        if not text.startswith("0x"):
            raise MalformedObject(pointer, "must start with 0x")
        text = text[2:]
    elif text.startswith("0x"):
        raise MalformedObject(pointer, "must be hex without a 0x prefix")
    if _HEX.fullmatch(text) is None or len(text) % 2:
        raise MalformedObject(pointer, "must be an even number of lowercase hex digits")
    raw = bytes.fromhex(text)
    if size is not None and len(raw) != size:
        raise MalformedObject(pointer, f"must encode exactly {size} bytes, got {len(raw)}")
    return raw


def _object(
    value: object, pointer: str, required: Iterable[str], optional: Iterable[str] = ()
) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise MalformedObject(pointer, "must be a JSON object")
    if not optional and isinstance(required, tuple) and value.keys() == set(required):
        return cast(Mapping[str, object], value)  # exactly the required members
    req = list(required)
    allowed = set(req) | set(optional)
    for key in value:
        if not isinstance(key, str) or key not in allowed:
            raise MalformedObject(_join(pointer, str(key)), "unexpected member")
    for key in req:
        if key not in value:
            raise MalformedObject(_join(pointer, key), "required member is missing")
    return cast(Mapping[str, object], value)


def _join(pointer: str, *parts: str | int) -> str:
    return pointer + _ptr(*parts)


def _uint(value: object, pointer: str, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedObject(pointer, "must be an integer")
    if not 0 <= value <= min(maximum, MAX_SAFE_INTEGER):
        raise MalformedObject(pointer, f"must be between 0 and {min(maximum, MAX_SAFE_INTEGER)}")
    return value


def _text(value: object, pointer: str) -> str:
    if not isinstance(value, str) or not value:
        raise MalformedObject(pointer, "must be a non-empty string")
    return value


def _check_bytes(value: bytes, size: int, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != size:
        raise ValueError(f"{what} must be exactly {size} bytes")


def _check_uint(value: int, maximum: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be an int")
    if not 0 <= value <= min(maximum, MAX_SAFE_INTEGER):
        raise ValueError(f"{what} = {value} is out of range")


# ---------------------------------------------------------------------------------------
# §1 identifiers


def org_id_for(uscc: str) -> bytes:
    """Org id of the organisation with unified social credit code ``uscc``:
    ``SHA-256("creditchain/org/v1:" || normalised USCC)``.

    Raises:
        InvalidIdentifier: ``uscc`` is not a valid unified social credit code.
    """
    subject = SubjectId("uscc", normalize(uscc))
    return hashlib.sha256(_ORG_PREFIX + subject.value.encode("ascii")).digest()


def log_id(gateway_org_id: bytes, name: str) -> bytes:
    """Log id of a gateway's log: ``SHA-256("creditchain/log/v1:" || org hex || ":" || name)``.

    ``org hex`` is the 64 lowercase hex digits of the gateway's org id, without ``0x``.

    Raises:
        ValueError: the org id is not 32 bytes or ``name`` is not ``records``/``access``.
    """
    _check_bytes(gateway_org_id, 32, "gateway org id")
    if name not in LOG_NAMES:
        raise ValueError(f"log name must be one of {LOG_NAMES}, got {name!r}")
    message = _LOG_PREFIX + gateway_org_id.hex().encode("ascii") + b":" + name.encode("ascii")
    return hashlib.sha256(message).digest()


# ---------------------------------------------------------------------------------------
# §2 records


@dataclass(frozen=True, slots=True)
class Record:
    """A validated credit record (formats.md §2).

    ``fields_jcs`` is the canonical JSON of the ``fields`` object (kept as bytes so the
    dataclass stays immutable); :attr:`fields` decodes a fresh copy.
    """

    catalog: str
    category: str
    org: bytes
    subject: SubjectId
    fields_jcs: bytes = field(repr=False)

    @property
    def fields(self) -> dict[str, Any]:
        """The record's ``fields`` object (a fresh copy)."""
        return cast(dict[str, Any], parse_json(self.fields_jcs))

    def to_json(self) -> dict[str, Any]:
        """The §2 JSON object."""
        return {
            "catalog": self.catalog,
            "category": self.category,
            "org": hex0x(self.org),
            "subject": {"kind": self.subject.kind, "id": self.subject.value},
            "fields": self.fields,
        }

    def canonical(self) -> bytes:
        """JCS of the §2 object: the bytes the record commitment covers.

        Assembled from the parts (members in JCS order, ``fields`` already canonical), so
        equal to ``canonicalize(self.to_json())`` without re-encoding ``fields``.
        """
        return b"".join(
            (
                b'{"catalog":',
                _jcs_text(self.catalog),
                b',"category":',
                _jcs_text(self.category),
                b',"fields":',
                self.fields_jcs,
                b',"org":"0x',
                hexlify(self.org),
                b'","subject":{"id":',
                _jcs_text(self.subject.value),
                b',"kind":',
                _jcs_text(self.subject.kind),
                b"}}",
            )
        )


def parse_record(obj: object, catalog: Catalog) -> Record:
    """Validate an untrusted §2 record object against ``catalog``.

    Checks, in order: the member set; ``catalog`` equals the catalog's version; the
    category exists; ``org`` is ``0x`` + 64 lowercase hex digits; ``subject`` is
    ``{"kind", "id"}`` with a known kind and an id already in normalised form whose check
    character is valid; ``fields`` conforms to the category's JSON Schema; identifier-typed
    fields (``$ref: #/$defs/uscc``) have valid check characters; the whole record is
    canonicalizable (RFC 8785 / I-JSON).

    Identifiers are never normalised here: the department signs the record as sent, so a
    record must arrive in its one canonical form.

    Raises:
        MalformedObject: wrong shape or encoding.
        CatalogVersionMismatch: a catalog version other than ``catalog.version``.
        UnknownCategory: no such category.
        InvalidIdentifier: the subject id (or an identifier field) is invalid.
        SchemaViolation: ``fields`` does not conform to the category schema.
        CanonicalizationError: a value outside the I-JSON domain.
    """
    doc = _object(obj, "", ("catalog", "category", "org", "subject", "fields"))
    version = _text(doc["catalog"], "/catalog")
    if version != catalog.version:
        raise CatalogVersionMismatch(version, expected=catalog.version)
    category = catalog.category(_text(doc["category"], "/category"))
    org = parse_hex(doc["org"], size=32, prefixed=True, pointer="/org")
    subject = _parse_subject(doc["subject"])
    fields = doc["fields"]
    if not isinstance(fields, Mapping):
        raise MalformedObject("/fields", "must be a JSON object")
    _validate_fields(category, fields)
    _check_identifier_fields(category, fields)
    fields_jcs = canonicalize(fields)
    return Record(version, category.code, org, subject, fields_jcs)


def _parse_subject(value: object) -> SubjectId:
    doc = _object(value, "/subject", ("kind", "id"))
    kind = doc["kind"]
    if kind not in _IDENTIFIER_DEFS.values():
        raise InvalidIdentifier(f"unknown subject kind {kind!r}", check="kind")
    raw = doc["id"]
    if not isinstance(raw, str):
        raise MalformedObject("/subject/id", "must be a string")
    return _normalised_identifier(cast(SubjectKind, kind), raw, "subject id")


def _normalised_identifier(kind: SubjectKind, raw: str, what: str) -> SubjectId:
    try:
        return _canonical_identifier(kind, raw)
    except InvalidIdentifier as exc:
        raise InvalidIdentifier(f"{what}: {exc}", check=exc.check) from None


@functools.lru_cache(maxsize=4096)
def _canonical_identifier(kind: SubjectKind, raw: str) -> SubjectId:
    """:func:`parse_canonical_subject_id`, remembered: a batch names the same authorities
    (and often the same subjects) over and over. Refusals are not cached (they raise)."""
    return parse_canonical_subject_id(raw, kind=kind)


@functools.lru_cache(maxsize=64)
def _schema_of(schema_json: str) -> Mapping[str, Any]:
    return cast(Mapping[str, Any], json.loads(schema_json))


@functools.lru_cache(maxsize=64)
def _compiled_schema(schema_json: str) -> jsonschema_rs.Validator:
    """The category schema compiled once (Rust, ``jsonschema_rs``; ``format`` asserted).
    Imported here, not at the top: verifiers import this module and never validate fields."""
    import jsonschema_rs

    return jsonschema_rs.validator_for(json.loads(schema_json), validate_formats=True)


def _validate_fields(category: Category, fields: Mapping[str, object]) -> None:
    """:meth:`Category.validate_fields`, at compiled speed on the accepting path.

    The compiled schema answers first; only when it refuses (or cannot take the value, e.g.
    a non-finite float) does the catalog's own validator run — it is the reference, and it
    names the first error in its fixed order. So the compiled schema can only make the check
    faster, never looser than the reference on what it refuses; ``tests/unit/
    test_records.py`` checks that it accepts nothing the reference refuses.
    """
    try:
        if _compiled_schema(category.schema_json).is_valid(fields):
            return
    except (ValueError, TypeError, OverflowError):
        pass
    category.validate_fields(fields)


_IdentifierPlan: TypeAlias = tuple[
    tuple[tuple[str, SubjectKind], ...], tuple[tuple[str, Mapping[str, Any]], ...]
]


@functools.lru_cache(maxsize=64)
def _identifier_plan(schema_json: str) -> _IdentifierPlan | None:
    """Where a category's identifier-typed fields are, found once: top-level members whose
    schema is exactly an identifier ``$ref`` (checked directly) and other top-level members
    that reach one (walked). ``None`` when the schema's root itself reaches one (walk it all).
    """
    schema = _schema_of(schema_json)
    defs: Mapping[str, Any] = schema.get("$defs", {})
    properties = schema.get("properties")
    rest = {k: v for k, v in schema.items() if k not in ("properties", "$defs")}
    if not isinstance(properties, Mapping) or _mentions_identifier(rest, defs):
        return None
    direct: list[tuple[str, SubjectKind]] = []
    nested: list[tuple[str, Mapping[str, Any]]] = []
    for name, sub in properties.items():
        if not isinstance(sub, Mapping) or not _mentions_identifier(sub, defs):
            continue
        ref = sub.get("$ref")
        target = ref.removeprefix(_REF_PREFIX) if isinstance(ref, str) else ""
        kind = _IDENTIFIER_DEFS.get(target) if ref == _REF_PREFIX + target else None
        others = {k: v for k, v in sub.items() if k != "$ref"}
        if (
            kind is not None
            and not _mentions_identifier(others, defs)
            and not _mentions_identifier(defs.get(target), defs)
        ):
            direct.append((name, kind))
        else:
            nested.append((name, sub))
    return tuple(direct), tuple(nested)


def _check_identifier_fields(category: Category, fields: Mapping[str, object]) -> None:
    """Validate check characters of fields typed ``#/$defs/uscc`` (or ``resident_id``).

    The JSON Schema only checks their shape; the catalog promises the gateway checks the
    check character.
    """
    schema = _schema_of(category.schema_json)
    defs: Mapping[str, Any] = schema.get("$defs", {})
    plan = _identifier_plan(category.schema_json)
    if plan is None:
        _walk_identifiers(schema, defs, fields, ())
        return
    direct, nested = plan
    for name, kind in direct:
        value = fields.get(name)
        if isinstance(value, str):
            _normalised_identifier(kind, value, f"fields{_ptr(name)}")
    for name, sub in nested:
        if name in fields:
            _walk_identifiers(sub, defs, fields[name], (name,))


def _mentions_identifier(
    node: object, defs: Mapping[str, Any], seen: frozenset[str] = frozenset()
) -> bool:
    """Whether an identifier ``$ref`` is reachable from schema ``node``."""
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
            name = ref.removeprefix(_REF_PREFIX)
            if name in _IDENTIFIER_DEFS:
                return True
            if name not in seen and _mentions_identifier(defs.get(name), defs, seen | {name}):
                return True
        return any(_mentions_identifier(v, defs, seen) for v in node.values())
    if isinstance(node, list):
        return any(_mentions_identifier(v, defs, seen) for v in node)
    return False


_IDENTIFIER_FREE: dict[int, tuple[object, bool]] = {}
"""id(schema node) -> (the node, no identifier reachable from it). Holding the node keeps its
id from being reused while the entry exists."""


def _walk_identifiers(
    node: object, defs: Mapping[str, Any], value: object, path: tuple[str | int, ...]
) -> None:
    if not isinstance(node, Mapping):
        return
    memo = _IDENTIFIER_FREE.get(id(node))
    if memo is None:
        memo = _IDENTIFIER_FREE[id(node)] = (node, not _mentions_identifier(node, defs))
    if memo[1]:
        return
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
        name = ref.removeprefix(_REF_PREFIX)
        kind = _IDENTIFIER_DEFS.get(name)
        if kind is not None and isinstance(value, str):
            _normalised_identifier(kind, value, f"fields{_ptr(*path)}")
        _walk_identifiers(defs.get(name), defs, value, path)
    if isinstance(value, Mapping):
        properties = node.get("properties", {})
        extra = node.get("additionalProperties")
        for key, member in value.items():
            sub = properties.get(key, extra) if isinstance(properties, Mapping) else extra
            _walk_identifiers(sub, defs, member, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk_identifiers(node.get("items"), defs, item, (*path, index))


def commitment(record: Record | Mapping[str, object], salt: bytes) -> bytes:
    """Record commitment ``SHA-256(salt || JCS(record))`` (formats.md §2).

    ``record`` is a validated :class:`Record` or a raw §2 JSON object (as a client or a
    verifier holds it).

    Raises:
        ValueError: ``salt`` is not 32 bytes.
        CanonicalizationError: a raw record outside the I-JSON domain.
    """
    canonical = record.canonical() if isinstance(record, Record) else canonicalize(record)
    return record_commitment(salt, canonical)


# ---------------------------------------------------------------------------------------
# §3 batches


def _check_batch(commitments: Sequence[bytes]) -> None:
    if not commitments:
        raise ValueError("a batch holds at least one record")
    if len(commitments) > _UINT32:
        raise ValueError("a batch holds at most 2**32 - 1 records")
    for c in commitments:
        _check_bytes(c, 32, "a commitment")


def _batch_tree(commitments: Sequence[bytes]) -> MemoryTree:
    _check_batch(commitments)
    return MemoryTree(leaf_hash(c) for c in commitments)


def _batch_levels(commitments: Sequence[bytes]) -> list[list[bytes]]:
    """The batch tree bottom-up: ``levels[0]`` the leaf hashes, each next level the pairs of
    the one below with an unpaired last node carried up unchanged — the same tree as RFC 9162's
    split at the largest power of two below ``n``; ``levels[-1][0]`` is the root."""
    _check_batch(commitments)
    sha256 = hashlib.sha256
    level = [sha256(b"\x00" + c).digest() for c in commitments]
    levels = [level]
    while len(level) > 1:
        up = [
            sha256(b"\x01" + level[j] + level[j + 1]).digest() for j in range(0, len(level) - 1, 2)
        ]
        if len(level) & 1:
            up.append(level[-1])
        levels.append(up)
        level = up
    return levels


def _path_texts(levels: list[list[bytes]]) -> list[bytes]:
    """The JSON array of every leaf's inclusion path (``["<hex>",…]``, leaf to root), built
    top-down so that leaves share the text of their common upper path."""
    above = [b""]  # per node of the level above: its path's elements, each ',"<hex>"'
    for level in reversed(levels[:-1]):
        n = len(level)
        above = [
            (b',"' + hexlify(level[j ^ 1]) + b'"' if j ^ 1 < n else b"") + above[j >> 1]
            for j in range(n)
        ]
    return [b"[" + tail[1:] + b"]" for tail in above]


def batch_root(commitments: Sequence[bytes]) -> bytes:
    """RFC 9162 tree head over the commitments in order, each as a leaf
    (``MTH(leaf_i = SHA-256(0x00 || commitment_i))``).

    Raises:
        ValueError: an empty batch or a commitment that is not 32 bytes.
    """
    return _batch_levels(commitments)[-1][0]


def batch_paths(commitments: Sequence[bytes]) -> list[list[bytes]]:
    """The inclusion path of every commitment in the batch tree (one tree build)."""
    tree = _batch_tree(commitments)
    return all_inclusion_proofs(tree.levels[0])


def batch_path(commitments: Sequence[bytes], index: int) -> list[bytes]:
    """RFC 9162 inclusion path of ``commitments[index]`` in the batch tree.

    Raises:
        ValueError: an empty batch, a bad commitment, or ``index`` out of range.
    """
    tree = _batch_tree(commitments)
    if not 0 <= index < tree.size:
        raise ValueError(f"index {index} is outside a batch of {tree.size}")
    return tree.inclusion_proof(index)


def verify_batch_path(
    commitment: bytes, index: int, count: int, path: Sequence[bytes], root: bytes
) -> bool:
    """Does ``path`` show ``commitment`` at ``index`` of a batch of ``count`` with ``root``?"""
    if not isinstance(commitment, bytes) or len(commitment) != 32:
        return False
    return verify_inclusion(leaf_hash(commitment), index, count, list(path), root)


# ---------------------------------------------------------------------------------------
# §3-§5 department signatures


@dataclass(frozen=True, slots=True)
class BatchPosition:
    """Where one record sits in a signed batch: the batch root and count the department
    signed, the record's index and its RFC 9162 inclusion path."""

    root: bytes
    count: int
    index: int
    path: tuple[bytes, ...]

    def __post_init__(self) -> None:
        _check_bytes(self.root, 32, "batch root")
        _check_uint(self.count, _UINT32, "batch count")
        if self.count < 1:
            raise ValueError("batch count must be at least 1")
        _check_uint(self.index, self.count - 1, "batch index")
        for node in self.path:
            _check_bytes(node, 32, "a batch path node")

    def to_json(self) -> dict[str, Any]:
        return {
            "root": self.root.hex(),
            "count": self.count,
            "index": self.index,
            "path": [p.hex() for p in self.path],
        }


@dataclass(frozen=True, slots=True)
class DepartmentSignature:
    """A department's EIP-712 signature as a leaf entry carries it (formats.md §5)."""

    type: SignatureType
    signed_at: int
    nonce: bytes
    value: bytes = field(repr=False)
    batch: BatchPosition | None = None

    def __post_init__(self) -> None:
        if self.type not in ("CreditRecord", "CreditRecordBatch"):
            raise ValueError(f"unknown signature type {self.type!r}")
        if (self.type == "CreditRecordBatch") != (self.batch is not None):
            raise ValueError("a batch position goes with CreditRecordBatch, and only with it")
        _check_uint(self.signed_at, _UINT64, "signed_at")
        _check_bytes(self.nonce, 32, "nonce")
        if not isinstance(self.value, bytes):
            raise ValueError("signature value must be bytes")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "scheme": SIGNATURE_SCHEME,
            "type": self.type,
            "signed_at": self.signed_at,
            "nonce": hex0x(self.nonce),
            "value": hex0x(self.value),
        }
        if self.batch is not None:
            out["batch"] = self.batch.to_json()
        return out


def department_message(
    sig: DepartmentSignature, *, org: bytes, category: str, commitment: bytes
) -> dict[str, object]:
    """The EIP-712 message ``sig`` covers for a record with ``category`` and ``commitment``.

    ``CreditRecord`` covers the record directly; ``CreditRecordBatch`` covers the batch
    root and count (the record is bound by its path, see :func:`department_signer`).
    """
    if sig.batch is None:
        return {
            "org": org,
            "category": category,
            "commitment": commitment,
            "signedAt": sig.signed_at,
            "nonce": sig.nonce,
        }
    return {
        "org": org,
        "root": sig.batch.root,
        "count": sig.batch.count,
        "signedAt": sig.signed_at,
        "nonce": sig.nonce,
    }


def department_signer(
    domain: SigningDomain,
    sig: DepartmentSignature,
    *,
    org: bytes,
    category: str,
    commitment: bytes,
) -> str:
    """Recover the address that signed the record with ``commitment`` (formats.md §3).

    For a batch, first checks that the batch path leads from the commitment to the signed
    root. The caller compares the result with ``Membership.keysAt(org, signed_at).signer``.

    Raises:
        BadSignature: malformed signature, or a batch path that does not lead to the root.
    """
    if sig.batch is not None:
        b = sig.batch
        if not verify_batch_path(commitment, b.index, b.count, b.path, b.root):
            raise BadSignature("the batch path does not lead from the commitment to the root")
    message = department_message(sig, org=org, category=category, commitment=commitment)
    return fast_recover_typed(domain, sig.type, message, sig.value)


def _parse_department_signature(value: object, pointer: str) -> DepartmentSignature:
    doc = _object(value, pointer, ("scheme", "type", "signed_at", "nonce", "value"), ("batch",))
    if doc["scheme"] != SIGNATURE_SCHEME:
        raise MalformedObject(_join(pointer, "scheme"), f"must be {SIGNATURE_SCHEME!r}")
    sig_type = doc["type"]
    if sig_type not in ("CreditRecord", "CreditRecordBatch"):
        raise MalformedObject(
            _join(pointer, "type"), "must be 'CreditRecord' or 'CreditRecordBatch'"
        )
    signed_at = _uint(doc["signed_at"], _join(pointer, "signed_at"), _UINT64)
    nonce = parse_hex(doc["nonce"], size=32, prefixed=True, pointer=_join(pointer, "nonce"))
    signature = parse_hex(doc["value"], size=None, prefixed=True, pointer=_join(pointer, "value"))
    batch: BatchPosition | None = None
    if sig_type == "CreditRecordBatch":
        if "batch" not in doc:
            raise MalformedObject(_join(pointer, "batch"), "required for CreditRecordBatch")
        batch = _parse_batch(doc["batch"], _join(pointer, "batch"))
    elif "batch" in doc:
        raise MalformedObject(_join(pointer, "batch"), "only allowed for CreditRecordBatch")
    return DepartmentSignature(sig_type, signed_at, nonce, signature, batch)


def _parse_batch(value: object, pointer: str) -> BatchPosition:
    doc = _object(value, pointer, ("root", "count", "index", "path"))
    root = parse_hex(doc["root"], size=32, prefixed=False, pointer=_join(pointer, "root"))
    count = _uint(doc["count"], _join(pointer, "count"), _UINT32)
    if count < 1:
        raise MalformedObject(_join(pointer, "count"), "must be at least 1")
    index = _uint(doc["index"], _join(pointer, "index"), _UINT32)
    if index >= count:
        raise MalformedObject(_join(pointer, "index"), "must be less than count")
    raw_path = doc["path"]
    if not isinstance(raw_path, list) or len(raw_path) > 64:
        raise MalformedObject(_join(pointer, "path"), "must be an array of at most 64 hashes")
    path = tuple(
        parse_hex(p, size=32, prefixed=False, pointer=_join(pointer, "path", i))
        for i, p in enumerate(raw_path)
    )
    return BatchPosition(root, count, index, path)


# ---------------------------------------------------------------------------------------
# §5 leaf entries


def subject_tag(pepper: bytes, record_commitment: bytes, subject_commitment: bytes) -> bytes:
    """The unlinkable subject tag of a version-2 leaf entry (formats.md §5):
    ``HMAC-SHA256(pepper, "creditchain/record-subject/v1" || record commitment || subject
    commitment)``.

    The record commitment is unique per record (it hashes a fresh random salt), so two
    records of one subject carry unrelated tags; only holders of the network pepper can
    recompute a tag from a subject id.
    """
    _check_bytes(record_commitment, 32, "record commitment")
    _check_bytes(subject_commitment, 32, "subject commitment")
    message = _SUBJECT_TAG_PREFIX + record_commitment + subject_commitment
    return hmac.digest(pepper, message, "sha256")


@dataclass(frozen=True, slots=True)
class LeafEntry:
    """A records-log leaf entry (formats.md §5). It carries no identifier in the clear.

    ``subject`` is, in a version-2 entry (member ``subject_tag``), the unlinkable
    :func:`subject_tag`; in a version-1 entry (member ``subject``), the peppered subject
    commitment itself. :meth:`names_subject` checks either against a subject commitment.
    """

    org: bytes
    category: str
    subject: bytes
    commitment: bytes
    sig: DepartmentSignature
    received_at: int
    v: int = LEAF_VERSION

    def __post_init__(self) -> None:
        _check_bytes(self.org, 32, "org id")
        if not isinstance(self.category, str) or not self.category:
            raise ValueError("category must be a non-empty str")
        _check_bytes(self.subject, 32, "subject commitment")
        _check_bytes(self.commitment, 32, "record commitment")
        _check_uint(self.received_at, _UINT64, "received_at")
        if self.v not in LEAF_VERSIONS:
            raise ValueError(f"leaf entry version must be one of {LEAF_VERSIONS}")

    def names_subject(self, pepper: bytes, subject_commitment: bytes) -> bool:
        """Whether this entry is about the subject with commitment ``subject_commitment``."""
        if self.v == 1:
            return hmac.compare_digest(self.subject, subject_commitment)
        expected = subject_tag(pepper, self.commitment, subject_commitment)
        return hmac.compare_digest(self.subject, expected)

    def to_json(self) -> dict[str, Any]:
        return {
            "v": self.v,
            "kind": "record",
            "org": hex0x(self.org),
            "category": self.category,
            "subject" if self.v == 1 else "subject_tag": self.subject.hex(),
            "commitment": self.commitment.hex(),
            "sig": self.sig.to_json(),
            "received_at": self.received_at,
        }

    def canonical(self) -> bytes:
        """JCS of the entry: the bytes the records log hashes as this leaf."""
        return canonicalize(self.to_json())

    @property
    def leaf_hash(self) -> bytes:
        """``SHA-256(0x00 || JCS(entry))``; its hex is the record id."""
        return leaf_hash(self.canonical())


def make_leaf_entry(
    *,
    org: bytes,
    category: str,
    subject_commitment: bytes,
    commitment: bytes,
    signature: DepartmentSignature,
    received_at: int,
    pepper: bytes,
) -> dict[str, Any]:
    """Build the §5 (version 2) leaf entry of an accepted record as a JSON object: the subject
    appears only as its :func:`subject_tag`.

    Raises:
        ValueError: a value of the wrong size or out of range.
    """
    tag = subject_tag(pepper, commitment, subject_commitment)
    return LeafEntry(org, category, tag, commitment, signature, received_at).to_json()


def parse_leaf_entry(obj: object) -> LeafEntry:
    """Parse a §5 leaf entry strictly (exact members, lowercase hex, integer ranges): version 2
    (``subject_tag``) or version 1 (``subject``, the plain subject commitment).

    Raises:
        MalformedObject: naming the offending member.
    """
    version = obj.get("v") if isinstance(obj, Mapping) else None
    subject_member = "subject" if type(version) is int and version == 1 else "subject_tag"
    doc = _object(
        obj,
        "",
        ("v", "kind", "org", "category", subject_member, "commitment", "sig", "received_at"),
    )
    if type(doc["v"]) is not int or doc["v"] not in LEAF_VERSIONS:
        raise MalformedObject("/v", f"unsupported leaf entry version (expected {LEAF_VERSIONS})")
    if doc["kind"] != "record":
        raise MalformedObject("/kind", "must be 'record'")
    return LeafEntry(
        org=parse_hex(doc["org"], size=32, prefixed=True, pointer="/org"),
        category=_text(doc["category"], "/category"),
        subject=parse_hex(
            doc[subject_member], size=32, prefixed=False, pointer="/" + subject_member
        ),
        commitment=parse_hex(doc["commitment"], size=32, prefixed=False, pointer="/commitment"),
        sig=_parse_department_signature(doc["sig"], "/sig"),
        received_at=_uint(doc["received_at"], "/received_at", _UINT64),
        v=doc["v"],
    )


def leaf_bytes(entry: Mapping[str, object]) -> bytes:
    """The bytes the records log hashes for ``entry``: its RFC 8785 canonical JSON."""
    return canonicalize(entry)


def leaf_entries(
    sub: Submission,
    subject_commitments: Sequence[bytes],
    *,
    received_at: int,
    pepper: bytes,
) -> list[bytes]:
    """The JCS bytes of every record's version-2 leaf entry, in record order, built in one
    pass: equal to ``leaf_bytes(make_leaf_entry(...))`` with ``sub.leaf_signatures()[i]`` for
    each record ``i`` (the batch tree built once, the members every entry shares encoded
    once; every value here is hex, a catalog code or an integer, so JCS is the plain text).

    Raises:
        ValueError: ``subject_commitments`` does not match the records, or a value is out of
            range.
    """
    records = sub.records
    if len(subject_commitments) != len(records):
        raise ValueError("one subject commitment per record")
    _check_uint(received_at, _UINT64, "received_at")
    _check_uint(sub.signed_at, _UINT64, "signed_at")
    _check_bytes(sub.nonce, 32, "nonce")
    _check_bytes(sub.org, 32, "org id")
    shared = (
        b'","kind":"record","org":"'
        + hex0x(sub.org).encode("ascii")
        + b'","received_at":'
        + str(received_at).encode("ascii")
        + b',"sig":{'
    )
    sig_tail = (
        b'"nonce":"'
        + hex0x(sub.nonce).encode("ascii")
        + b'","scheme":"'
        + SIGNATURE_SCHEME.encode("ascii")
        + b'","signed_at":'
        + str(sub.signed_at).encode("ascii")
        + b',"type":"'
        + sub.type.encode("ascii")
        + b'","value":"'
        + hex0x(sub.signature).encode("ascii")
        + b'"},"subject_tag":"'
    )
    categories: dict[str, bytes] = {}
    if sub.type == "CreditRecord":
        batch: list[bytes] = [b""]
    else:
        levels = _batch_levels(sub.commitments)
        root = hexlify(levels[-1][0])
        count = str(len(records)).encode("ascii")
        batch = [
            b'"batch":{"count":'
            + count
            + b',"index":'
            + str(i).encode("ascii")
            + b',"path":'
            + path
            + b',"root":"'
            + root
            + b'"},'
            for i, path in enumerate(_path_texts(levels))
        ]
    out = []
    for r, subject, position in zip(records, subject_commitments, batch, strict=True):
        category = r.record.category
        head = categories.get(category)
        if head is None:
            if not isinstance(category, str) or not category:
                raise ValueError("category must be a non-empty str")
            head = categories[category] = (
                b'{"category":' + canonicalize(category) + b',"commitment":"'
            )
        commitment = r.commitment
        if len(subject) != 32:
            raise ValueError("subject commitment must be exactly 32 bytes")
        tag = hmac.digest(pepper, _SUBJECT_TAG_PREFIX + commitment + subject, "sha256")
        out.append(
            head
            + hexlify(commitment)
            + shared
            + position
            + sig_tail
            + hexlify(tag)
            + b'","v":'
            + _LEAF_V
            + b"}"
        )
    return out


def record_id(entry_bytes: bytes) -> str:
    """The record id: hex of the leaf hash ``SHA-256(0x00 || entry_bytes)``."""
    return leaf_hash(entry_bytes).hex()


# ---------------------------------------------------------------------------------------
# §6 receipts


def receipt_message(
    *, log_id: bytes, index: int, leaf_hash: bytes, received_at: int, anchor_by: int
) -> dict[str, object]:
    """The EIP-712 ``Receipt`` message (formats.md §3)."""
    return {
        "logId": log_id,
        "index": index,
        "leafHash": leaf_hash,
        "receivedAt": received_at,
        "anchorBy": anchor_by,
    }


@dataclass(frozen=True, slots=True)
class Receipt:
    """A gateway's signed promise that a leaf was appended and will be anchored by
    ``anchor_by`` (formats.md §6)."""

    log_id: bytes
    index: int
    leaf_hash: bytes
    received_at: int
    anchor_by: int
    gateway: bytes
    signature: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _check_bytes(self.log_id, 32, "log id")
        _check_uint(self.index, _UINT64, "index")
        _check_bytes(self.leaf_hash, 32, "leaf hash")
        _check_uint(self.received_at, _UINT64, "received_at")
        _check_uint(self.anchor_by, _UINT64, "anchor_by")
        _check_bytes(self.gateway, 32, "gateway org id")
        if not isinstance(self.signature, bytes):
            raise ValueError("signature must be bytes")

    def message(self) -> dict[str, object]:
        """The EIP-712 ``Receipt`` message this receipt's signature covers."""
        return receipt_message(
            log_id=self.log_id,
            index=self.index,
            leaf_hash=self.leaf_hash,
            received_at=self.received_at,
            anchor_by=self.anchor_by,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "log_id": hex0x(self.log_id),
            "index": self.index,
            "leaf_hash": self.leaf_hash.hex(),
            "received_at": self.received_at,
            "anchor_by": self.anchor_by,
            "gateway": hex0x(self.gateway),
            "signature": hex0x(self.signature),
        }


def make_receipt(
    *,
    log_id: bytes,
    index: int,
    leaf_hash: bytes,
    received_at: int,
    anchor_by: int,
    gateway: bytes,
    sign: TypedSigner,
) -> Receipt:
    """Sign and return the receipt for the leaf at ``index`` of log ``log_id``.

    ``sign`` signs with the gateway org's current signing key in the network's domain
    (e.g. ``typed_signer(key, domain)``).

    Raises:
        ValueError: a value of the wrong size or out of range, or ``anchor_by`` earlier
            than ``received_at``.
    """
    if isinstance(anchor_by, int) and isinstance(received_at, int) and anchor_by < received_at:
        raise ValueError("anchor_by must not be earlier than received_at")
    unsigned = Receipt(log_id, index, leaf_hash, received_at, anchor_by, gateway, b"")
    return Receipt(
        log_id,
        index,
        leaf_hash,
        received_at,
        anchor_by,
        gateway,
        sign("Receipt", unsigned.message()),
    )


def parse_receipt(obj: object) -> Receipt:
    """Parse a §6 receipt strictly.

    Raises:
        MalformedObject: naming the offending member.
    """
    doc = _object(
        obj,
        "",
        ("log_id", "index", "leaf_hash", "received_at", "anchor_by", "gateway", "signature"),
    )
    return Receipt(
        log_id=parse_hex(doc["log_id"], size=32, prefixed=True, pointer="/log_id"),
        index=_uint(doc["index"], "/index", _UINT64),
        leaf_hash=parse_hex(doc["leaf_hash"], size=32, prefixed=False, pointer="/leaf_hash"),
        received_at=_uint(doc["received_at"], "/received_at", _UINT64),
        anchor_by=_uint(doc["anchor_by"], "/anchor_by", _UINT64),
        gateway=parse_hex(doc["gateway"], size=32, prefixed=True, pointer="/gateway"),
        signature=parse_hex(doc["signature"], size=None, prefixed=True, pointer="/signature"),
    )


def receipt_signer(receipt: Receipt, domain: SigningDomain) -> str:
    """Recover the address that signed ``receipt``; compare it with the gateway org's
    signer at ``received_at`` (``Membership.keysAt(gateway, received_at).signer``).

    Raises:
        BadSignature: the signature is malformed.
    """
    return fast_recover_typed(domain, "Receipt", receipt.message(), receipt.signature)


# ---------------------------------------------------------------------------------------
# §4 submissions


@dataclass(frozen=True, slots=True)
class SubmittedRecord:
    """One record of a submission with its salt and commitment."""

    record: Record
    salt: bytes = field(repr=False)
    commitment: bytes
    fields: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)
    """The record's ``fields`` as parsed from the submission (validated; read, never
    modified), so that the gateway need not decode :attr:`Record.fields` again."""


@dataclass(frozen=True, slots=True)
class Submission:
    """A parsed ``POST /v1/records`` body (formats.md §4).

    The signature is not verified here (that needs the chain); :meth:`message` is what it
    must cover and :meth:`leaf_signature` what each record's leaf entry carries.
    """

    records: tuple[SubmittedRecord, ...]
    org: bytes
    type: SignatureType
    signed_at: int
    nonce: bytes
    signature: bytes = field(repr=False)

    @property
    def commitments(self) -> list[bytes]:
        return [r.commitment for r in self.records]

    def message(self) -> dict[str, object]:
        """The EIP-712 message the submission's signature must cover."""
        if self.type == "CreditRecord":
            only = self.records[0]
            return {
                "org": self.org,
                "category": only.record.category,
                "commitment": only.commitment,
                "signedAt": self.signed_at,
                "nonce": self.nonce,
            }
        return {
            "org": self.org,
            "root": batch_root(self.commitments),
            "count": len(self.records),
            "signedAt": self.signed_at,
            "nonce": self.nonce,
        }

    def signer(self, domain: SigningDomain) -> str:
        """Recover the submission's signer (compare with ``keysAt(org, signed_at)``).

        Raises:
            BadSignature: the signature is malformed.
        """
        return fast_recover_typed(domain, self.type, self.message(), self.signature)

    def leaf_signatures(self) -> list[DepartmentSignature]:
        """The ``sig`` of each record's leaf entry, in record order."""
        if self.type == "CreditRecord":
            return [DepartmentSignature("CreditRecord", self.signed_at, self.nonce, self.signature)]
        commitments = self.commitments
        root = batch_root(commitments)
        return [
            DepartmentSignature(
                "CreditRecordBatch",
                self.signed_at,
                self.nonce,
                self.signature,
                BatchPosition(root, len(commitments), i, tuple(path)),
            )
            for i, path in enumerate(batch_paths(commitments))
        ]


def parse_submission(
    body: object, catalog: Catalog, *, max_records: int = MAX_BATCH_RECORDS
) -> Submission:
    """Parse and validate an untrusted submission body (formats.md §4).

    Every record is validated with :func:`parse_record` (errors from the ``i``-th record
    are re-raised unchanged; :class:`MalformedObject` pointers are prefixed with
    ``/records/i/record``) and must name the signing org.

    Raises:
        MalformedObject, CatalogVersionMismatch, UnknownCategory, InvalidIdentifier,
        SchemaViolation, CanonicalizationError: see :func:`parse_record`.
        BadSignature: the signature value is not a canonical 65-byte signature.
    """
    doc = _object(body, "", ("records", "signature"))
    items = doc["records"]
    if not isinstance(items, list) or not items:
        raise MalformedObject("/records", "must be a non-empty array")
    if len(items) > max_records:
        raise MalformedObject("/records", f"at most {max_records} records per submission")
    sig = _object(
        doc["signature"], "/signature", ("scheme", "type", "org", "signed_at", "nonce", "value")
    )
    if sig["scheme"] != SIGNATURE_SCHEME:
        raise MalformedObject("/signature/scheme", f"must be {SIGNATURE_SCHEME!r}")
    sig_type = sig["type"]
    if sig_type == "CreditRecord":
        if len(items) != 1:
            raise MalformedObject("/signature/type", "CreditRecord signs exactly one record")
    elif sig_type != "CreditRecordBatch":
        raise MalformedObject("/signature/type", "must be 'CreditRecord' or 'CreditRecordBatch'")
    org = parse_hex(sig["org"], size=32, prefixed=True, pointer="/signature/org")
    signed_at = _uint(sig["signed_at"], "/signature/signed_at", _UINT64)
    nonce = parse_hex(sig["nonce"], size=32, prefixed=True, pointer="/signature/nonce")
    value = parse_hex(sig["value"], size=65, prefixed=True, pointer="/signature/value")
    check_signature_encoding(value)
    records: list[SubmittedRecord] = []
    for i, item in enumerate(items):
        entry = _object(item, _ptr("records", i), ("record", "salt"))
        salt = parse_hex(
            entry["salt"], size=SALT_BYTES, prefixed=False, pointer=_ptr("records", i, "salt")
        )
        try:
            record = parse_record(entry["record"], catalog)
        except MalformedObject as exc:
            raise MalformedObject(_ptr("records", i, "record") + exc.pointer, exc.reason) from None
        if record.org != org:
            raise MalformedObject(
                _ptr("records", i, "record", "org"), "must equal the signing org (/signature/org)"
            )
        fields = entry["record"]["fields"]  # type: ignore[index]  # parse_record checked it
        records.append(SubmittedRecord(record, salt, commitment(record, salt), fields))
    return Submission(tuple(records), org, sig_type, signed_at, nonce, value)
