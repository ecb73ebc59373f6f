"""The CLI's gRPC side (`--grpc HOST:PORT`): one text or image service reached directly, gateway or not.

It uses the generated stubs of the public contract and nothing else, so it also shows how any gRPC
client talks to Hearth. Leaving a stream cancels the call, which frees the server's batch slot.
"""

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hearth.image.v1 import image_service_pb2 as image_pb
from hearth.image.v1 import image_service_pb2_grpc as image_grpc
from hearth.text.v1 import text_service_pb2 as text_pb
from hearth.text.v1 import text_service_pb2_grpc as text_grpc
from hearth_cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_REJECTED, EXIT_UNAVAILABLE, HearthError
from hearth_cli.messages import (
    ImageEvent,
    ImageProgress,
    ImageRequest,
    ImageResult,
    ServiceStatus,
    TextChunk,
    TextDone,
    TextEvent,
    TextRequest,
)

STATUS_TIMEOUT_SECONDS = 5.0

# The gateway's words for them, so `--json` reads the same whichever way the CLI went.
FINISH_REASONS = {
    text_pb.FINISH_REASON_LENGTH: "length",
    text_pb.FINISH_REASON_STOP_SEQUENCE: "stop",
    text_pb.FINISH_REASON_END_OF_SEQUENCE: "eos",
    text_pb.FINISH_REASON_CANCELLED: "cancelled",
}

_REJECTED = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
}
_UNAVAILABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNIMPLEMENTED}


def _exit_code(code: grpc.StatusCode) -> int:
    if code in _REJECTED:
        return EXIT_REJECTED
    if code in _UNAVAILABLE:
        return EXIT_UNAVAILABLE
    if code == grpc.StatusCode.CANCELLED:
        return EXIT_INTERRUPTED
    return EXIT_FAILED


def _guided(request: TextRequest) -> text_pb.GuidedDecoding | None:
    if request.json_schema is not None:
        return text_pb.GuidedDecoding(json_schema=json.dumps(request.json_schema))
    if request.regex is not None:
        return text_pb.GuidedDecoding(regex=request.regex)
    return None


class GrpcClient:
    """One service at `target`; which kind it is only matters to the call made on it."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._channel = grpc.insecure_channel(target)

    def close(self) -> None:
        self._channel.close()

    def _error(self, exc: grpc.RpcError) -> HearthError:
        code, details = exc.code(), exc.details() or ""
        if code == grpc.StatusCode.UNAVAILABLE and "connect" in details:
            return HearthError(f"cannot reach the service at {self.target} (is it running?)", EXIT_UNAVAILABLE)
        if code == grpc.StatusCode.UNIMPLEMENTED:
            details = f"the service at {self.target} does not serve this call (text or image service?)"
        return HearthError(f"{details} ({code.name})", _exit_code(code))

    @contextmanager
    def _stream(self, start: Callable[[], Any]) -> Iterator[Any]:
        """Starts a server stream; leaving the block cancels the call, so the server stops working on it."""
        call = start()
        try:
            yield call
        except grpc.RpcError as exc:
            raise self._error(exc) from exc
        finally:
            call.cancel()

    @contextmanager
    def text_stream(self, request: TextRequest) -> Iterator[Iterator[TextEvent]]:
        sampling = text_pb.SamplingParams(
            max_new_tokens=request.max_new_tokens, temperature=request.temperature or 0.0, seed=request.seed
        )
        if request.chat:
            messages = [text_pb.ChatMessage(role="system", content=request.system)] if request.system else []
            messages.append(text_pb.ChatMessage(role="user", content=request.prompt))
            params = text_pb.TextParams(messages=messages, sampling=sampling, guided=_guided(request))
        else:
            params = text_pb.TextParams(prompt=request.prompt, sampling=sampling, guided=_guided(request))
        message = text_pb.GenerateStreamRequest(params=params)
        stub = text_grpc.TextGenerationServiceStub(self._channel)
        with self._stream(lambda: stub.GenerateStream(message)) as call:
            yield self._text_events(call)

    def _text_events(self, call: Iterator[text_pb.GenerateStreamResponse]) -> Iterator[TextEvent]:
        try:
            for reply in call:
                if reply.text:
                    yield TextChunk(reply.text)
                if reply.finish_reason:
                    reason = FINISH_REASONS.get(reply.finish_reason, "unknown")
                    usage = {
                        "prompt_tokens": reply.usage.prompt_tokens,
                        "completion_tokens": reply.usage.completion_tokens,
                        "total_tokens": reply.usage.total_tokens,
                    }
                    timings = {
                        "queue_seconds": reply.timings.queue_seconds,
                        "time_to_first_token_seconds": reply.timings.time_to_first_token_seconds,
                        "total_seconds": reply.timings.total_seconds,
                    }
                    yield TextDone(reason, usage, timings)
                    return
        except grpc.RpcError as exc:
            raise self._error(exc) from exc
        raise HearthError(f"the service at {self.target} ended the stream before it was done", EXIT_UNAVAILABLE)

    @contextmanager
    def image_stream(self, request: ImageRequest) -> Iterator[Iterator[ImageEvent]]:
        params = image_pb.ImageParams(
            prompt=request.prompt,
            negative_prompt=request.negative_prompt or "",
            num_inference_steps=request.steps,
            guidance_scale=request.guidance_scale,
            width=request.width,
            height=request.height,
            seed=request.seed,
            num_images=request.num_images,
            init_image=request.init_image,
            mask_image=request.mask_image,
            strength=request.strength,
            preview_every=request.preview_every,
        )
        stub = image_grpc.ImageGenerationServiceStub(self._channel)
        message = image_pb.GenerateStreamRequest(params=params)
        with self._stream(lambda: stub.GenerateStream(message)) as call:
            yield self._image_events(call, request.num_images or 1)

    def _image_events(self, call: Iterator[image_pb.GenerateStreamResponse], expected: int) -> Iterator[ImageEvent]:
        received = 0
        try:
            for reply in call:
                if reply.HasField("progress"):
                    progress = reply.progress
                    yield ImageProgress(
                        progress.step, progress.total_steps, progress.elapsed_seconds, progress.preview.data
                    )
                elif reply.HasField("image"):
                    image = reply.image
                    yield ImageResult(image.index, image.data, image.seed, image.mime_type)
                    received += 1
        except grpc.RpcError as exc:
            raise self._error(exc) from exc
        if received < expected:
            raise HearthError(f"the service at {self.target} ended the stream before it was done", EXIT_UNAVAILABLE)

    def status(self) -> list[ServiceStatus]:
        """Health plus GetModelInfo of whichever service listens at the target."""
        try:
            health = health_pb2_grpc.HealthStub(self._channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=STATUS_TIMEOUT_SECONDS
            )
        except grpc.RpcError as exc:
            raise self._error(exc) from exc
        state = health_pb2.HealthCheckResponse.ServingStatus.Name(health.status).lower()
        if health.status != health_pb2.HealthCheckResponse.SERVING:
            return [ServiceStatus(self.target, state, False)]
        return [self._model_status(state)]

    def _model_status(self, state: str) -> ServiceStatus:
        text_stub = text_grpc.TextGenerationServiceStub(self._channel)
        image_stub = image_grpc.ImageGenerationServiceStub(self._channel)
        try:
            info = text_stub.GetModelInfo(text_pb.GetModelInfoRequest(), timeout=STATUS_TIMEOUT_SECONDS)
            name, engine = "text", info.engine.name
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise self._error(exc) from exc
            try:
                info = image_stub.GetModelInfo(image_pb.GetModelInfoRequest(), timeout=STATUS_TIMEOUT_SECONDS)
            except grpc.RpcError as image_exc:
                raise self._error(image_exc) from image_exc
            name, engine = "image", info.pipeline_class
        return ServiceStatus(
            f"{name} ({self.target})",
            state,
            True,
            model=info.model_id,
            engine=engine,
            device=info.device,
            dtype=info.dtype,
            active=info.stats.active_requests,
            queued=info.stats.queued_requests,
        )
