"""Starting the text service: what it loads and how it warms up, inside serving_core's service skeleton.

serving_core.model_service listens (health NOT_SERVING), runs ``load`` and switches to SERVING, drains on
SIGTERM and stops the engine. Loading, engine start and the warm-up requests all happen while health still
says NOT_SERVING, so the first client request does not pay the engine's one-time costs (its cache, the
first forward pass).
"""

import asyncio
import logging
import time
from contextlib import AsyncExitStack

from transformers.utils import logging as transformers_logging

from hearth.text.v1 import text_service_pb2 as pb
from hearth.text.v1 import text_service_pb2_grpc as pb_grpc
from serving_core import model_service
from serving_core.model_service import ModelService
from serving_core.structured_logging import log_fields
from text_service.engine import EngineRequest, SamplingOptions, TextEngine
from text_service.engine_choice import load_engine
from text_service.guided import Guide
from text_service.prompts import PromptEncoder
from text_service.servicer import Serving, TextGenerationServicer
from text_service.settings import TextSettings
from text_service.validation import TextLimits

BATCHING_LOGGER = "ContinuousBatchingLogger"
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["TextGenerationService"].full_name
WARM_UP_PROMPT = "A hearth is the fireplace at the heart of a home. Describe one."
# (sampling, guide): greedy, sampled, and guided with logprobs; the first guided request makes OpenVINO build
# xgrammar's view of the vocabulary (about 0.5 s), which should not be a client's wait.
WARM_UP_REQUESTS: tuple[tuple[SamplingOptions, Guide | None], ...] = (
    (SamplingOptions(max_new_tokens=8), None),
    (
        SamplingOptions(max_new_tokens=8, temperature=0.7, top_p=0.9, top_k=40, repetition_penalty=1.1, stop=("\n\n",)),
        None,
    ),
    (SamplingOptions(max_new_tokens=8), Guide("regex", "[a-z ]{1,16}", "guided.regex")),
)

logger = logging.getLogger(__name__)


def route_library_logs() -> None:
    """transformers and its batching manager log through their own stderr handlers: send them through ours (JSON)."""
    transformers_logging.disable_default_handler()
    transformers_logging.enable_propagation()
    batching_logger = logging.getLogger(BATCHING_LOGGER)
    batching_logger.handlers.clear()
    batching_logger.propagate = True


def request_limits(settings: TextSettings, context_length: int) -> TextLimits:
    """The context is also capped by the paged cache: a request the cache cannot hold alone could never run."""
    return TextLimits(
        context_length=min(context_length, settings.kv_cache_tokens),
        default_max_new_tokens=settings.default_max_new_tokens,
        max_new_tokens_limit=settings.max_new_tokens_limit,
        max_prompt_chars=settings.max_prompt_chars,
        max_messages=settings.max_messages,
        max_stop_sequences=settings.max_stop_sequences,
        max_stop_bytes=settings.max_stop_bytes,
        max_queue=settings.max_queue,
    )


async def warm_up(engine: TextEngine, encoder: PromptEncoder) -> None:
    """Runs a greedy, a sampled and a guided request with logprobs through the engine, one after the other."""
    started = time.perf_counter()
    prompt_ids = encoder.encode(WARM_UP_PROMPT, []).token_ids
    for index, (sampling, guide) in enumerate(WARM_UP_REQUESTS):
        request_id = f"warm-up-{index}"
        top_logprobs = 0 if guide is not None else None
        engine.submit(EngineRequest(request_id, prompt_ids, sampling, time.perf_counter(), guide, top_logprobs))
        async for _event in engine.stream(request_id):
            pass
    log_fields(logger, "warmed up", seconds=round(time.perf_counter() - started, 2))


async def load(settings: TextSettings, servicer: TextGenerationServicer, engines: AsyncExitStack) -> None:
    """Loads the model and its engine off the loop, starts and warms the engine up, hands it to the servicer."""
    loaded = await asyncio.to_thread(load_engine, settings)
    engines.push_async_callback(loaded.engine.close)
    loaded.engine.start()
    encoder = PromptEncoder(loaded.tokenizer)
    if settings.warm_up:
        await warm_up(loaded.engine, encoder)
    limits = request_limits(settings, loaded.context_length)
    servicer.attach(Serving(loaded.engine, encoder, limits, loaded.facts))


def run(settings: TextSettings) -> None:
    """Runs the text service until SIGTERM/SIGINT; exits 2 if the model cannot be loaded."""
    servicer = TextGenerationServicer()
    service = ModelService(
        name=SERVICE_NAME,
        add_servicer=lambda server: pb_grpc.add_TextGenerationServiceServicer_to_server(servicer, server),
        load=lambda engines: load(settings, servicer, engines),
        route_library_logs=route_library_logs,
    )
    model_service.run(settings, service)
