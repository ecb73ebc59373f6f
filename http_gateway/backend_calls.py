"""Every call the gateway makes to a backend on behalf of one HTTP request: deadline, errors, metrics, ids.

A route builds ``TextCalls(state, request)`` or ``ImageCalls(state, request)`` and calls ``generate`` or
``stream``. Each call gets the backend's deadline; a failure becomes the gateway's ApiError (with
``field_names`` renaming contract fields to the route's own in ``param``); the metrics count tokens, time to
first token and images.

A stream is answered only once its first message has arrived. Errors the backend raises at admission
(a bad field, a full queue, a backend that is down) then become a proper HTTP status instead of an error
event inside a 200 stream, which is what clients and the OpenAI SDK expect.
"""

import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Generic, TypeVar

import grpc
from fastapi import Request

from hearth.image.v1 import image_service_pb2 as image_pb2
from hearth.text.v1 import text_service_pb2 as text_pb2
from http_gateway.backends import Backend
from http_gateway.errors import ApiError, from_rpc_error
from http_gateway.gateway_state import GatewayState
from http_gateway.request_tracking import request_id_of, route_of, started_at

Message = TypeVar("Message")


class OpenedStream(Generic[Message]):
    """A server stream whose first message has arrived; iterating it cancels the call when the reader stops."""

    def __init__(
        self,
        call: Any,
        first: Message,
        to_api_error: Callable[[grpc.aio.AioRpcError], ApiError],
        on_message: Callable[[Message], None],
    ) -> None:
        self._call = call
        self._first = first
        self._to_api_error = to_api_error
        self._on_message = on_message

    async def messages(self) -> AsyncIterator[Message]:
        """Yields every message; a mid-stream failure raises ApiError; leaving early cancels the gRPC call."""
        try:
            message = self._first
            while message is not grpc.aio.EOF:
                self._on_message(message)
                yield message
                message = await self._call.read()
        except grpc.aio.AioRpcError as error:
            raise self._to_api_error(error) from None
        finally:
            self._call.cancel()

    def cancel(self) -> None:
        """Cancels the gRPC call (a no-op once it has finished); safe whether or not messages() ran."""
        self._call.cancel()


class _BackendCalls:
    """One HTTP request's view of one backend: its deadline, its errors in the gateway's shape, its labels."""

    def __init__(
        self, backend: Backend, state: GatewayState, request: Request, field_names: Mapping[str, str] | None
    ) -> None:
        self._backend = backend
        self._retry_after_seconds = state.settings.retry_after_seconds
        self._field_names = field_names
        self._metrics = state.metrics
        self._route = route_of(request.scope)
        self.request_id = request_id_of(request.scope) or ""

    def _to_api_error(self, error: grpc.aio.AioRpcError) -> ApiError:
        return from_rpc_error(
            self._backend.name,
            self._backend.target,
            error,
            retry_after_seconds=self._retry_after_seconds,
            field_names=self._field_names,
        )

    async def _unary(self, method: Callable[..., Any], request: Any) -> Any:
        """Calls a unary RPC with the backend's deadline; cancelling the awaiting task cancels the call."""
        try:
            return await method(request, timeout=self._backend.deadline_seconds)
        except grpc.aio.AioRpcError as error:
            raise self._to_api_error(error) from None

    async def _open_stream(
        self, method: Callable[..., Any], request: Any, on_message: Callable[[Any], None]
    ) -> OpenedStream[Any]:
        """Starts a server-streaming RPC and waits for its first message (or its admission error).

        ``on_message`` sees every message as it is read (for metrics), before the reader does.
        """
        call = method(request, timeout=self._backend.deadline_seconds)
        try:
            first = await call.read()
        except grpc.aio.AioRpcError as error:
            raise self._to_api_error(error) from None
        except BaseException:
            call.cancel()
            raise
        return OpenedStream(call, first, self._to_api_error, on_message)


class TextCalls(_BackendCalls):
    """Generate and GenerateStream on behalf of one request, counted in the metrics (tokens, first token)."""

    def __init__(self, state: GatewayState, request: Request, field_names: Mapping[str, str] | None = None) -> None:
        super().__init__(state.text, state, request, field_names)
        self._stub = state.text.stub
        self._started_at = started_at(request.scope)
        self._first_token_seen = False
        self._calls_made = 0

    def _next_id(self) -> str:
        """The request's id for its first call, then ``<id>-1``, ``<id>-2``…

        The text engine refuses two requests in flight with one id, and n choices are n requests.
        """
        request_id = self.request_id + (f"-{self._calls_made}" if self._calls_made else "")
        self._calls_made += 1
        return request_id

    async def generate(self, params: text_pb2.TextParams) -> text_pb2.GenerateResponse:
        request = text_pb2.GenerateRequest(params=params, request_id=self._next_id())
        reply: text_pb2.GenerateResponse = await self._unary(self._stub.Generate, request)
        self._metrics.time_to_first_token.labels(self._route).observe(reply.timings.time_to_first_token_seconds)
        self._count_usage(reply.usage)
        return reply

    async def stream(self, params: text_pb2.TextParams) -> OpenedStream[text_pb2.GenerateStreamResponse]:
        """Opens the stream; admission errors raise here as ApiError, later ones while reading it."""
        request = text_pb2.GenerateStreamRequest(params=params, request_id=self._next_id())
        return await self._open_stream(self._stub.GenerateStream, request, self._observe)

    def _observe(self, message: text_pb2.GenerateStreamResponse) -> None:
        if message.token_ids and not self._first_token_seen:
            self._first_token_seen = True
            elapsed = time.perf_counter() - self._started_at
            self._metrics.time_to_first_token.labels(self._route).observe(elapsed)
        if message.finish_reason:
            self._count_usage(message.usage)

    def _count_usage(self, usage: text_pb2.Usage) -> None:
        self._metrics.tokens.labels(self._route, "prompt").inc(usage.prompt_tokens)
        self._metrics.tokens.labels(self._route, "completion").inc(usage.completion_tokens)


class ImageCalls(_BackendCalls):
    """Generate and GenerateStream on behalf of one request, counted in the metrics (images returned)."""

    def __init__(self, state: GatewayState, request: Request, field_names: Mapping[str, str] | None = None) -> None:
        super().__init__(state.image, state, request, field_names)
        self._stub = state.image.stub

    async def generate(self, params: image_pb2.ImageParams) -> image_pb2.GenerateResponse:
        request = image_pb2.GenerateRequest(params=params, request_id=self.request_id)
        reply: image_pb2.GenerateResponse = await self._unary(self._stub.Generate, request)
        self._metrics.images.labels(self._route).inc(len(reply.images))
        return reply

    async def stream(self, params: image_pb2.ImageParams) -> OpenedStream[image_pb2.GenerateStreamResponse]:
        """Opens the stream; admission errors raise here as ApiError, later ones while reading it."""
        request = image_pb2.GenerateStreamRequest(params=params, request_id=self.request_id)
        return await self._open_stream(self._stub.GenerateStream, request, self._observe)

    def _observe(self, message: image_pb2.GenerateStreamResponse) -> None:
        if message.HasField("image"):
            self._metrics.images.labels(self._route).inc()
