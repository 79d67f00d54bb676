"""The web UI's built assets (``ui/`` built by ``scripts/build_ui.py`` into ``static/``) and
the small ASGI pieces that serve them at ``/``.

The pages check proofs in the browser against the chain endpoint the user chooses; the
gateway only hands out files (and, as a labelled default the user may decline, its own
deployment manifest at ``/ui/offer.json``). Every UI response carries a strict
Content-Security-Policy: scripts, styles and images from the page's own origin only, no
inline code, no frames, no forms posting elsewhere; ``connect-src`` allows any http(s)
endpoint because the chain RPC is the user's choice.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from gateway._service import Gateway

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "PUBLIC_READS",
    "STATIC_DIR",
    "PublicReadCors",
    "SecurityHeaders",
    "install",
    "offer",
]

STATIC_DIR: Final = Path(__file__).resolve().parent / "static"

CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self' http: https:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
_HEADERS: Final = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


class SecurityHeaders:
    """Adds the UI's security headers to every response of the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in _HEADERS if k not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


PUBLIC_READS: Final = frozenset(
    ("/v1/health", "/v1/logs/records/checkpoint", "/v1/logs/access/checkpoint")
)
"""The public, read-only GETs another city's operator page fetches cross-origin (the
network view): health and each log's size and root. Nothing else is opened to other origins."""


class PublicReadCors:
    """``Access-Control-Allow-Origin: *`` on GET/HEAD of :data:`PUBLIC_READS` only. Simple
    requests need no preflight; no credentials are allowed, and no other route, method or
    header is opened to another origin."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") not in ("GET", "HEAD")
            or scope.get("path") not in PUBLIC_READS
        ):
            await self.app(scope, receive, send)
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() != b"access-control-allow-origin"
                ]
                headers.append((b"access-control-allow-origin", b"*"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_cors)


def _headers() -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in _HEADERS}


def install(app: FastAPI, gateway: Gateway) -> None:
    """Serve the pages: ``/`` (index.html), ``/assets/*`` and ``/ui/offer.json``. Nothing
    else is taken over, so every other path (``/v1/...`` included) answers as before. A
    source tree whose UI was never built serves no pages. The public reads of
    :data:`PUBLIC_READS` answer other origins (:class:`PublicReadCors`), built UI or not."""
    app.add_middleware(PublicReadCors)
    index = STATIC_DIR / "index.html"
    if not index.is_file():
        return
    app.mount(
        "/assets",
        SecurityHeaders(StaticFiles(directory=STATIC_DIR / "assets")),
        name="ui-assets",
    )

    @app.get("/", include_in_schema=False)
    def ui_index() -> FileResponse:
        return FileResponse(index, media_type="text/html; charset=utf-8", headers=_headers())

    @app.get("/ui/offer.json", include_in_schema=False)
    def ui_offer() -> JSONResponse:
        body = offer(
            gateway=gateway.gateway_org,
            chain_id=gateway.chain.chain_id,
            rpc_url=gateway.chain.url,
            manifest=gateway.deployment.to_json(),
        )
        return JSONResponse(body, headers={**_headers(), "cache-control": "no-store"})


def _loopback(url: str) -> bool:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.username or parts.password or parts.query:
            return False
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def offer(
    *, gateway: bytes, chain_id: int, rpc_url: str | None, manifest: dict[str, Any]
) -> dict[str, Any]:
    """What the gateway offers the pages as defaults: its deployment manifest, and its chain
    endpoint only when that is a loopback URL without credentials (a dev chain; a production
    node URL may carry an API key and is given to users out of band)."""
    return {
        "gateway": "0x" + gateway.hex(),
        "chain_id": chain_id,
        "rpc": rpc_url if rpc_url and _loopback(rpc_url) else None,
        "manifest": manifest,
    }
