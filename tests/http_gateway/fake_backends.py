"""In-process fake text and image services (grpc.aio, the generated servicer bases) with canned replies.

The prompt picks the behaviour, so a test says what it wants in the request it sends:
``fail:<CODE>[:reason=<REASON>][:field=<f>][:retry=<s>]`` aborts with that status (and google.rpc details:
ErrorInfo of the ``hearth`` domain, BadRequest, RetryInfo; no reason is a status gRPC itself would make),
``slow`` sleeps between tokens or steps, ``hang`` never answers, ``midfail`` streams two messages and
then fails; anything else answers at once with words ``w0 w1 …`` (or images) as the contract describes.
The text fake honours ``logprobs`` (made-up values, one alternative forbidden: -inf) and a named
``tool_choice`` (one call with ``TOOL_ARGUMENTS``, streamed in two pieces).
"""

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from hearth.image.v1 import image_service_pb2 as image_pb2
from hearth.image.v1 import image_service_pb2_grpc
from hearth.text.v1 import text_service_pb2 as text_pb2
from hearth.text.v1 import text_service_pb2_grpc
from serving_core.request_errors import ERROR_DOMAIN

SLOW_SECONDS = 0.05
MAX_NEW_TOKENS = 4096
MAX_STEPS = 150
MAX_IMAGES = 8
MAX_TOP_LOGPROBS = 5
MIN_SIDE, MAX_SIDE = 64, 2048
TOOL_ARGUMENTS = '{"city": "Paris", "days": 3}'
TOOL_CALL_ID = "call_0123456789abcdef01234567"


@dataclass
class CallLog:
    """What a fake saw: every request, how many calls are running, and how many were cancelled."""

    requests: list[object] = field(default_factory=list)
    active: int = 0
    cancelled: int = 0

    @contextmanager
    def call(self, request: object) -> Iterator[str]:
        """Counts one call while it runs and whether it was cancelled; yields the prompt's command."""
        self.requests.append(request)
        self.active += 1
        try:
            yield _command(request)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.active -= 1


async def abort_for(command: str, context: grpc.aio.ServicerContext) -> None:
    """Aborts the call as ``fail:<CODE>[:reason=r][:field=f][:retry=s]`` asks."""
    _, code_name, *options = command.split(":")
    code = getattr(grpc.StatusCode, code_name)
    message = f"fake {code_name.lower()}"
    status = status_pb2.Status(code=getattr(code_pb2, code_name), message=message)
    for option in options:
        detail = any_pb2.Any()
        if option.startswith("field="):
            name = option.removeprefix("field=")
            violation = error_details_pb2.BadRequest.FieldViolation(field=name, description="must be <= 8")
            detail.Pack(error_details_pb2.BadRequest(field_violations=[violation]))
            status.message = f"{name}: must be <= 8"
        elif option.startswith("retry="):
            seconds = int(option.removeprefix("retry="))
            detail.Pack(error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=seconds)))
        elif option.startswith("reason="):
            detail.Pack(error_details_pb2.ErrorInfo(reason=option.removeprefix("reason="), domain=ERROR_DOMAIN))
        status.details.append(detail)
    assert code.value[0] == status.code
    await context.abort_with_status(rpc_status.to_status(status))


async def refuse_out_of_range(checks: list[tuple[str, bool]], context: grpc.aio.ServicerContext) -> None:
    """Refuses the request the way the real services do: INVALID_ARGUMENT naming the first bad field."""
    for field_name, in_range in checks:
        if not in_range:
            await abort_for(f"fail:INVALID_ARGUMENT:reason=INVALID_FIELD:field={field_name}", context)


def _command(request: object) -> str:
    fields = getattr(request, "params", request)
    if getattr(fields, "messages", None):
        return fields.messages[-1].content
    return fields.prompt


class FakeTextService(text_service_pb2_grpc.TextGenerationServiceServicer):
    """Answers ``max_new_tokens`` words ``" w0 w1 …"``; the prompt itself when include_prompt is set."""

    def __init__(self, name: str = "fake-text") -> None:
        self.name = name
        self.log = CallLog()

    async def _words(self, request: text_pb2.GenerateRequest, context: grpc.aio.ServicerContext) -> list[str]:
        sampling = request.params.sampling
        count = sampling.max_new_tokens if sampling.HasField("max_new_tokens") else 100
        checks = [
            ("sampling.max_new_tokens", 1 <= count <= MAX_NEW_TOKENS),
            ("prompt", bool(_command(request))),
            ("top_logprobs", request.params.top_logprobs <= MAX_TOP_LOGPROBS),
        ]
        await refuse_out_of_range(checks, context)
        return [f" w{index}" for index in range(count)]

    @staticmethod
    def _usage(words: list[str]) -> text_pb2.Usage:
        return text_pb2.Usage(prompt_tokens=3, completion_tokens=len(words), total_tokens=3 + len(words))

    @staticmethod
    def _logprobs(params: text_pb2.TextParams, index: int, word: str) -> list[text_pb2.TokenLogprob]:
        """Word i has logprob -i/4 (exact in float32); alternatives " a0", " a1"… fall in logprob, the last -inf."""
        if not params.logprobs:
            return []
        tops = [
            text_pb2.TopLogprob(
                token_id=1000 + rank, token=f" a{rank}", token_bytes=f" a{rank}".encode(), logprob=-rank
            )
            for rank in range(params.top_logprobs)
        ]
        if tops:
            tops[-1].logprob = float("-inf")
        entry = text_pb2.TokenLogprob(
            token_id=index, token=word, token_bytes=word.encode(), logprob=-index / 4, top_logprobs=tops
        )
        return [entry]

    @staticmethod
    def _forced_call(params: text_pb2.TextParams) -> text_pb2.ToolCall | None:
        if params.tool_choice.WhichOneof("choice") != "name":
            return None
        return text_pb2.ToolCall(id=TOOL_CALL_ID, name=params.tool_choice.name, arguments=TOOL_ARGUMENTS)

    async def Generate(self, request: text_pb2.GenerateRequest, context: grpc.aio.ServicerContext):
        with self.log.call(request) as command:
            if command.startswith("fail:"):
                await abort_for(command, context)
            words = await self._words(request, context)
            if command == "hang":
                await asyncio.sleep(3600)
            if command == "slow":
                await asyncio.sleep(SLOW_SECONDS * len(words))
            prefix = request.params.prompt if request.params.include_prompt else ""
            call = self._forced_call(request.params)
            return text_pb2.GenerateResponse(
                text="" if call else prefix + "".join(words),
                token_ids=list(range(len(words))),
                finish_reason=text_pb2.FINISH_REASON_TOOL_CALLS if call else text_pb2.FINISH_REASON_LENGTH,
                usage=self._usage(words),
                timings=text_pb2.Timings(queue_seconds=0.01, time_to_first_token_seconds=0.02, total_seconds=0.1),
                request_id=request.request_id or self.name,
                logprobs=[
                    entry for index, word in enumerate(words) for entry in self._logprobs(request.params, index, word)
                ],
                tool_calls=[call] if call else [],
            )

    async def GenerateStream(self, request: text_pb2.GenerateStreamRequest, context: grpc.aio.ServicerContext):
        with self.log.call(request) as command:
            if command.startswith("fail:"):
                await abort_for(command, context)
            words = await self._words(request, context)
            request_id = request.request_id or self.name
            if request.params.include_prompt:
                yield text_pb2.GenerateStreamResponse(text=request.params.prompt, request_id=request_id)
            call = self._forced_call(request.params)
            for index, word in enumerate(words):
                if command == "midfail" and index == 2:
                    await abort_for("fail:INTERNAL:reason=INTERNAL", context)
                if command == "slow":
                    await asyncio.sleep(SLOW_SECONDS)
                yield text_pb2.GenerateStreamResponse(
                    text="" if call else word,
                    token_ids=[index],
                    request_id=request_id,
                    logprobs=self._logprobs(request.params, index, word),
                )
            if call:
                half = len(call.arguments) // 2
                first = text_pb2.ToolCallDelta(id=call.id, name=call.name, arguments=call.arguments[:half])
                rest = text_pb2.ToolCallDelta(arguments=call.arguments[half:])
                for piece in (first, rest):
                    yield text_pb2.GenerateStreamResponse(tool_calls=[piece], request_id=request_id)
            yield text_pb2.GenerateStreamResponse(
                finish_reason=text_pb2.FINISH_REASON_TOOL_CALLS if call else text_pb2.FINISH_REASON_LENGTH,
                usage=self._usage(words),
                timings=text_pb2.Timings(queue_seconds=0.01, time_to_first_token_seconds=0.02, total_seconds=0.1),
                request_id=request_id,
            )

    async def GetModelInfo(self, request: text_pb2.GetModelInfoRequest, context: grpc.aio.ServicerContext):
        return text_pb2.GetModelInfoResponse(
            model_id=self.name,
            dtype="float32",
            device="cpu",
            limits=text_pb2.TextLimits(
                max_new_tokens_limit=MAX_NEW_TOKENS, max_prompt_chars=32768, max_top_logprobs=MAX_TOP_LOGPROBS
            ),
            stats=text_pb2.EngineStats(active_requests=self.log.active, queued_requests=0),
        )


class FakeImageService(image_service_pb2_grpc.ImageGenerationServiceServicer):
    """Answers ``num_images`` fake images (bytes ``b"image-<i>"``) after one progress message per step."""

    def __init__(self, name: str = "fake-image") -> None:
        self.name = name
        self.log = CallLog()

    @staticmethod
    async def _images(
        params: image_pb2.ImageParams, context: grpc.aio.ServicerContext
    ) -> list[image_pb2.GeneratedImage]:
        count = params.num_images if params.HasField("num_images") else 1
        steps = params.num_inference_steps if params.HasField("num_inference_steps") else 50
        checks = [
            ("params.num_images", 1 <= count <= MAX_IMAGES),
            ("params.num_inference_steps", 1 <= steps <= MAX_STEPS),
            ("params.width", not params.width or MIN_SIDE <= params.width <= MAX_SIDE),
            ("params.height", not params.height or MIN_SIDE <= params.height <= MAX_SIDE),
            ("params.prompt", bool(params.prompt)),
        ]
        await refuse_out_of_range(checks, context)
        seed = params.seed if params.HasField("seed") else 1234
        return [
            image_pb2.GeneratedImage(
                data=f"image-{index}".encode(),
                mime_type="image/png",
                seed=seed + index,
                width=params.width or 512,
                height=params.height or 512,
                index=index,
            )
            for index in range(count)
        ]

    @staticmethod
    def _timings(count: int) -> image_pb2.Timings:
        return image_pb2.Timings(queue_seconds=0.01, inference_seconds=0.5, total_seconds=0.6, batch_size=count)

    async def Generate(self, request: image_pb2.GenerateRequest, context: grpc.aio.ServicerContext):
        with self.log.call(request) as command:
            if command.startswith("fail:"):
                await abort_for(command, context)
            if command == "slow":
                await asyncio.sleep(3600)
            images = await self._images(request.params, context)
            return image_pb2.GenerateResponse(
                images=images, timings=self._timings(len(images)), request_id=request.request_id
            )

    async def GenerateStream(self, request: image_pb2.GenerateStreamRequest, context: grpc.aio.ServicerContext):
        with self.log.call(request) as command:
            if command.startswith("fail:"):
                await abort_for(command, context)
            images = await self._images(request.params, context)
            steps = request.params.num_inference_steps if request.params.HasField("num_inference_steps") else 50
            for step in range(1, steps + 1):
                if command == "midfail" and step == 3:
                    await abort_for("fail:RESOURCE_EXHAUSTED:reason=OUT_OF_MEMORY", context)
                if command == "slow":
                    await asyncio.sleep(SLOW_SECONDS)
                progress = image_pb2.StepProgress(step=step, total_steps=steps, elapsed_seconds=step * 0.01)
                yield image_pb2.GenerateStreamResponse(progress=progress, request_id=request.request_id)
            for image in images:
                yield image_pb2.GenerateStreamResponse(
                    image=image, timings=self._timings(len(images)), request_id=request.request_id
                )

    async def GetModelInfo(self, request: image_pb2.GetModelInfoRequest, context: grpc.aio.ServicerContext):
        return image_pb2.GetModelInfoResponse(
            model_id=self.name,
            device="cpu",
            dtype="float32",
            limits=image_pb2.ImageLimits(
                min_size=MIN_SIDE, max_size=MAX_SIDE, size_multiple=8, max_steps=MAX_STEPS, max_num_images=MAX_IMAGES
            ),
            stats=image_pb2.ImageStats(active_requests=self.log.active),
        )


class FakeBackend:
    """One grpc.aio server on a free port serving a fake and the standard health service."""

    def __init__(self, servicer: FakeTextService | FakeImageService) -> None:
        self.servicer = servicer
        self.health = health.aio.HealthServicer()
        self.server = grpc.aio.server()
        self.port = 0

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> CallLog:
        return self.servicer.log

    async def start(self) -> "FakeBackend":
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        if isinstance(self.servicer, FakeTextService):
            text_service_pb2_grpc.add_TextGenerationServiceServicer_to_server(self.servicer, self.server)
        else:
            image_service_pb2_grpc.add_ImageGenerationServiceServicer_to_server(self.servicer, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        await self.server.start()
        await self.set_serving(True)
        return self

    async def set_serving(self, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        await self.health.set("", status)

    async def stop(self) -> None:
        await self.server.stop(0)
