"""Every error leaves as RFC 9457 application/problem+json; GatewayError subclasses pick the status."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.errors import GatewayError, Unavailable

log = logging.getLogger("gateway.api")
PROBLEM_BASE = "https://governance-gateway.local/problems/"
PROBLEM_JSON = "application/problem+json"


def problem(request: Request, status: int, title: str, detail: str, slug: str, **extra: Any) -> JSONResponse:
    body = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail,
            "instance": request.url.path, **extra}  # fmt: skip
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def problem_body(path: str, exc: GatewayError) -> dict[str, Any]:
    """The problem document for a GatewayError (also what an Idempotency-Key replay sends again)."""
    extra: dict[str, Any] = dict(exc.extra)
    if exc.errors:
        extra["errors"] = exc.errors
    return {"type": PROBLEM_BASE + exc.type_slug, "title": exc.title, "status": exc.status, "detail": exc.detail,
            "instance": path, **extra}  # fmt: skip


def _gateway_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    resp = JSONResponse(problem_body(request.url.path, exc), status_code=exc.status, media_type=PROBLEM_JSON)
    if isinstance(exc, Unavailable):
        # Fail closed, and say when to come back.
        resp.headers["Retry-After"] = str(request.app.state.settings.retry_after_seconds)
    if exc.status == 401:
        resp.headers["WWW-Authenticate"] = "Bearer"
    return resp


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for e in exc.errors():
        loc = [str(p) for p in e.get("loc", ())]
        where = loc[0] if loc else "body"
        pointer = "/" + "/".join(loc[1:])
        errors.append({"pointer": pointer, "in": where, "detail": e.get("msg", "invalid")})
    return problem(
        request, 422, "The request is invalid", f"{len(errors)} error(s)", "invalid-request", errors=errors
    )


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem(request, exc.status_code, str(exc.detail), str(exc.detail), f"http-{exc.status_code}")


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s", request.url.path)
    return problem(
        request, 500, "Internal error", "an unexpected error occurred; it has been logged", "internal"
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
