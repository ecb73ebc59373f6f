"""Requests whose bytes are no valid message (bad UTF-8 in a string field, truncated, garbage) are bad input.

grpcio answers a request it cannot deserialize with UNKNOWN before any servicer code runs; the error table
of shared/DESIGN.md wants INVALID_ARGUMENT for anything malformed a client sends. This interceptor takes
over the decoding of unary-request methods so a ``DecodeError`` becomes INVALID_ARGUMENT (reason INVALID_FIELD,
field ``request``). Streaming-request methods (reflection) keep grpcio's own handling.
"""

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from serving_core.request_errors import InvalidField, abort_with

Decode = Callable[[bytes], Any]


async def _decoded(decode: Decode, raw: bytes, context: grpc.aio.ServicerContext) -> Any:
    try:
        return decode(raw)
    except DecodeError as error:
        await abort_with(context, InvalidField("request", f"not a valid message ({error})"))


def _unary_unary(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    behavior, decode = handler.unary_unary, handler.request_deserializer

    async def unary_unary(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
        return await behavior(await _decoded(decode, raw, context), context)

    return grpc.unary_unary_rpc_method_handler(unary_unary, response_serializer=handler.response_serializer)


def _unary_stream(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    behavior, decode = handler.unary_stream, handler.request_deserializer
    if inspect.isasyncgenfunction(behavior):

        async def unary_stream(raw: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            async for message in behavior(await _decoded(decode, raw, context), context):
                yield message

    else:

        async def unary_stream(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
            return await behavior(await _decoded(decode, raw, context), context)

    return grpc.unary_stream_rpc_method_handler(unary_stream, response_serializer=handler.response_serializer)


class RejectUndecodableRequests(grpc.aio.ServerInterceptor):
    """Decodes unary requests itself and answers INVALID_ARGUMENT for bytes that are no valid message."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_streaming or handler.request_deserializer is None:
            return handler
        return _unary_stream(handler) if handler.response_streaming else _unary_unary(handler)
