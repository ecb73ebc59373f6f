"""The first engine: transformers' continuous batching manager, driven the way its own server drives it.

The manager runs the model on its own thread and hands each step's new tokens to handlers registered per
request (``register_result_handler``); it delivers a whole step with one ``call_soon_threadsafe``, so the
event loop wakes once per step, not once per request, and nothing polls the manager's shared output queue
(whose requeueing is what slows its ``request_id_iter`` down under load). Choices that differ from the
manager's defaults (docs/architecture.md has the measurements):

- the paged cache is sized from settings (capacity in tokens, tokens per forward pass) instead of 60% of
  free RAM, which on CPU would hold gigabytes of cache and attention mask;
- the generation thread runs in inference mode (no autograd bookkeeping at all);
- sampling is done per request by ``RequestSampler`` (the manager itself is set to greedy), which also
  needs accelerator graphs and asynchronous double-buffering off: both replay tensors without calling it.

On the event loop each request turns token ids into text deltas (``StopAwareDetokenizer``) and ends with
one Completion. If the generation thread dies (out of memory, a bug), every request in flight fails with
an error naming the cause and a fresh manager takes over, so the service keeps serving.
"""

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from math import ceil

import torch
from transformers import GenerationConfig
from transformers.generation.configuration_utils import ContinuousBatchingConfig
from transformers.generation.continuous_batching import ContinuousBatchingManager
from transformers.generation.continuous_batching.cb_logits_processors import ContinuousBatchingLogitsProcessorList
from transformers.generation.continuous_batching.continuous_api import BackgroundThreadStatus
from transformers.generation.continuous_batching.requests import GenerationOutput
from transformers.generation.logits_process import LogitsProcessorList

from serving_core.request_errors import InvalidField, NotReady, OutOfDeviceMemory, QueueFull, RequestError
from text_service.engine import (
    Completion,
    EngineDescription,
    EngineEvent,
    EngineRequest,
    EngineStats,
    FinishReason,
    TextDelta,
    TextEngine,
)
from text_service.model_loading import LoadedModel, ModelLoadError
from text_service.request_sampler import SLOT_KWARG, RequestSampler, StepCounter
from text_service.text_stream import StopAwareDetokenizer

logger = logging.getLogger(__name__)

ENGINE_NAME = "transformers-continuous-batching"
PAGE_SIZE = 256
STOP_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class BatchingSettings:
    """How many requests share a forward pass, how many may wait, and how big the paged cache is."""

    max_batch_size: int
    max_queue: int
    max_batch_tokens: int
    kv_cache_tokens: int


@dataclass
class _LiveRequest:
    """One request between submit and its Completion, as the event loop sees it."""

    request: EngineRequest
    manager_id: str
    slot: int
    detokenizer: StopAwareDetokenizer
    events: asyncio.Queue[EngineEvent | RequestError] = field(default_factory=asyncio.Queue)
    token_ids: list[int] = field(default_factory=list)
    unsent_ids: list[int] = field(default_factory=list)
    started_at: float | None = None
    first_token_at: float | None = None
    completion: Completion | None = None


class ContinuousBatchingEngine(TextEngine):
    """Serves many requests at once through one ContinuousBatchingManager."""

    def __init__(self, loaded: LoadedModel, batching: BatchingSettings) -> None:
        self._loaded = loaded
        self._batching = batching
        self._tokenizer = loaded.tokenizer._tokenizer
        self._eos = set(loaded.eos_token_ids)
        self._steps = StepCounter()
        self._sampler = RequestSampler(self._steps)
        self._live: dict[str, _LiveRequest] = {}
        self._ids = itertools.count()
        self._finished = 0
        self._generated = 0
        self._replacing: asyncio.Task[None] | None = None
        self._manager = self._new_manager()
        self.description = EngineDescription(
            name=ENGINE_NAME,
            max_batch_size=batching.max_batch_size,
            attention=str(loaded.model.config._attn_implementation),
        )

    def start(self) -> None:
        """Starts the generation thread (it allocates the paged cache first)."""
        self._start(self._manager)

    @staticmethod
    def _start(manager: ContinuousBatchingManager) -> None:
        with torch.inference_mode():
            manager.start()

    def _new_manager(self) -> ContinuousBatchingManager:
        config = ContinuousBatchingConfig(
            max_requests_per_batch=self._batching.max_batch_size,
            max_batch_tokens=self._batching.max_batch_tokens,
            num_blocks=ceil(self._batching.kv_cache_tokens / PAGE_SIZE),
            page_size=PAGE_SIZE,
            use_cuda_graph=False,
            use_async_batching=False,
        )
        generation = GenerationConfig(do_sample=False, eos_token_id=sorted(self._eos) or None)
        try:
            manager = self._loaded.model.init_continuous_batching(
                generation_config=generation, continuous_batching_config=config
            )
        except ValueError as error:
            raise ModelLoadError(f"attention: the batching manager refuses this model's set-up: {error}") from error
        processors = ContinuousBatchingLogitsProcessorList(LogitsProcessorList([self._sampler]))
        processors.tensors_required = 1
        manager.logit_processor = processors
        return manager

    def submit(self, request: EngineRequest) -> None:
        if request.request_id in self._live:
            raise InvalidField("request_id", f"{request.request_id!r} is already in flight; ids must be unique")
        capacity = self._batching.max_batch_size + self._batching.max_queue
        if len(self._live) >= capacity:
            raise QueueFull(
                f"queue full: {len(self._live)} requests in flight (max_batch_size {self._batching.max_batch_size}"
                f" + max_queue {self._batching.max_queue}); retry later"
            )
        if self._replacing is not None or self._manager_crashed():
            self._replace_manager_soon()
            raise NotReady("the generation loop is restarting after a failure; retry in a moment")
        live = _LiveRequest(
            request=request,
            manager_id=f"{request.request_id}#{next(self._ids)}",
            slot=self._sampler.add(request.sampling),
            detokenizer=StopAwareDetokenizer(self._tokenizer, request.sampling.stop),
        )
        self._live[request.request_id] = live
        self._manager.register_result_handler(live.manager_id, lambda output: self._on_output(live, output))
        self._manager.add_request(
            request.prompt_ids,
            request_id=live.manager_id,
            max_new_tokens=request.sampling.max_new_tokens,
            streaming=True,
            eos_token_id=sorted(self._eos) or -1,
            **{SLOT_KWARG: live.slot},
        )

    def stream(self, request_id: str) -> AsyncIterator[EngineEvent]:
        live = self._live.get(request_id)
        if live is None:
            raise NotReady(f"request {request_id!r} is not in flight")
        return self._events(live)

    async def _events(self, live: _LiveRequest) -> AsyncIterator[EngineEvent]:
        while True:
            event = await live.events.get()
            if isinstance(event, RequestError):
                raise event
            yield event
            if isinstance(event, Completion):
                return

    def cancel(self, request_id: str) -> Completion | None:
        live = self._live.get(request_id)
        if live is None or live.completion is not None:
            return None
        self._manager.cancel_request(live.manager_id)
        return self._complete(live, FinishReason.CANCELLED)

    def stats(self) -> EngineStats:
        processor = self._manager.batch_processor
        scheduler = processor.scheduler if processor is not None else None
        active = len(scheduler.active_requests) if scheduler is not None else 0
        waiting = len(scheduler.waiting_requests) if scheduler is not None else 0
        return EngineStats(
            active_requests=active,
            queued_requests=waiting + self._manager.input_queue.qsize(),
            finished_requests=self._finished,
            generated_tokens=self._generated,
            peak_batch_size=self._steps.peak_batch_size,
            last_batch_size=self._steps.last_batch_size,
            decode_steps=self._steps.decode_steps,
        )

    async def close(self) -> None:
        for request_id in list(self._live):
            self.cancel(request_id)
        await asyncio.to_thread(self._manager.stop, block=True, timeout=STOP_TIMEOUT_SECONDS)

    def _on_output(self, live: _LiveRequest, output: GenerationOutput) -> None:
        """Runs on the event loop for every step that gave this request a token (and when it fails)."""
        if live.completion is not None:
            return
        if output.error is not None:
            self._fail(live, output.error)
            if self._manager_crashed():
                self._replace_manager_soon()
            return
        new_ids = output.generated_tokens[len(live.token_ids) :]
        if new_ids and live.first_token_at is None:
            live.first_token_at = time.perf_counter()
            live.started_at = output.lifespan[0]
        live.token_ids.extend(new_ids)
        live.unsent_ids.extend(new_ids)
        released = live.detokenizer.push(new_ids)
        text = released.text
        reason = None
        if released.stopped:
            self._manager.cancel_request(live.manager_id)
            reason = FinishReason.STOP_SEQUENCE
        elif output.is_finished():
            text += live.detokenizer.flush()
            ended_by_eos = bool(live.token_ids) and live.token_ids[-1] in self._eos
            reason = FinishReason.END_OF_SEQUENCE if ended_by_eos else FinishReason.LENGTH
        if text or (reason is not None and live.unsent_ids):
            live.events.put_nowait(TextDelta(text, live.unsent_ids))
            live.unsent_ids = []
        if reason is not None:
            live.events.put_nowait(self._complete(live, reason))

    def _complete(self, live: _LiveRequest, reason: FinishReason) -> Completion:
        now = time.perf_counter()
        arrival = live.request.arrival
        started = live.started_at if live.started_at is not None else now
        first = live.first_token_at if live.first_token_at is not None else now
        live.completion = Completion(
            finish_reason=reason,
            prompt_tokens=len(live.request.prompt_ids),
            completion_tokens=len(live.token_ids),
            queue_seconds=max(0.0, started - arrival),
            time_to_first_token_seconds=max(0.0, first - arrival),
            total_seconds=max(0.0, now - arrival),
        )
        self._finished += 1
        self._generated += len(live.token_ids)
        self._forget(live)
        return live.completion

    def _fail(self, live: _LiveRequest, message: str) -> None:
        error: RequestError
        if _is_out_of_memory(message):
            error = OutOfDeviceMemory(
                "out of device memory while generating; the request was dropped. Retry with a shorter prompt or "
                "fewer max_new_tokens, or have the operator lower HEARTH_TEXT_MAX_BATCH_SIZE"
            )
        else:
            error = RequestError(f"generation failed: {message}")
        self._complete(live, FinishReason.CANCELLED)
        live.events.put_nowait(error)

    def _manager_crashed(self) -> bool:
        """The generation thread hard-stops only when it died: we never ask for a hard stop ourselves."""
        return self._manager.background_thread_status.local_status >= BackgroundThreadStatus.HARD_STOP

    def _replace_manager_soon(self) -> None:
        if self._replacing is None:
            self._replacing = asyncio.get_running_loop().create_task(self._replace_manager())

    async def _replace_manager(self) -> None:
        """Waits for the dead generation thread to finish failing its requests, then starts a fresh manager."""
        dead = self._manager
        await asyncio.to_thread(dead.stop, block=True, timeout=STOP_TIMEOUT_SECONDS)
        fatal = dead.background_thread_status.fatal_error
        logger.error("generation loop died; starting a new one", exc_info=fatal)
        self._manager = self._new_manager()
        self._start(self._manager)
        self._replacing = None

    def _forget(self, live: _LiveRequest) -> None:
        """Drops every reference to a request that ended, including the manager's handler for it."""
        self._live.pop(live.request.request_id, None)
        self._sampler.remove(live.slot)
        router = self._manager.output_router
        router.result_handlers.pop(live.manager_id, None)
        while not router.output_queue.empty():
            router.output_queue.get_nowait()


def _is_out_of_memory(message: str) -> bool:
    """CUDA and MPS say "out of memory"; the CPU allocator says it "can't allocate memory"."""
    text = message.lower()
    return "out of memory" in text or "can't allocate memory" in text
