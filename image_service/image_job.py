"""One accepted request as the engine sees it, and the events it sends back to the event loop.

The worker thread produces events; the request's coroutine consumes them from an asyncio queue. Events
cross threads only through ``loop.call_soon_threadsafe``, so nothing on the event loop ever waits for the
pipeline. Cancellation goes the other way as a flag the worker reads at every denoising step.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from PIL.Image import Image

from image_service.encoding import EncodedImage
from image_service.generation_params import GenerationParams
from serving_core.request_errors import RequestError


@dataclass(frozen=True)
class StepDone:
    """A denoising step of the request's pipeline call has finished; ``preview`` when the request asked for one."""

    step: int
    total_steps: int
    elapsed_seconds: float
    preview: EncodedImage | None = None


@dataclass(frozen=True)
class ImagesReady:
    """The request's images, in index order, and what its pipeline call cost."""

    images: list[Image]
    seeds: list[int]
    queue_seconds: float
    inference_seconds: float
    batch_images: int


@dataclass(frozen=True)
class _Failed:
    error: RequestError


_END = object()


@dataclass(eq=False)
class ImageJob:
    """A request from acceptance to its last event. ``eq=False``: jobs are compared by identity in the queue."""

    params: GenerationParams
    request_id: str
    loop: asyncio.AbstractEventLoop
    deadline: float | None = None
    arrived: float = field(default_factory=time.monotonic)
    steps_done: int = 0
    batch_requests: int = 0
    outcome: str = "queued"
    _cancelled: bool = False
    _events: asyncio.Queue[object] = field(default_factory=asyncio.Queue)

    @property
    def batch_key(self) -> tuple[object, ...]:
        """Requests with equal keys share a pipeline call; an empty negative prompt is encoded differently
        from a given one by SDXL (zeros), so that difference splits batches too."""
        return (*self.params.batch_key, bool(self.params.negative_prompt))

    @property
    def num_images(self) -> int:
        return self.params.num_images

    @property
    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline

    @property
    def gone(self) -> bool:
        """The client cancelled or the deadline passed: the images would reach nobody."""
        return self._cancelled or self.expired

    @property
    def finished(self) -> bool:
        """The engine is done with the job (its last event is posted or on its way)."""
        return self.outcome != "queued"

    def mark_cancelled(self) -> None:
        """Called from the event loop; the worker sees it at the next denoising step."""
        self._cancelled = True

    def elapsed(self) -> float:
        return time.monotonic() - self.arrived

    def post(self, event: StepDone | ImagesReady) -> None:
        """Sends an event from the worker thread to the request's coroutine."""
        self._post(event)

    def fail(self, error: RequestError) -> None:
        """Ends the request with an error the client will see."""
        self._post(_Failed(error))
        self.finish("error")

    def finish(self, outcome: str) -> None:
        """Ends the event stream (after the images, or with nothing for a request nobody waits for)."""
        self.outcome = outcome
        self._post(_END)

    async def events(self) -> AsyncIterator[StepDone | ImagesReady]:
        """Step events in order, then the images; raises the RequestError the request failed with."""
        while (event := await self._events.get()) is not _END:
            if isinstance(event, _Failed):
                raise event.error
            assert isinstance(event, StepDone | ImagesReady)
            yield event

    def _post(self, event: object) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: the process is exiting and nobody listens
            self.loop.call_soon_threadsafe(self._events.put_nowait, event)
