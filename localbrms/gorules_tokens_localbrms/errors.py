"""BRMS-style error bodies (``{statusCode, error, message}``) for every failure path.

BRMS is a NestJS/Fastify service; its errors look like
``{"statusCode": 404, "error": "Not Found", "message": "Route GET:/api/x not found"}``.
We answer the same way for our own errors, FastAPI validation errors and unknown routes,
so clients parse one shape. Messages never contain tokens.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gorules_tokens_localbrms.object_storage import StorageWriteError

log = logging.getLogger("localbrms")


class BRMSError(Exception):
    """An error answered to the client with a BRMS-style body."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def error_body(status: int, message: str) -> dict[str, Any]:
    """The body BRMS sends for a failed request."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return {"statusCode": status, "error": phrase, "message": message}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message), status_code=status, headers=headers)


def not_found(what: str) -> BRMSError:
    return BRMSError(404, f"{what} not found")


def bad_request(message: str) -> BRMSError:
    return BRMSError(400, message)


def _validation_message(exc: RequestValidationError) -> str:
    """Summarise pydantic errors by location and message only (never the input value)."""
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()))
        if err.get("type") == "value_error" and "error" in (err.get("ctx") or {}):
            msg = str(err["ctx"]["error"])  # our own validators' wording
        else:
            # pydantic sometimes appends details quoting the input ("..., found `x` at 0"): cut them.
            msg = str(err.get("msg", "invalid")).split(", ")[0]
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts) or "Invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Route every error FastAPI/Starlette can raise through :func:`error_body`."""

    @app.exception_handler(BRMSError)
    async def _brms(_: Request, exc: BRMSError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.headers)

    @app.exception_handler(StorageWriteError)
    async def _storage(_: Request, exc: StorageWriteError) -> JSONResponse:
        return error_response(502, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            # Same wording as BRMS/Fastify for unknown routes.
            message = f"Route {request.method}:{request.url.path} not found"
        else:
            message = str(exc.detail) if exc.detail else HTTPStatus(exc.status_code).phrase
        return error_response(exc.status_code, message, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "Internal server error")
