"""The gRPC face of the image engine: proto messages in, engine calls, proto messages out.

Each RPC validates its params, submits one job, relays the job's events and encodes the images off the
event loop. A call that ends early (client cancel, deadline) cancels its job in ``finally``, which frees its
queue slot or lets the worker drop it at the next step. Every RPC runs in serving_core's request scope: one
JSON log line, whatever its outcome, and every error as its status.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import asdict

import grpc

from hearth.image.v1 import image_service_pb2 as pb
from hearth.image.v1 import image_service_pb2_grpc as pb_grpc
from image_service.encoding import encode_image, parameters_text
from image_service.engine import ImageEngine
from image_service.generation_params import GenerationParams, Mode
from image_service.image_job import ImageJob, ImagesReady, StepDone
from image_service.input_images import INPUT_FORMATS
from image_service.validation import RequestValidator
from serving_core.request_errors import Cancelled, DeadlineExceeded, NotReady, RequestError
from serving_core.request_scope import RequestScope, request_scope

logger = logging.getLogger(__name__)

PROTO_MODES = {
    Mode.TEXT_TO_IMAGE: pb.IMAGE_MODE_TEXT_TO_IMAGE,
    Mode.IMAGE_TO_IMAGE: pb.IMAGE_MODE_IMAGE_TO_IMAGE,
    Mode.INPAINTING: pb.IMAGE_MODE_INPAINTING,
}


def _report_params(scope: RequestScope, p: GenerationParams) -> None:
    scope.report(
        width=p.width,
        height=p.height,
        steps=p.num_inference_steps,
        scheduler=p.scheduler,
        guidance_scale=p.guidance_scale,
        num_images=p.num_images,
        seed=p.seed,
        output_format=p.output_format,
        prompt_chars=len(p.prompt),
        mode=p.mode.value,
        strength=p.strength,
        steps_run=p.steps_run,
        preview_every=p.preview_every,
    )


def _report_ready(scope: RequestScope, ready: ImagesReady, encode_seconds: float) -> None:
    scope.report(
        queue_s=round(ready.queue_seconds, 4),
        inference_s=round(ready.inference_seconds, 4),
        batch_images=ready.batch_images,
        encode_s=round(encode_seconds, 4),
    )


def _timings(ready: ImagesReady, encode_seconds: float, total_seconds: float) -> pb.Timings:
    return pb.Timings(
        queue_seconds=ready.queue_seconds,
        inference_seconds=ready.inference_seconds,
        encode_seconds=encode_seconds,
        total_seconds=total_seconds,
        batch_size=ready.batch_images,
    )


def _ended_without_images(job: ImageJob) -> RequestError:
    """Why a job's events ended before its images: the engine drops a job whose deadline passed."""
    if job.expired:
        return DeadlineExceeded("the request's deadline passed before its images were ready; its call was stopped")
    return Cancelled("the image service dropped the request before its images were ready")


class ImageServicer(pb_grpc.ImageGenerationServiceServicer):
    """Serves ImageGenerationService; answers UNAVAILABLE until ``attach`` hands it the loaded engine."""

    def __init__(self) -> None:
        self._engine: ImageEngine | None = None
        self._validator: RequestValidator | None = None

    def attach(self, engine: ImageEngine, validator: RequestValidator) -> None:
        self._engine = engine
        self._validator = validator

    async def Generate(self, request: pb.GenerateRequest, context: grpc.aio.ServicerContext) -> pb.GenerateResponse:
        async with request_scope(logger, "Generate", context) as scope:
            job = await self._submit(request.params, request.request_id, context, scope)
            try:
                async for event in job.events():
                    if isinstance(event, ImagesReady):
                        encoded = [await self._encode(job, event, index) for index in range(len(event.images))]
                        encode_seconds = sum(seconds for _, seconds in encoded)
                        _report_ready(scope, event, encode_seconds)
                        timings = _timings(event, encode_seconds, scope.elapsed())
                        images = [image for image, _ in encoded]
                        return pb.GenerateResponse(images=images, timings=timings, request_id=job.request_id)
            finally:
                self._release(job, scope)
            raise _ended_without_images(job)
        raise AssertionError("unreachable: every refusal aborts the call")

    async def GenerateStream(
        self, request: pb.GenerateStreamRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.GenerateStreamResponse]:
        async with request_scope(logger, "GenerateStream", context) as scope:
            job = await self._submit(request.params, request.request_id, context, scope)
            try:
                async for event in job.events():
                    if isinstance(event, StepDone):
                        progress = self._progress(job.params, event)
                        yield pb.GenerateStreamResponse(progress=progress, request_id=job.request_id)
                        continue
                    encode_seconds = 0.0
                    for index in range(len(event.images)):
                        image, seconds = await self._encode(job, event, index)
                        encode_seconds += seconds
                        _report_ready(scope, event, encode_seconds)
                        timings = _timings(event, encode_seconds, scope.elapsed())
                        yield pb.GenerateStreamResponse(image=image, timings=timings, request_id=job.request_id)
                    return
            finally:
                self._release(job, scope)
            raise _ended_without_images(job)

    async def GetModelInfo(
        self, request: pb.GetModelInfoRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetModelInfoResponse:
        async with request_scope(logger, "GetModelInfo", context, routine=True):
            engine, validator = self._ready()
            loaded, limits, defaults, stats = engine.loaded, validator.limits, validator.defaults, engine.stats()
            return pb.GetModelInfoResponse(
                model_id=loaded.model_id,
                pipeline_class=type(loaded.pipeline).__name__,
                device=str(loaded.device),
                dtype=str(loaded.dtype).removeprefix("torch."),
                schedulers=engine.catalog.names,
                limits=pb.ImageLimits(
                    **asdict(limits), max_queue=engine.batching.max_queue, input_formats=list(INPUT_FORMATS.values())
                ),
                defaults=pb.ImageDefaults(**asdict(defaults)),
                memory=pb.MemoryOptions(**asdict(loaded.memory)),
                batching=pb.BatchingSettings(
                    max_batch_images=engine.batching.max_batch_images,
                    batch_wait_ms=round(engine.batching.batch_wait_seconds * 1000),
                ),
                stats=pb.ImageStats(**asdict(stats)),
                safety_checker=loaded.has_safety_checker,
                modes=[PROTO_MODES[mode] for mode in validator.model_modes.modes],
            )
        raise AssertionError("unreachable: every refusal aborts the call")

    def _ready(self) -> tuple[ImageEngine, RequestValidator]:
        if self._engine is None or self._validator is None:
            raise NotReady("the image pipeline is still loading")
        return self._engine, self._validator

    async def _submit(
        self, params: pb.ImageParams, request_id: str, context: grpc.aio.ServicerContext, scope: RequestScope
    ) -> ImageJob:
        """Validates (decoding an edit's images off the event loop) and queues the request."""
        engine, validator = self._ready()
        scope.request_id = validator.request_id(request_id)
        if params.init_image or params.mask_image:
            valid = await asyncio.to_thread(validator.params, params)
        else:
            valid = validator.params(params)
        _report_params(scope, valid)
        remaining = context.time_remaining()
        deadline = None if remaining is None else time.monotonic() + remaining
        return engine.submit(valid, scope.request_id, deadline)

    def _progress(self, params: GenerationParams, event: StepDone) -> pb.StepProgress:
        progress = pb.StepProgress(
            step=event.step, total_steps=event.total_steps, elapsed_seconds=event.elapsed_seconds
        )
        if event.preview is not None:
            _, validator = self._ready()
            scale = validator.limits.size_multiple
            progress.preview.CopyFrom(
                pb.Preview(
                    data=event.preview.data,
                    mime_type=event.preview.mime_type,
                    width=params.width // scale,
                    height=params.height // scale,
                )
            )
        return progress

    def _release(self, job: ImageJob, scope: RequestScope) -> None:
        """Cancels the job unless it has finished: a no-op after the images, a freed slot or step otherwise."""
        scope.report(steps_done=job.steps_done, batch_requests=job.batch_requests)
        if job.expired and not job.finished:
            scope.outcome = "deadline_exceeded"
        assert self._engine is not None
        if not job.finished:
            self._engine.cancel(job)

    async def _encode(self, job: ImageJob, ready: ImagesReady, index: int) -> tuple[pb.GeneratedImage, float]:
        """One image encoded off the loop, and the seconds that took."""
        assert self._engine is not None
        params = job.params
        seed = ready.seeds[index]
        label = self._engine.catalog.label(params.scheduler)
        text = parameters_text(params, seed, label, self._engine.loaded.model_id)
        started = time.monotonic()
        encoded = await asyncio.to_thread(encode_image, ready.images[index], params.output_format, text)
        image = pb.GeneratedImage(
            data=encoded.data,
            mime_type=encoded.mime_type,
            seed=seed,
            width=params.width,
            height=params.height,
            index=index,
        )
        return image, time.monotonic() - started
