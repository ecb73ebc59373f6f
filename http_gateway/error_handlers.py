"""Turns every exception a route can raise into the one JSON error shape, and counts it."""

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from http_gateway.errors import ApiError, ClientDisconnected, ErrorResponse
from http_gateway.metrics import GatewayMetrics
from http_gateway.request_tracking import request_id_of, route_of

logger = logging.getLogger(__name__)

CLIENT_CLOSED_REQUEST = 499
_HTTP_ERROR_TYPES = {401: "authentication_error", 403: "permission_error", 404: "not_found_error"}

# Declared on every API route so the OpenAPI schema lists the errors clients can get.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "a field is out of the backend's range (the message names the field and the limit)",
        401: "missing or wrong bearer token (only when HEARTH_GATEWAY_API_KEY is set)",
        422: "the body does not match the schema",
        429: "the backend's queue is full; retry after the Retry-After header's seconds",
        500: "a bug; the message carries the request id that the logs show",
        503: "the backend is down, loading or draining",
        504: "the backend did not answer before the request's deadline",
        507: "the backend ran out of device memory for this request",
    }.items()
}


def error_response(error: ApiError, request: Request) -> JSONResponse:
    """The JSON error for ``error``, as a route or an exception handler returns it."""
    body = ErrorResponse(error=error.detail(request_id_of(request.scope)))
    return JSONResponse(body.model_dump(), status_code=error.status, headers=error.headers)


def validation_message(errors: Sequence[Any]) -> tuple[str, str | None]:
    """A readable message naming each bad field, and the first field's name as OpenAI's ``param``."""
    parts, first = [], None
    for error in errors:
        location = [str(part) for part in error.get("loc", ()) if part != "body"]
        field = "body" if error.get("type") == "json_invalid" else ".".join(location) or "body"
        first = first or field
        parts.append(f"{field}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request body", first


def install_error_handlers(app: FastAPI, metrics: GatewayMetrics) -> None:
    """Registers the handlers; every error response they build is counted per route and backend."""

    def answer(request: Request, error: ApiError) -> JSONResponse:
        metrics.errors.labels(route_of(request.scope), error.backend, error.code or str(error.status)).inc()
        return error_response(error, request)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return answer(request, error)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, error: RequestValidationError) -> JSONResponse:
        message, param = validation_message(error.errors())
        return answer(
            request, ApiError(422, message, type="invalid_request_error", code="validation_error", param=param)
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        kind = _HTTP_ERROR_TYPES.get(error.status_code, "invalid_request_error")
        code = str(error.detail).lower().replace(" ", "_")
        return answer(
            request, ApiError(error.status_code, str(error.detail), type=kind, code=code, headers=error.headers)
        )

    @app.exception_handler(ClientDisconnected)
    async def client_gone(request: Request, error: ClientDisconnected) -> Response:
        return Response(status_code=CLIENT_CLOSED_REQUEST)

    @app.exception_handler(Exception)
    async def bug(request: Request, error: Exception) -> JSONResponse:
        request_id = request_id_of(request.scope)
        logger.exception("unhandled error", extra={"fields": {"request_id": request_id, "path": request.url.path}})
        message = f"internal error; quote request id {request_id} when reporting it"
        return answer(request, ApiError(500, message, type="internal_error", code="internal"))
