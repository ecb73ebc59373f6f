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
from collections.abc import AsyncIterator
from dataclasses import dataclass
from math import ceil

import torch
from transformers import GenerationConfig
from transformers.generation.configuration_utils import ContinuousBatchingConfig
from transformers.generation.continuous_batching import ContinuousBatchingManager
from transformers.generation.continuous_batching.requests import GenerationOutput

from serving_core.model_service import ModelLoadError
from serving_core.request_errors import NotReady, RequestError
from text_service import transformers_internals as internals
from text_service.engine import (
    Completion,
    DecodeSteps,
    EngineCapabilities,
    EngineDescription,
    EngineEvent,
    EngineRequest,
    EngineStats,
    FinishReason,
    TextBatching,
    TextEngine,
)
from text_service.guide_matcher import guide_tokenizer
from text_service.live_requests import LiveRequest, LiveRequests, generation_error
from text_service.loading import LoadedModel
from text_service.request_sampler import SLOT_KWARG, RequestSampler

logger = logging.getLogger(__name__)

ENGINE_NAME = "transformers-continuous-batching"
CAPABILITIES = EngineCapabilities(
    guided_kinds=("json_schema", "regex", "choice", "grammar"), logprobs=True, max_top_logprobs=5
)
PAGE_SIZE = 256
STOP_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class _Ticket:
    """How the manager knows a request: its own id (unique even when a client reuses one later) and sampler slot."""

    manager_id: str
    slot: int


class TransformersEngine(TextEngine):
    """Serves many requests at once through one ContinuousBatchingManager."""

    def __init__(self, loaded: LoadedModel, batching: TextBatching) -> None:
        self._loaded = loaded
        self._batching = batching
        self._eos = set(loaded.eos_token_ids)
        self._steps = DecodeSteps()
        self._sampler = RequestSampler(self._steps, guide_tokenizer(loaded.tokenizer, loaded.model.config.vocab_size))
        tokenizer = internals.rust_tokenizer(loaded.tokenizer)
        self._live: LiveRequests[_Ticket] = LiveRequests(tokenizer, self._eos, batching)
        self._ids = itertools.count()
        self._replacing: asyncio.Task[None] | None = None
        self._manager = self._new_manager()
        self.description = EngineDescription(
            name=ENGINE_NAME,
            max_batch_size=batching.max_batch_size,
            attention=internals.attention_implementation(loaded.model),
        )
        self.capabilities = CAPABILITIES

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
        internals.install_logits_processor(manager, self._sampler)
        return manager

    def submit(self, request: EngineRequest) -> None:
        self._live.check_open()
        if self._replacing is not None or self._manager_crashed():
            self._replace_manager_soon()
            raise NotReady("the generation loop is restarting after a failure; retry in a moment")
        slot = self._sampler.add(request.sampling, request.guide, request.top_logprobs)
        ticket = _Ticket(f"{request.request_id}#{next(self._ids)}", slot)
        try:
            live = self._live.admit(request, ticket)
        except RequestError:
            self._sampler.remove(ticket.slot)
            raise
        self._manager.register_result_handler(ticket.manager_id, lambda output: self._on_output(live, output))
        self._manager.add_request(
            request.prompt_ids,
            request_id=ticket.manager_id,
            max_new_tokens=request.sampling.max_new_tokens,
            streaming=True,
            eos_token_id=sorted(self._eos) or -1,
            **{SLOT_KWARG: ticket.slot},
        )

    def stream(self, request_id: str) -> AsyncIterator[EngineEvent]:
        return self._live.events(request_id)

    def cancel(self, request_id: str) -> Completion | None:
        live = self._live.get(request_id)
        if live is None or live.completion is not None:
            return None
        self._manager.cancel_request(live.ticket.manager_id)
        completion = self._live.complete(live, FinishReason.CANCELLED)
        self._forget(live)
        return completion

    def stats(self) -> EngineStats:
        active, queued = internals.request_counts(self._manager)
        return EngineStats(
            active_requests=active,
            queued_requests=queued,
            finished_requests=self._live.finished,
            generated_tokens=self._live.generated_tokens,
            peak_batch_size=self._steps.peak_batch_size,
            last_batch_size=self._steps.last_batch_size,
            decode_steps=self._steps.decode_steps,
        )

    async def close(self) -> None:
        self._live.close()
        for live in self._live:
            self.cancel(live.request.request_id)
        await asyncio.to_thread(self._manager.stop, block=True, timeout=STOP_TIMEOUT_SECONDS)

    def _on_output(self, live: LiveRequest[_Ticket], output: GenerationOutput) -> None:
        """Runs on the event loop for every step that gave this request a token (and when it fails)."""
        if live.completion is not None:
            return
        if output.error is not None:
            self._live.fail(live, generation_error(output.error))
            self._forget(live)
            if self._manager_crashed():
                self._replace_manager_soon()
            return
        done = len(live.token_ids)
        new_ids = output.generated_tokens[done:]
        logprobs = None
        if live.request.top_logprobs is not None:
            logprobs = self._sampler.logprobs(live.ticket.slot)[done : done + len(new_ids)]
        if self._live.deliver(live, new_ids, output.is_finished(), output.lifespan[0], logprobs):
            self._manager.cancel_request(live.ticket.manager_id)
        if live.completion is not None:
            self._forget(live)

    def _manager_crashed(self) -> bool:
        return internals.generation_thread_died(self._manager)

    def _replace_manager_soon(self) -> None:
        if self._replacing is None:
            self._replacing = asyncio.get_running_loop().create_task(self._replace_manager())

    async def _replace_manager(self) -> None:
        """Waits for the dead generation thread to finish failing its requests, then starts a fresh manager."""
        dead = self._manager
        await asyncio.to_thread(dead.stop, block=True, timeout=STOP_TIMEOUT_SECONDS)
        logger.error("generation loop died; starting a new one", exc_info=internals.fatal_error(dead))
        self._manager = self._new_manager()
        self._start(self._manager)
        self._replacing = None

    def _forget(self, live: LiveRequest[_Ticket]) -> None:
        """Drops the manager's and the sampler's references to a request that ended."""
        self._sampler.remove(live.ticket.slot)
        internals.forget_request(self._manager, live.ticket.manager_id)
