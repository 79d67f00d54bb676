"""JSON Schemas of request bodies, for the OpenAPI document (validation is done by the domain
parsers, which are stricter: canonical forms, check characters, catalog schemas). The signed
request types' schemas come from their declarations (gateway/domain/requests.py)."""

from __future__ import annotations

from typing import Any, Final

from gateway.domain.requests import (
    AuditQuery,
    LogRequest,
    OfficeRequest,
    ProofRequest,
    ReadRequest,
    SubjectQuery,
    SubjectRequest,
    Transition,
)

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

# the signed request types: generated from their one declaration (gateway/domain/requests.py)
PROOF_REQUEST_SCHEMA: Final = ProofRequest.schema()
READ_REQUEST_SCHEMA: Final = ReadRequest.schema()
SUBJECT_QUERY_SCHEMA: Final = SubjectQuery.schema()
SUBJECT_REQUEST_SCHEMA: Final = SubjectRequest.schema()
OFFICE_REQUEST_SCHEMA: Final = OfficeRequest.schema()
TRANSITION_SCHEMA: Final = Transition.schema()
AUDIT_QUERY_SCHEMA: Final = AuditQuery.schema()
LOG_REQUEST_SCHEMA: Final = LogRequest.schema()

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
