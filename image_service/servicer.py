"""The gRPC face of the image engine: proto messages in, engine calls, proto messages out.

Each RPC validates its params, submits one job, relays the job's events and encodes the images off the
event loop. A call that ends early (client cancel, deadline) cancels its job in ``finally``, which frees its
queue slot or lets the worker drop it at the next step. Every request ends with one JSON log line.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import grpc

from hearth.image.v1 import image_service_pb2 as pb
from hearth.image.v1 import image_service_pb2_grpc as pb_grpc
from image_service.encoding import encode_image, parameters_text
from image_service.engine import ImageEngine, InternalError
from image_service.generation_params import GenerationParams
from image_service.image_job import ImageJob, ImagesReady, StepDone
from image_service.validation import RequestValidator
from serving_core.request_errors import Cancelled, DeadlineExceeded, NotReady, RequestError, abort_with
from serving_core.structured_logging import log_fields

logger = logging.getLogger(__name__)


@dataclass
class _RequestLog:
    """What the request's log line reports; filled in as the request goes."""

    rpc: str
    request_id: str = ""
    outcome: str = "ok"
    params: GenerationParams | None = None
    job: ImageJob | None = None
    ready: ImagesReady | None = None
    encode_seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)

    def fields(self) -> dict[str, Any]:
        line: dict[str, Any] = {"rpc": self.rpc, "request_id": self.request_id, "outcome": self.outcome}
        if self.params is not None:
            p = self.params
            line.update(
                width=p.width,
                height=p.height,
                steps=p.num_inference_steps,
                scheduler=p.scheduler,
                guidance_scale=p.guidance_scale,
                num_images=p.num_images,
                seed=p.seed,
                output_format=p.output_format,
                prompt_chars=len(p.prompt),
            )
        if self.job is not None:
            line.update(steps_done=self.job.steps_done, batch_requests=self.job.batch_requests)
        if self.ready is not None:
            line.update(
                queue_s=round(self.ready.queue_seconds, 4),
                inference_s=round(self.ready.inference_seconds, 4),
                batch_images=self.ready.batch_images,
            )
        line.update(encode_s=round(self.encode_seconds, 4), total_s=round(time.monotonic() - self.started, 4))
        return line


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
        async with self._handling("Generate", context) as log:
            job = self._submit(request.params, request.request_id, context, log)
            try:
                async for event in job.events():
                    if isinstance(event, ImagesReady):
                        images = [await self._encode(job, event, index, log) for index in range(len(event.images))]
                        timings = self._timings(event, log)
                        return pb.GenerateResponse(images=images, timings=timings, request_id=job.request_id)
            finally:
                self._release(job)
            raise _ended_without_images(job)
        raise AssertionError("unreachable: every refusal aborts the call")

    async def GenerateStream(
        self, request: pb.GenerateStreamRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.GenerateStreamResponse]:
        async with self._handling("GenerateStream", context) as log:
            job = self._submit(request.params, request.request_id, context, log)
            try:
                async for event in job.events():
                    if isinstance(event, StepDone):
                        progress = pb.StepProgress(
                            step=event.step, total_steps=event.total_steps, elapsed_seconds=event.elapsed_seconds
                        )
                        yield pb.GenerateStreamResponse(progress=progress, request_id=job.request_id)
                        continue
                    for index in range(len(event.images)):
                        image = await self._encode(job, event, index, log)
                        timings = self._timings(event, log)
                        yield pb.GenerateStreamResponse(image=image, timings=timings, request_id=job.request_id)
                    return
            finally:
                self._release(job)
            raise _ended_without_images(job)

    async def GetModelInfo(
        self, request: pb.GetModelInfoRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetModelInfoResponse:
        if self._engine is None or self._validator is None:
            await abort_with(context, NotReady("the image pipeline is still loading"))
            raise AssertionError("unreachable: abort_with raises")
        engine, validator = self._engine, self._validator
        loaded, limits, defaults, stats = engine.loaded, validator.limits, validator.defaults, engine.stats()
        return pb.GetModelInfoResponse(
            model_id=loaded.model_id,
            pipeline_class=type(loaded.pipeline).__name__,
            device=str(loaded.device),
            dtype=str(loaded.dtype).removeprefix("torch."),
            schedulers=engine.catalog.names,
            limits=pb.ImageLimits(**asdict(limits), max_queue=engine.batching.max_queue),
            defaults=pb.ImageDefaults(**asdict(defaults)),
            memory=pb.MemoryOptions(**asdict(loaded.memory)),
            batching=pb.BatchingSettings(
                max_batch_images=engine.batching.max_batch_images,
                batch_wait_ms=round(engine.batching.batch_wait_seconds * 1000),
            ),
            stats=pb.ImageStats(**asdict(stats)),
            safety_checker=loaded.has_safety_checker,
        )

    def _submit(
        self, params: pb.ImageParams, request_id: str, context: grpc.aio.ServicerContext, log: _RequestLog
    ) -> ImageJob:
        if self._engine is None or self._validator is None:
            raise NotReady("the image pipeline is still loading")
        log.request_id = self._validator.request_id(request_id)
        log.params = self._validator.params(params)
        remaining = context.time_remaining()
        deadline = None if remaining is None else time.monotonic() + remaining
        log.job = self._engine.submit(log.params, log.request_id, deadline)
        return log.job

    def _release(self, job: ImageJob) -> None:
        """Cancels the job unless it has finished: a no-op after the images, a freed slot or step otherwise."""
        assert self._engine is not None
        if not job.finished:
            self._engine.cancel(job)

    async def _encode(self, job: ImageJob, ready: ImagesReady, index: int, log: _RequestLog) -> pb.GeneratedImage:
        assert self._engine is not None
        params = job.params
        seed = ready.seeds[index]
        label = self._engine.catalog.label(params.scheduler)
        text = parameters_text(params, seed, label, self._engine.loaded.model_id)
        started = time.monotonic()
        encoded = await asyncio.to_thread(encode_image, ready.images[index], params.output_format, text)
        log.encode_seconds += time.monotonic() - started
        return pb.GeneratedImage(
            data=encoded.data,
            mime_type=encoded.mime_type,
            seed=seed,
            width=params.width,
            height=params.height,
            index=index,
        )

    @staticmethod
    def _timings(ready: ImagesReady, log: _RequestLog) -> pb.Timings:
        """The request's Timings so far; the log line reports the same figures."""
        log.ready = ready
        return pb.Timings(
            queue_seconds=ready.queue_seconds,
            inference_seconds=ready.inference_seconds,
            encode_seconds=log.encode_seconds,
            total_seconds=time.monotonic() - log.started,
            batch_size=ready.batch_images,
        )

    @asynccontextmanager
    async def _handling(self, rpc: str, context: grpc.aio.ServicerContext) -> AsyncIterator[_RequestLog]:
        """Turns refusals into their gRPC status and bugs into INTERNAL, and writes the request's log line."""
        log = _RequestLog(rpc)
        try:
            yield log
        except RequestError as error:
            log.outcome = error.code.name.lower()
            await abort_with(context, error)
        except asyncio.CancelledError:
            log.outcome = "deadline_exceeded" if log.job is not None and log.job.expired else "cancelled"
            raise
        except Exception:
            log.outcome = "internal"
            logger.exception("request failed", extra={"fields": {"request_id": log.request_id}})
            await abort_with(context, InternalError(f"internal error (request id {log.request_id or 'unknown'})"))
        finally:
            log_fields(logger, "request", **log.fields())
