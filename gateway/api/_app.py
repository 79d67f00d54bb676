"""Routes: thin adapters from HTTP to :class:`gateway._service.Gateway`.

Service calls block (database, chain, CPU): plain ``def`` routes run in the thread pool, and
``async`` routes (which read the raw body) hand the call to it with ``run_in_threadpool`` —
never on the event loop, where one request would stall every other."""

from __future__ import annotations

import os
import re
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BeforeValidator
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import errors as g
from gateway._access_index import index_document
from gateway._federation import Federation
from gateway._lifecycle import Lifecycle, relay_failed
from gateway._log_access import LogAccess, dumps_entries
from gateway._log_access import leaves as log_leaves
from gateway._reads import Reader
from gateway._service import Gateway
from gateway.api import _problems
from gateway.api._schemas import (
    AUDIT_QUERY_SCHEMA,
    LOG_REQUEST_SCHEMA,
    OFFICE_REQUEST_SCHEMA,
    PROBLEM_SCHEMA,
    PROOF_REQUEST_SCHEMA,
    READ_REQUEST_SCHEMA,
    SUBJECT_QUERY_SCHEMA,
    SUBJECT_REQUEST_SCHEMA,
    SUBMISSION_SCHEMA,
    TRANSITION_SCHEMA,
)
from gateway.ui import install as install_ui
from gateway.verify._endpoint import BundleVerifier

_DECIMAL = re.compile(r"0|[1-9][0-9]*")  # ASCII only: re's [0-9], not \d


def _canonical_integer(value: object) -> object:
    """A parameter's text must be the integer's one decimal form: ASCII digits, no sign, no
    leading zero, no fraction, exponent, spaces or underscores (``1.0``, ``+1``, ``01``, ``１``
    are refused rather than read as 1)."""
    if isinstance(value, str) and not _DECIMAL.fullmatch(value):
        raise ValueError("must be a decimal integer written canonically (digits 0-9 only)")
    return value


Canonical = BeforeValidator(_canonical_integer)
_MAX_INT = 2**63 - 1
_JSON_TYPE = re.compile(r'application/json(?:\s*;\s*charset\s*=\s*(?:utf-8|"utf-8"))?', re.I)


async def strict_request(request: Request) -> None:
    """Every route: no query parameter twice; a body only as ``application/json`` (optionally
    ``; charset=utf-8``) — the body is signed JSON, and another media type would be a different
    reading of the same bytes."""
    seen: set[str] = set()
    for key, _ in request.query_params.multi_items():
        if key in seen:
            raise g.InvalidParameter(f"query parameter {key!r} is given more than once")
        seen.add(key)
    if request.method in ("POST", "PUT", "PATCH"):
        given = request.headers.getlist("content-type")
        if len(given) != 1 or not _JSON_TYPE.fullmatch(given[0].strip()):
            shown = ", ".join(given) or "none"
            raise g.UnsupportedMediaType(
                f"the body must be sent as application/json (charset utf-8 only), not {shown}"
            )


RecordId = Annotated[
    str, Path(pattern=r"^(0x)?[0-9a-fA-F]{64}$", description="hex leaf hash of the record")
]
LogName = Annotated[str, Path(pattern=r"^(records|access)$")]


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {_problems.MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}},
    }


PROBLEMS: dict[int | str, dict[str, Any]] = {
    "4XX": _problem("the request was refused: an RFC 9457 problem"),
    "5XX": _problem("the gateway or the chain failed: an RFC 9457 problem"),
}
"""Every operation's error answers (declared for all routes; this also replaces FastAPI's
default ``application/json`` 422, which the problem handlers never send)."""


def _link(path: str, method: str, **parameters: str) -> dict[str, Any]:
    """An OpenAPI link to the operation ``method path``, its parameters taken from here."""
    pointer = path.replace("~", "~0").replace("/", "~1")
    return {"operationRef": f"#/paths/{pointer}/{method}", "parameters": parameters}


_FIRST_RECEIPT = "$response.body#/receipts/0/leaf_hash"
_RECEIPT_LINKS = {
    "receipt": _link("/v1/records/{record_id}/receipt", "get", record_id=_FIRST_RECEIPT),
    "proof": _link("/v1/records/{record_id}/proof", "get", record_id=_FIRST_RECEIPT),
    "opened_proof": _link("/v1/records/{record_id}/proof", "post", record_id=_FIRST_RECEIPT),
}
_LOG_LINKS = {
    "inclusion": _link(
        "/v1/logs/{log}/inclusion", "get", log="$request.path.log", size="$response.body#/size"
    ),
    "consistency": _link(
        "/v1/logs/{log}/consistency",
        "get",
        log="$request.path.log",
        second="$response.body#/size",
    ),
    "leaves": _link(
        "/v1/logs/{log}/leaves", "get", log="$request.path.log", end="$response.body#/size"
    ),
}


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with a 413 problem, streamed or not."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        too_big = _problems.problem(
            413, g.PayloadTooLarge.code, "Request body too large", f"at most {self.limit} bytes"
        )
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await too_big(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise g.PayloadTooLarge(f"at most {self.limit} bytes")
            return message

        await self.app(scope, limited, send)


def create_app(
    gateway: Gateway,
    reader: Reader | None = None,
    lifecycle: Lifecycle | None = None,
    *,
    max_body_bytes: int = 16 * 1024 * 1024,
    federation: Federation | None = None,
) -> FastAPI:
    app = FastAPI(
        title="creditchain gateway",
        version="1",
        description="Blockchain-witnessed, consent-gated sharing of public credit records. "
        "Wire formats: docs/formats.md. Errors are RFC 9457 problem details.",
        responses=PROBLEMS,
        dependencies=[Depends(strict_request)],
    )
    _problems.install(app)
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    app.state.gateway = gateway
    log_access = LogAccess(gateway)

    @app.get("/v1/health", tags=["service"])
    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "chain_id": gateway.chain.chain_id,
            "gateway": "0x" + gateway.gateway_org.hex(),
            "process": os.getpid(),  # which worker answered (serve --workers N)
            "relay_failed": relay_failed(gateway.engine),  # dead-lettered status transitions
        }

    @app.post(
        "/v1/records",
        status_code=201,
        tags=["records"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": SUBMISSION_SCHEMA}},
            }
        },
        responses={
            200: {
                "description": "every record was known already (idempotent)",
                "links": _RECEIPT_LINKS,
            },
            201: {
                "description": "accepted; one signed receipt per record",
                "links": _RECEIPT_LINKS,
            },
        },
    )
    async def submit(request: Request) -> JSONResponse:
        body = await request.body()
        result = await run_in_threadpool(gateway.submit, body)
        return JSONResponse(
            {"receipts": result.receipts}, status_code=201 if result.created else 200
        )

    @app.get("/v1/records/{record_id}/receipt", tags=["records"])
    def receipt(record_id: RecordId) -> dict[str, Any]:
        return gateway.receipt(record_id)

    @app.get(
        "/v1/records/{record_id}/proof",
        tags=["records"],
        responses={202: {"description": "in the log, not yet anchored"}},
    )
    def proof(record_id: RecordId) -> JSONResponse:
        try:
            return JSONResponse(gateway.proof(record_id, opening=False))
        except g.NotAnchoredYet as exc:
            return JSONResponse({"status": "pending", **exc.extra}, status_code=202)

    @app.post(
        "/v1/records/{record_id}/proof",
        tags=["records"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": PROOF_REQUEST_SCHEMA}},
            }
        },
        responses={202: {"description": "in the log, not yet anchored"}},
    )
    async def opened_proof(record_id: RecordId, request: Request) -> JSONResponse:
        body = await request.body()
        try:
            return JSONResponse(await run_in_threadpool(gateway.opened_proof, record_id, body))
        except g.NotAnchoredYet as exc:
            return JSONResponse({"status": "pending", **exc.extra}, status_code=202)

    verifier = BundleVerifier(gateway)

    @app.post(
        "/v1/verify",
        tags=["verify"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
        responses={
            200: {"description": "valid: the checks passed, the record's status"},
            422: _problem("invalid: the failing check is named (``check``)"),
        },
    )
    async def verify(request: Request) -> JSONResponse:
        # raw JSON-RPC and a cache of immutable chain answers (gateway/verify/_endpoint.py)
        answer = await run_in_threadpool(verifier.verify, await request.body())
        return JSONResponse(answer)

    if reader is not None:
        _read_routes(app, reader, max_body_bytes)
    if lifecycle is not None:
        _lifecycle_routes(app, lifecycle)
    if federation is not None:
        _federation_routes(app, federation)

    @app.get(
        "/v1/logs/{log}/checkpoint",
        tags=["logs"],
        responses={200: {"description": "the log's size and root", "links": _LOG_LINKS}},
    )
    def checkpoint(log: LogName) -> dict[str, Any]:
        return gateway.checkpoint(log)

    @app.get("/v1/logs/{log}/consistency", tags=["logs"])
    def consistency(
        log: LogName,
        first: Annotated[int, Query(ge=1, le=_MAX_INT), Canonical],
        second: Annotated[int, Query(ge=2, le=_MAX_INT), Canonical],
    ) -> dict[str, Any]:
        return gateway.consistency(log, first, second)

    @app.get("/v1/logs/{log}/inclusion", tags=["logs"])
    def inclusion(
        log: LogName,
        index: Annotated[int, Query(ge=0, le=_MAX_INT), Canonical],
        size: Annotated[int, Query(ge=1, le=_MAX_INT), Canonical],
    ) -> dict[str, Any]:
        return gateway.inclusion(log, index, size)

    @app.get("/v1/logs/{log}/leaves", tags=["logs"])
    def leaves(
        log: LogName,
        start: Annotated[int, Query(ge=0, le=_MAX_INT), Canonical],
        end: Annotated[int, Query(ge=1, le=_MAX_INT), Canonical],
        request: Request,
    ) -> Response:
        # Public: up to 10,000 leaf hashes, 32 bytes each with ``Accept:
        # application/octet-stream``, else hex in JSON (formats §9.2).
        got = log_leaves(gateway, log, start, end)
        if "application/octet-stream" in request.headers.get("accept", ""):
            return Response(b"".join(got), media_type="application/octet-stream")
        return JSONResponse({"log": log, "start": start, "leaves": [h.hex() for h in got]})

    @app.get("/v1/logs/{log}/entries", tags=["logs"])
    def entries_unsigned(log: LogName) -> Response:
        raise g.Unauthenticated(
            f"the {log} log's entries are served to a signed LogRequest: "
            f"POST /v1/logs/{log}/entries; its leaf hashes are public at /v1/logs/{log}/leaves"
        )

    @app.post("/v1/logs/{log}/entries", tags=["logs"], openapi_extra=_body(LOG_REQUEST_SCHEMA))
    async def entries(log: LogName, request: Request) -> Response:
        # Up to 10,000 entries per page, to a signed request (formats §9.2). With ``Accept:
        # application/jsonl`` an auditor gets the entries as stored, one per line (canonical
        # JSON has no raw newline): what it hashes, with no JSON re-encoding on either side.
        body = await request.body()
        start, got, whole = await run_in_threadpool(log_access.entries, log, body)
        if whole and "application/jsonl" in request.headers.get("accept", ""):
            raw = [e for e in got if e is not None]
            return Response(b"\n".join(raw) + b"\n", media_type="application/jsonl")
        return Response(dumps_entries(log, start, got), media_type="application/json")

    @app.post("/v1/logs/access/index", tags=["logs"], openapi_extra=_body(LOG_REQUEST_SCHEMA))
    async def access_index(request: Request) -> Response:
        rows = await run_in_threadpool(log_access.index, await request.body())
        return Response(index_document(rows), media_type="application/json")

    install_ui(app, gateway)  # the web UI at / (gateway/ui): static files, no /v1 route touched
    return app


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _lifecycle_routes(app: FastAPI, lc: Lifecycle) -> None:
    @app.post(
        "/v1/records/{record_id}/status",
        tags=["lifecycle"],
        openapi_extra=_body(TRANSITION_SCHEMA),
        responses={
            200: {"description": "logged, applied and relayed; the status leaf's receipt"},
            403: _problem("refused by the lifecycle rules (``reason``)"),
            409: _problem("signed for another status version"),
        },
    )
    async def transition(record_id: RecordId, request: Request) -> JSONResponse:
        body = await request.body()
        return JSONResponse(await run_in_threadpool(lc.transition, record_id, body))

    @app.get("/v1/records/{record_id}/status", tags=["lifecycle"])
    def record_status(record_id: RecordId) -> JSONResponse:
        return JSONResponse(lc.record_status(record_id))

    @app.get("/v1/records/{record_id}/erasure", tags=["lifecycle"])
    def erasure(record_id: RecordId) -> JSONResponse:
        return JSONResponse(lc.erasure_certificate(record_id))

    @app.post(
        "/v1/records/{record_id}/objections",
        tags=["lifecycle"],
        openapi_extra=_body(SUBJECT_REQUEST_SCHEMA),
        status_code=201,
    )
    async def objection(record_id: RecordId, request: Request) -> JSONResponse:
        body = await request.body()
        result = await run_in_threadpool(lc.file_objection, record_id, body)
        return JSONResponse(result, status_code=201)

    @app.post(
        "/v1/records/{record_id}/repairs",
        tags=["lifecycle"],
        openapi_extra=_body(SUBJECT_REQUEST_SCHEMA),
        status_code=201,
    )
    async def repair(record_id: RecordId, request: Request) -> JSONResponse:
        body = await request.body()
        result = await run_in_threadpool(lc.apply_repair, record_id, body)
        return JSONResponse(result, status_code=201)

    @app.post(
        "/v1/records/{record_id}/hold",
        tags=["lifecycle"],
        openapi_extra=_body(OFFICE_REQUEST_SCHEMA),
    )
    async def hold(record_id: RecordId, request: Request) -> JSONResponse:
        body = await request.body()
        return JSONResponse(await run_in_threadpool(lc.set_hold, record_id, body))

    @app.post(
        "/v1/repairs/{repair_id}/rejection",
        tags=["lifecycle"],
        openapi_extra=_body(OFFICE_REQUEST_SCHEMA),
    )
    async def reject_repair(
        repair_id: Annotated[int, Path(ge=1, le=_MAX_INT), Canonical], request: Request
    ) -> JSONResponse:
        body = await request.body()
        return JSONResponse(await run_in_threadpool(lc.reject_repair, repair_id, body))

    @app.post(
        "/v1/records/{record_id}/status/texts",
        tags=["lifecycle"],
        openapi_extra=_body(OFFICE_REQUEST_SCHEMA),
    )
    async def status_texts(record_id: RecordId, request: Request) -> JSONResponse:
        body = await request.body()
        return JSONResponse(await run_in_threadpool(lc.status_texts, record_id, body))

    @app.post(
        "/v1/objections/query", tags=["lifecycle"], openapi_extra=_body(OFFICE_REQUEST_SCHEMA)
    )
    async def objections(request: Request) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(lc.objections, await request.body()))


class FastReads:
    """``POST /v1/reads`` served straight from ASGI, ahead of the framework's routing,
    dependency solving and exception middleware (the read route is the hot one: issue 12).

    It answers exactly as the FastAPI route below would (which stays, for the OpenAPI
    description and every other method): :func:`strict_request`'s checks, the body limit
    (:class:`BodyLimit`), :meth:`Reader.read` in the thread pool, errors as problems through
    the one mapping (:func:`gateway.api._problems.to_problem`). Any other request passes on.
    """

    PATH = "/v1/reads"

    def __init__(self, app: ASGIApp, reader: Reader, limit: int) -> None:
        self.app = app
        self.reader = reader
        self._limited = BodyLimit(self._serve, limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == self.PATH:
            await self._limited(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            _strict_scope(scope)
            chunks: list[bytes] = []
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            response: Response = JSONResponse(
                await run_in_threadpool(self.reader.read, b"".join(chunks))
            )
        except Exception as exc:  # noqa: BLE001 - every error becomes its problem, as routed
            response = _problems.to_problem(exc)
        await response(scope, receive, send)


def _strict_scope(scope: Scope) -> None:
    """:func:`strict_request` on a bare ASGI scope (a POST)."""
    if scope.get("query_string"):
        seen: set[str] = set()
        for key, _ in QueryParams(scope["query_string"]).multi_items():
            if key in seen:
                raise g.InvalidParameter(f"query parameter {key!r} is given more than once")
            seen.add(key)
    given = [v.decode("latin-1") for k, v in scope["headers"] if k == b"content-type"]
    if len(given) != 1 or not _JSON_TYPE.fullmatch(given[0].strip()):
        shown = ", ".join(given) or "none"
        raise g.UnsupportedMediaType(
            f"the body must be sent as application/json (charset utf-8 only), not {shown}"
        )


def _read_routes(app: FastAPI, reader: Reader, max_body_bytes: int) -> None:
    app.add_middleware(FastReads, reader=reader, limit=max_body_bytes)

    @app.post(
        "/v1/reads",
        tags=["reads"],
        openapi_extra=_body(READ_REQUEST_SCHEMA),
        responses={
            200: {"description": "released fields, with the signed access receipt"},
            403: _problem("denied, with the reason and the access receipt"),
        },
    )
    async def read(request: Request) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(reader.read, await request.body()))

    @app.post("/v1/subjects/accesses", tags=["reads"], openapi_extra=_body(SUBJECT_QUERY_SCHEMA))
    async def subject_accesses(request: Request) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(reader.subject_view, await request.body()))

    @app.post("/v1/subjects/records", tags=["reads"], openapi_extra=_body(SUBJECT_QUERY_SCHEMA))
    async def subject_records(request: Request) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(reader.subject_file, await request.body()))

    @app.post("/v1/audit/trace", tags=["audit"], openapi_extra=_body(AUDIT_QUERY_SCHEMA))
    async def audit_trace(request: Request) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(reader.audit_trace, await request.body()))


def _federation_routes(app: FastAPI, fed: Federation) -> None:
    """Cross-city reads (formats.md §13): a member's request, and a partner's forward."""

    @app.post(
        "/v1/federation/reads",
        tags=["federation"],
        openapi_extra=_body({"type": "object"}),
        responses={
            200: {"description": "the partner's sealed answer, its receipt and ours"},
            403: _problem("denied by the partner (its receipt and ours) or refused here"),
            404: _problem("no gateway listed for the target city"),
            502: _problem("the partner's gateway is unreachable or answered garbage"),
            504: _problem("the partner's gateway timed out"),
        },
    )
    async def federated_read(request: Request) -> JSONResponse:
        status, body = await run_in_threadpool(fed.forward, await request.body())
        media = "application/json" if status == 200 else _problems.MEDIA_TYPE
        return JSONResponse(body, status_code=status, media_type=media)

    @app.post(
        "/v1/federation/forward",
        tags=["federation"],
        openapi_extra=_body({"type": "object"}),
        responses={
            200: {"description": "released fields sealed to the requester, access receipt"},
            403: _problem("refused or denied, with the reason and the access receipt"),
        },
    )
    async def forwarded_read(request: Request) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(fed.receive, await request.body()))
