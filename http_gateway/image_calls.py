"""One HTTP request's calls to the image service, counted in the metrics (images returned)."""

from collections.abc import Mapping
from typing import Any

from fastapi import Request

from hearth.image.v1 import image_service_pb2 as image_pb2
from http_gateway.gateway_state import GatewayState
from http_gateway.grpc_calls import OpenedStream
from http_gateway.route_calls import RouteCalls


class ImageCalls(RouteCalls):
    """Generate and GenerateStream on behalf of one request, with its id, deadline and metrics."""

    def __init__(self, state: GatewayState, request: Request, field_names: Mapping[str, str] | None) -> None:
        super().__init__(state.image, state, request, field_names)
        self._stub = state.image.stub

    async def generate(self, params: image_pb2.ImageParams) -> image_pb2.GenerateResponse:
        request = image_pb2.GenerateRequest(params=params, request_id=self.request_id)
        reply: image_pb2.GenerateResponse = await self._call.unary(self._stub.Generate, request)
        self._metrics.images.labels(self._route).inc(len(reply.images))
        return reply

    async def stream(self, params: image_pb2.ImageParams) -> OpenedStream[image_pb2.GenerateStreamResponse]:
        """Opens the stream; admission errors raise here as ApiError, later ones while reading it."""
        request = image_pb2.GenerateStreamRequest(params=params, request_id=self.request_id)
        return await self._call.open_stream(self._stub.GenerateStream, request, self._observe)

    def _observe(self, message: Any) -> None:
        if message.HasField("image"):
            self._metrics.images.labels(self._route).inc()
