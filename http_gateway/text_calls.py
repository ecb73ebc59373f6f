"""One HTTP request's calls to the text service, counted in the metrics (tokens, time to first token)."""

import time
from collections.abc import Mapping
from typing import Any

from fastapi import Request

from hearth.text.v1 import text_service_pb2 as text_pb2
from http_gateway.gateway_state import GatewayState
from http_gateway.grpc_calls import OpenedStream
from http_gateway.request_tracking import started_at
from http_gateway.route_calls import RouteCalls


class TextCalls(RouteCalls):
    """Generate and GenerateStream on behalf of one request, with its id, deadline and metrics."""

    def __init__(self, state: GatewayState, request: Request, field_names: Mapping[str, str] | None) -> None:
        super().__init__(state.text, state, request, field_names)
        self._stub = state.text.stub
        self._started_at = started_at(request.scope)
        self._first_token_seen = False
        self._calls_made = 0

    def _next_request_id(self) -> str:
        """The request's id for its first call, then ``<id>-1``, ``<id>-2``…: the engine wants unique ids."""
        suffix = f"-{self._calls_made}" if self._calls_made else ""
        self._calls_made += 1
        return self.request_id + suffix

    async def generate(self, request: text_pb2.GenerateRequest) -> text_pb2.GenerateResponse:
        request.request_id = self._next_request_id()
        reply: text_pb2.GenerateResponse = await self._call.unary(self._stub.Generate, request)
        self._metrics.time_to_first_token.labels(self._route).observe(reply.timings.time_to_first_token_seconds)
        self._count_usage(reply.usage)
        return reply

    async def stream(self, request: text_pb2.GenerateStreamRequest) -> OpenedStream[text_pb2.GenerateStreamResponse]:
        """Opens the stream; admission errors raise here as ApiError, later ones while reading it."""
        request.request_id = self._next_request_id()
        return await self._call.open_stream(self._stub.GenerateStream, request, self._observe)

    def _observe(self, message: Any) -> None:
        if message.token_ids and not self._first_token_seen:
            self._first_token_seen = True
            elapsed = time.perf_counter() - self._started_at
            self._metrics.time_to_first_token.labels(self._route).observe(elapsed)
        if message.finish_reason:
            self._count_usage(message.usage)

    def _count_usage(self, usage: text_pb2.Usage) -> None:
        self._metrics.tokens.labels(self._route, "prompt").inc(usage.prompt_tokens)
        self._metrics.tokens.labels(self._route, "completion").inc(usage.completion_tokens)
