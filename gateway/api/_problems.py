"""The one place where errors become HTTP: RFC 9457 problem details with a stable ``type``.

Every error class of every package maps to a status here; the problem ``type`` is
``PROBLEM_BASE + <the error's code>``. Unexpected exceptions become a bare 500 problem: no
message, no stack trace leaves the gateway.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from gateway import errors as g
from gateway import verify as v
from gateway._reads import AccessDenied
from gateway.domain import errors as d
from gateway.store import LogCorrupted, StoreError
from node.errors import ChainUnavailable, NodeError

PROBLEM_BASE = "https://creditchain.example/problems/"
MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("creditchain.api")

# (error class, HTTP status, title) — the first matching class wins, so subclasses go first.
_TABLE: list[tuple[type[Exception], int, str]] = [
    (g.InvalidJson, 400, "Request body is not valid JSON"),
    (g.InvalidParameter, 400, "Invalid parameter"),
    (g.UnsupportedMediaType, 415, "Unsupported media type"),
    (g.MalformedRequest, 422, "Request has the wrong shape"),
    (d.MalformedObject, 422, "Request has the wrong shape"),
    (d.SchemaViolation, 422, "Record fields violate the category's schema"),
    (d.InvalidIdentifier, 422, "Invalid identifier"),
    (d.UnknownCategory, 422, "Unknown category"),
    (d.CatalogVersionMismatch, 422, "Catalog version mismatch"),
    (d.CanonicalizationError, 422, "Not representable as canonical JSON"),
    (d.BadSignature, 401, "Malformed signature"),
    (g.SignerMismatch, 401, "Signature is not the organisation's"),
    (g.UnknownOrg, 401, "Unknown organisation"),
    (g.StaleRequest, 401, "Signed timestamp outside the allowed window"),
    (g.Unauthenticated, 401, "A signed request is required"),
    (g.ReplayedRequest, 409, "Nonce already used"),
    (g.OrgSuspended, 403, "Organisation suspended"),
    (g.CrossCityRefused, 403, "Cross-city read refused"),
    (g.PartnerUnknown, 404, "No gateway listed for the city"),
    (g.PartnerTimeout, 504, "The partner city's gateway timed out"),
    (g.PartnerUnavailable, 502, "The partner city's gateway did not answer usefully"),
    (d.SealedOpenFailed, 400, "Sealed payload does not open"),
    (g.CategoryNotAllowed, 403, "Organisation may not submit this category"),
    (AccessDenied, 403, "Access denied"),
    (d.UnknownPurpose, 422, "Unknown purpose"),
    (g.Forbidden, 403, "Forbidden"),
    (g.PayloadTooLarge, 413, "Request body too large"),
    (g.BatchTooLarge, 413, "Too many records in one submission"),
    (g.RecordNotFound, 404, "Record not found"),
    (g.RepairNotFound, 404, "Repair application not found"),
    (g.StaleVersion, 409, "Record status changed since the transition was signed"),
    (g.NoOfficeKey, 503, "No credit-office key on this gateway"),
    (g.LogOutOfRange, 400, "Log range out of bounds"),
    (g.NotAnchoredYet, 409, "Not anchored yet"),
    (g.ChainDisagrees, 503, "Database and chain disagree"),
    (g.RecordUnverified, 409, "Record row does not match the records log"),
    (LogCorrupted, 500, "Log corrupted"),
    (ChainUnavailable, 503, "Chain unavailable"),
    (v.ChainQueryFailed, 503, "Chain could not answer"),
    (v.VerificationError, 422, "Bundle does not verify"),
]


# One problem type per kind of error: classes of the same kind share one ``type`` (their own
# ``code`` stays unique to the class). Gone: ``malformed-object`` (now ``malformed-request``),
# ``record-not-found`` and ``repair-not-found`` (now ``not-found``, as for an unknown path).
_KIND: dict[type[Exception], str] = {
    d.MalformedObject: g.MalformedRequest.code,
    g.RecordNotFound: "not-found",
    g.RepairNotFound: "not-found",
}


def problem(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"type": PROBLEM_BASE + code, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def to_problem(exc: Exception) -> JSONResponse:
    for cls, status, title in _TABLE:
        if isinstance(exc, cls):
            code = _KIND.get(cls) or str(getattr(exc, "code", "error"))
            extra_check = {"check": exc.check} if isinstance(exc, v.VerificationError) else {}
            extra: dict[str, Any] = dict(getattr(exc, "extra", {}) or {}) | extra_check
            pointer = getattr(exc, "pointer", None)
            if pointer is not None:
                extra.setdefault("pointer", pointer)
            detail = getattr(exc, "detail", None) or str(exc)
            return problem(status, code, title, detail, **extra)
    log.exception("unexpected error", exc_info=exc)
    return problem(500, "internal-error", "Internal error")


def _allowed_methods(request: Request) -> str:
    """The ``Allow`` header of a 405 (RFC 9110 §15.5.6): the methods of *every* route of the
    path — Starlette names only the first route's, and GET and POST of a path are two routes."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches(request.scope)
            if match is not Match.NONE:
                methods |= route.methods
    return ", ".join(sorted(methods))


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    async def known(_: Request, exc: Exception) -> JSONResponse:
        return to_problem(exc)

    for cls in (g.GatewayError, d.DomainError, NodeError, StoreError, v.VerifyError):
        app.add_exception_handler(cls, known)

    async def validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        where = "/".join(str(p) for p in first.get("loc", ()))
        detail = f"{where}: {first.get('msg', 'invalid')}"
        return problem(400, g.InvalidParameter.code, "Invalid parameter", detail)

    async def http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(request)
        return problem(exc.status_code, slug, str(exc.detail), headers=headers)

    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        return to_problem(exc)

    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http)
    app.add_exception_handler(Exception, unexpected)
