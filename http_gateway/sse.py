"""Server-Sent Events responses through sse-starlette, with failures turned into one last error event.

A stream that has started cannot change its HTTP status, so a failure after the first event is sent as
an event carrying the same JSON error body the non-streaming routes return: named ``error`` on Hearth's
own routes, unnamed on the OpenAI routes (where the SDK looks for an ``error`` key in a data chunk).
sse-starlette cancels the generator when the client disconnects; that cancellation reaches the gRPC
call, which the backend sees at once.
"""

import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from typing import Any

from fastapi import Request
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.types import Receive, Scope, Send

from http_gateway.backend_calls import OpenedStream
from http_gateway.errors import ApiError, ErrorResponse
from http_gateway.gateway_state import GatewayState
from http_gateway.request_tracking import request_id_of, route_of
from http_gateway.sse_schema import DONE_MARKER

logger = logging.getLogger(__name__)

PING_SECONDS = 15
# The last event of an OpenAI stream.
OPENAI_DONE = ServerSentEvent(data=DONE_MARKER, sep="\n")


def json_event(data: Any, event: str | None = None) -> ServerSentEvent:
    """One event whose data is compact JSON (non-ASCII kept as is)."""
    return ServerSentEvent(data=json.dumps(data, ensure_ascii=False, separators=(",", ":")), event=event, sep="\n")


class _CancellingEventSourceResponse(EventSourceResponse):
    """Cancels its backend calls however the response ends, even if the client left before the first event.

    A generator that never started runs no ``finally``, so the calls are cancelled here as well.
    """

    def __init__(self, content: AsyncIterator[ServerSentEvent], streams: Sequence[OpenedStream[Any]]) -> None:
        super().__init__(content, ping=PING_SECONDS, sep="\n")
        self._streams = streams

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            for stream in self._streams:
                stream.cancel()


def event_stream(
    request: Request,
    state: GatewayState,
    events: AsyncIterator[ServerSentEvent],
    streams: Sequence[OpenedStream[Any]],
    *,
    error_event: str | None,
) -> EventSourceResponse:
    """The SSE response for ``events`` read from ``streams``; an error while streaming becomes a last event."""

    async def guarded() -> AsyncIterator[ServerSentEvent]:
        try:
            async with aclosing(events):
                async for event in events:
                    yield event
        except ApiError as error:
            state.metrics.errors.labels(route_of(request.scope), error.backend, error.code or str(error.status)).inc()
            yield _error_event(error, request, error_event)
        except Exception:
            request_id = request_id_of(request.scope)
            logger.exception("stream failed", extra={"fields": {"request_id": request_id}})
            error = ApiError(500, f"internal error; quote request id {request_id}", type="internal_error")
            state.metrics.errors.labels(route_of(request.scope), "gateway", "internal").inc()
            yield _error_event(error, request, error_event)

    return _CancellingEventSourceResponse(guarded(), streams)


def _error_event(error: ApiError, request: Request, name: str | None) -> ServerSentEvent:
    body = ErrorResponse(error=error.detail(request_id_of(request.scope)))
    return json_event(body.model_dump(), event=name)
