"""Calls to one backend on behalf of one HTTP request: deadline, error translation, stream opening.

A stream is answered only once its first message has arrived. Errors the backend raises at admission
(a bad field, a full queue, a backend that is down) then become a proper HTTP status instead of an error
event inside a 200 stream, which is what clients and the OpenAI SDK expect.
"""

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Generic, TypeVar

import grpc

from http_gateway.backends import Backend
from http_gateway.errors import ApiError, from_rpc_error

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


class BackendCall:
    """What a route needs to call one backend: its deadline, and errors in the gateway's shape."""

    def __init__(
        self, backend: Backend, *, retry_after_seconds: int, field_names: Mapping[str, str] | None = None
    ) -> None:
        self.backend = backend
        self._retry_after_seconds = retry_after_seconds
        self._field_names = field_names

    def to_api_error(self, error: grpc.aio.AioRpcError) -> ApiError:
        return from_rpc_error(
            self.backend.name,
            self.backend.target,
            error,
            retry_after_seconds=self._retry_after_seconds,
            field_names=self._field_names,
        )

    async def unary(self, method: Callable[..., Any], request: Any) -> Any:
        """Calls a unary RPC with the backend's deadline; cancelling the awaiting task cancels the call."""
        try:
            return await method(request, timeout=self.backend.deadline_seconds)
        except grpc.aio.AioRpcError as error:
            raise self.to_api_error(error) from None

    async def open_stream(
        self, method: Callable[..., Any], request: Any, on_message: Callable[[Any], None] = lambda _: None
    ) -> OpenedStream[Any]:
        """Starts a server-streaming RPC and waits for its first message (or its admission error).

        ``on_message`` sees every message as it is read (for metrics), before the reader does.
        """
        call = method(request, timeout=self.backend.deadline_seconds)
        try:
            first = await call.read()
        except grpc.aio.AioRpcError as error:
            raise self.to_api_error(error) from None
        except BaseException:
            call.cancel()
            raise
        return OpenedStream(call, first, self.to_api_error, on_message)
