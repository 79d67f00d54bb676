"""The gateway's HTTP API (FastAPI) under ``/v1``; OpenAPI at ``/docs`` and ``/openapi.json``."""

from gateway.api._app import create_app

__all__ = ["create_app"]
