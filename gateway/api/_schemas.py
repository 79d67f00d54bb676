"""JSON Schemas of request bodies, for the OpenAPI document (validation is done by the domain
parsers, which are stricter: canonical forms, check characters, catalog schemas)."""

from __future__ import annotations

from typing import Any

_HEX32_0X = {"type": "string", "pattern": "^0x[0-9a-f]{64}$"}

SUBMISSION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["records", "signature"],
    "additionalProperties": False,
    "properties": {
        "records": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["record", "salt"],
                "additionalProperties": False,
                "properties": {
                    "record": {
                        "type": "object",
                        "required": ["catalog", "category", "org", "subject", "fields"],
                        "additionalProperties": False,
                        "properties": {
                            "catalog": {"type": "string"},
                            "category": {"type": "string"},
                            "org": _HEX32_0X,
                            "subject": {
                                "type": "object",
                                "required": ["kind", "id"],
                                "additionalProperties": False,
                                "properties": {
                                    "kind": {"enum": ["uscc", "resident_id"]},
                                    "id": {"type": "string"},
                                },
                            },
                            "fields": {"type": "object"},
                        },
                    },
                    "salt": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                },
            },
        },
        "signature": {
            "type": "object",
            "required": ["scheme", "type", "org", "signed_at", "nonce", "value"],
            "additionalProperties": False,
            "properties": {
                "scheme": {"const": "eip712-v1"},
                "type": {"enum": ["CreditRecord", "CreditRecordBatch"]},
                "org": _HEX32_0X,
                "signed_at": {"type": "integer", "minimum": 0},
                "nonce": _HEX32_0X,
                "value": {"type": "string", "pattern": "^0x[0-9a-f]{130}$"},
            },
        },
    },
}

PROOF_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["org", "signed_at", "nonce", "value"],
    "additionalProperties": False,
    "properties": {
        "org": _HEX32_0X,
        "signed_at": {"type": "integer", "minimum": 0},
        "nonce": _HEX32_0X,
        "value": {"type": "string", "pattern": "^0x[0-9a-f]{130}$"},
    },
}

_SUBJECT = {
    "type": "object",
    "required": ["kind", "id"],
    "additionalProperties": False,
    "properties": {"kind": {"enum": ["uscc", "resident_id"]}, "id": {"type": "string"}},
}
_SIG = {"type": "string", "pattern": "^0x[0-9a-f]{130}$"}

READ_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "requester",
        "subject",
        "subject_salt",
        "record_id",
        "purpose",
        "categories",
        "grant_id",
        "signed_at",
        "nonce",
        "signature",
    ],
    "additionalProperties": False,
    "properties": {
        "requester": _HEX32_0X,
        "subject": {"anyOf": [_SUBJECT, {"type": "null"}]},
        "subject_salt": {
            "anyOf": [{"type": "string", "pattern": "^[0-9a-f]{64}$"}, {"type": "null"}]
        },
        "record_id": {"anyOf": [{"type": "string", "pattern": "^[0-9a-f]{64}$"}, {"type": "null"}]},
        "purpose": {"type": "string"},
        "categories": {"type": "array", "minItems": 1, "items": {"type": "string"}},
        "grant_id": {"anyOf": [_HEX32_0X, {"type": "null"}]},
        "signed_at": {"type": "integer", "minimum": 0},
        "nonce": _HEX32_0X,
        "signature": _SIG,
    },
}

_SESSION: dict[str, Any] = {
    "type": "object",
    "description": "A credit office's SubjectSession certifying the request's signing key "
    "(docs/formats.md §9.1); absent when the key bound in Grants signs.",
    "required": ["issuer", "session_key", "subject_salt", "issued_at", "expires_at", "signature"],
    "additionalProperties": False,
    "properties": {
        "issuer": _HEX32_0X,
        "session_key": {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"},
        "subject_salt": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "issued_at": {"type": "integer", "minimum": 0},
        "expires_at": {"type": "integer", "minimum": 0},
        "signature": _SIG,
    },
}

SUBJECT_QUERY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["subject", "subject_salt", "signed_at", "nonce", "signature"],
    "additionalProperties": False,
    "properties": {
        "subject": _SUBJECT,
        "subject_salt": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "signed_at": {"type": "integer", "minimum": 0},
        "nonce": _HEX32_0X,
        "signature": _SIG,
        "session": _SESSION,
    },
}

SUBJECT_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["subject", "subject_salt", "details", "signed_at", "nonce", "signature"],
    "additionalProperties": False,
    "properties": {
        "subject": _SUBJECT,
        "subject_salt": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "details": {
            "type": "object",
            "required": ["reason"],
            "properties": {
                "reason": {"type": "string", "minLength": 1, "maxLength": 200},
                "evidence_hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            },
        },
        "signed_at": {"type": "integer", "minimum": 0},
        "nonce": _HEX32_0X,
        "signature": _SIG,
        "session": _SESSION,
    },
}

OFFICE_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["org", "details", "signed_at", "nonce", "signature"],
    "additionalProperties": False,
    "properties": {
        "org": _HEX32_0X,
        "details": {"type": "object"},
        "signed_at": {"type": "integer", "minimum": 0},
        "nonce": _HEX32_0X,
        "signature": _SIG,
    },
}

TRANSITION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "to",
        "successor",
        "reason",
        "reason_salt",
        "note",
        "note_salt",
        "actor",
        "version",
        "deadline",
        "signature",
    ],
    "additionalProperties": False,
    "properties": {
        "to": {"enum": ["active", "objected", "corrected", "repaired", "withdrawn", "erased"]},
        "successor": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
        "reason": {"type": "string", "minLength": 1, "maxLength": 200},
        "reason_salt": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "note": {"type": ["string", "null"]},
        "note_salt": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
        "actor": _HEX32_0X,
        "version": {"type": "integer", "minimum": 0, "maximum": 4294967295},
        "deadline": {"type": "integer", "minimum": 0},
        "signature": _SIG,
    },
}

AUDIT_QUERY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["auditor", "query", "signed_at", "nonce", "signature"],
    "additionalProperties": False,
    "properties": {
        "auditor": _HEX32_0X,
        "query": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "subject": _SUBJECT,
                "requester": _HEX32_0X,
                "record": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "since": {"type": "integer", "minimum": 0},
                "until": {"type": "integer", "minimum": 0},
            },
        },
        "signed_at": {"type": "integer", "minimum": 0},
        "nonce": _HEX32_0X,
        "signature": _SIG,
    },
}

LOG_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A signed LogRequest (formats §9.2): the action is the route's",
    "required": ["org", "start", "end", "signed_at", "nonce", "signature"],
    "additionalProperties": False,
    "properties": {
        "org": _HEX32_0X,
        "start": {"type": "integer", "minimum": 0},
        "end": {"type": "integer", "minimum": 1},
        "signed_at": {"type": "integer", "minimum": 0},
        "nonce": _HEX32_0X,
        "signature": _SIG,
    },
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; ``type`` is stable per error (docs/formats.md §4). "
    "Some problems carry more members (``pointer``, ``check``, ``reason``, ``access_receipt``).",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {
            "type": "string",
            "pattern": "^https://creditchain\\.example/problems/[a-z0-9-]+$",
        },
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "pointer": {"type": "string"},
    },
}
