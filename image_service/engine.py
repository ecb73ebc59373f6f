"""The image engine: one worker thread that owns the pipeline and runs queued requests in batches.

Only the worker thread touches the pipeline, so model work never runs on the event loop and pipeline
calls never overlap. The engine knows nothing of gRPC: it takes checked GenerationParams and gives back
step events and PIL images through each request's ImageJob.
"""

import asyncio
import gc
import logging
import threading
import time
from dataclasses import dataclass

import torch
from PIL.Image import Image

from image_service.batching import BatchQueue
from image_service.encoding import EncodedImage, encode_image
from image_service.generation_params import GenerationParams
from image_service.image_job import ImageJob, ImagesReady, StepDone
from image_service.loading import LoadedPipeline
from image_service.pipeline_call import CallAbandoned, CallInput, run_pipeline_call
from image_service.schedulers import SchedulerCatalog
from serving_core.out_of_memory import is_out_of_memory
from serving_core.request_errors import OutOfDeviceMemory, RequestError, ShuttingDown
from serving_core.structured_logging import log_fields

logger = logging.getLogger(__name__)

OUT_OF_MEMORY_ADVICE = (
    "out of device memory for {images} image(s) of {width}x{height}; retry with a smaller size or fewer "
    "images, or have the operator turn on HEARTH_IMAGE_ATTENTION_SLICING, HEARTH_IMAGE_VAE_SLICING / "
    "HEARTH_IMAGE_VAE_TILING or HEARTH_IMAGE_MODEL_CPU_OFFLOAD"
)


PREVIEW_FORMAT = "jpeg"
PREVIEW_QUALITY = 75  # a preview is a glance: a third of the bytes of quality 95


class InternalError(RequestError):
    """A bug: the pipeline call failed for a reason that is not the request's fault."""


@dataclass(frozen=True)
class ImageBatching:
    """How the engine groups requests into pipeline calls."""

    max_batch_images: int
    batch_wait_seconds: float
    max_queue: int


@dataclass(frozen=True)
class ImageStats:
    """Live counts, for GetModelInfo and tests."""

    active_requests: int
    queued_requests: int
    finished_requests: int
    pipeline_calls: int
    peak_batch_requests: int
    last_batch_requests: int


class ImageEngine:
    """Accepts requests from the event loop and runs them on its own worker thread."""

    def __init__(self, loaded: LoadedPipeline, catalog: SchedulerCatalog, batching: ImageBatching) -> None:
        self.loaded = loaded
        self.catalog = catalog
        self.batching = batching
        self._queue: BatchQueue[ImageJob] = BatchQueue(
            max_queue=batching.max_queue,
            max_batch_images=batching.max_batch_images,
            wait_seconds=batching.batch_wait_seconds,
        )
        self._lock = threading.Lock()
        self._active = 0
        self._finished = 0
        self._calls = 0
        self._peak_batch = 0
        self._last_batch = 0
        self._worker = threading.Thread(target=self._work, name="image-pipeline", daemon=True)
        self._closed = False

    def warm_up(self, params: GenerationParams) -> None:
        """One small call before the worker starts, so the first request does not pay one-time set-up costs.

        Runs on the caller's thread; the worker thread has not started yet, so the pipeline is not shared.
        """
        pipeline = self.loaded.modes.get(params.mode)
        run_pipeline_call(
            pipeline, self.catalog, params, call_inputs(params), on_step=lambda *_: None, abandoned=lambda: False
        )

    def start(self) -> None:
        self._worker.start()

    def close(self) -> None:
        """Stops taking batches; a call in progress finishes on the (daemon) worker thread."""
        self._closed = True
        self._queue.close()

    def submit(self, params: GenerationParams, request_id: str, deadline: float | None = None) -> ImageJob:
        """Queues a request; raises QueueFull when the queue is full and ShuttingDown once the engine is closed."""
        if self._closed:
            raise ShuttingDown("the image service is shutting down")
        job = ImageJob(params, request_id, asyncio.get_running_loop(), deadline)
        self._queue.put(job)
        return job

    def cancel(self, job: ImageJob) -> None:
        """The client went away: a waiting request leaves the queue, a running one is dropped at the next step."""
        job.mark_cancelled()
        if self._queue.discard(job):
            self._count_finished(job, "cancelled")

    def stats(self) -> ImageStats:
        with self._lock:
            return ImageStats(
                active_requests=self._active,
                queued_requests=len(self._queue),
                finished_requests=self._finished,
                pipeline_calls=self._calls,
                peak_batch_requests=self._peak_batch,
                last_batch_requests=self._last_batch,
            )

    def _work(self) -> None:
        while (batch := self._queue.take_batch()) is not None:
            live = [job for job in batch if not job.gone]
            for job in batch:
                if job not in live:
                    self._count_finished(job, "cancelled")
            try:
                if live:
                    self._run_batch(live)
            except Exception:
                logger.exception("batch bookkeeping failed")
                for job in live:
                    if not job.finished:
                        job.fail(InternalError("image generation failed; see the service log"))

    def _run_batch(self, jobs: list[ImageJob]) -> None:
        params = jobs[0].params
        inputs = [item for job in jobs for item in call_inputs(job.params)]
        with self._lock:
            self._active = len(jobs)
            self._calls += 1
            self._last_batch = len(jobs)
            self._peak_batch = max(self._peak_batch, len(jobs))
        for job in jobs:
            job.batch_requests = len(jobs)
        started = time.monotonic()
        steps_done = 0

        def on_step(step: int, latents: torch.Tensor) -> None:
            nonlocal steps_done
            steps_done = step
            first_row = 0
            for job in jobs:
                if not job.gone:
                    job.steps_done = step
                    preview = self._preview(latents[first_row]) if job.params.wants_preview(step) else None
                    job.post(StepDone(step, params.steps_run, job.elapsed(), preview))
                first_row += job.params.num_images

        outcome = "ok"
        try:
            images = run_pipeline_call(
                self.loaded.modes.get(params.mode),
                self.catalog,
                params,
                inputs,
                on_step=on_step,
                abandoned=lambda: all(job.gone for job in jobs),
            )
        except CallAbandoned:
            outcome = "abandoned"
            self._end_batch(jobs, "cancelled")
        except Exception as error:
            outcome = "failed"
            self._fail_batch(jobs, params, error)
        else:
            self._deliver(jobs, images, started, len(inputs))
        log_fields(
            logger,
            "pipeline call",
            request_ids=[job.request_id for job in jobs],
            requests=len(jobs),
            images=len(inputs),
            width=params.width,
            height=params.height,
            mode=params.mode.value,
            steps=params.num_inference_steps,
            steps_run=params.steps_run,
            steps_done=steps_done,
            scheduler=params.scheduler,
            outcome=outcome,
            seconds=round(time.monotonic() - started, 4),
        )

    def _preview(self, latents: torch.Tensor) -> EncodedImage:
        """One image's preview: the fitted latent-to-RGB projection, encoded small (no VAE decode)."""
        return encode_image(self.loaded.previewer.preview(latents), PREVIEW_FORMAT, "", PREVIEW_QUALITY)

    def _deliver(self, jobs: list[ImageJob], images: list[Image], started: float, batch_images: int) -> None:
        """Hands each request its slice of the call's images; those whose clients left get nothing.

        The call counts as over before any image is posted, so a client that has its images never sees it
        still active in the stats.
        """
        inference_seconds = time.monotonic() - started
        with self._lock:
            self._active = 0
        first = 0
        for job in jobs:
            count = job.params.num_images
            if not job.gone:
                ready = ImagesReady(
                    images[first : first + count],
                    job.params.seeds,
                    queue_seconds=started - job.arrived,
                    inference_seconds=inference_seconds,
                    batch_images=batch_images,
                )
                job.post(ready)
            first += count
        self._end_batch(jobs, "ok")

    def _fail_batch(self, jobs: list[ImageJob], params: GenerationParams, error: Exception) -> None:
        """Out of memory is the request's size, not a crash: free what the call held and keep serving."""
        if is_out_of_memory(error):
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            images = sum(job.params.num_images for job in jobs)
            refusal: RequestError = OutOfDeviceMemory(
                OUT_OF_MEMORY_ADVICE.format(images=images, width=params.width, height=params.height)
            )
            logger.warning("pipeline call out of memory", extra={"fields": {"images": images}})
        else:
            logger.exception("pipeline call failed")
            refusal = InternalError(f"image generation failed: {type(error).__name__}; see the service log")
        for job in jobs:
            job.fail(refusal)
        self._end_batch(jobs, "error")

    def _end_batch(self, jobs: list[ImageJob], outcome: str) -> None:
        with self._lock:
            self._active = 0
        for job in jobs:
            self._count_finished(job, "cancelled" if job.gone else outcome)

    def _count_finished(self, job: ImageJob, outcome: str) -> None:
        if not job.finished:
            job.finish(outcome)
        with self._lock:
            self._finished += 1


def call_inputs(params: GenerationParams) -> list[CallInput]:
    """The call's inputs for one request: one per image, each with its seed and the request's edit input."""
    edit = params.edit
    image, mask = (edit.image, edit.mask) if edit else (None, None)
    return [CallInput(params.prompt, params.negative_prompt, seed, image, mask) for seed in params.seeds]
