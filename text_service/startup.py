"""Starting the text service: settings, gRPC host, model load and warm-up, serve, drain.

The host listens (health NOT_SERVING) before the model loads; loading, engine start and the warm-up
requests all happen while health still says NOT_SERVING, so the first client request does not pay the
engine's one-time costs (its cache, the first forward pass). SIGTERM drains in-flight requests, then the
engine stops.
"""

import asyncio
import logging
import time

from transformers.utils import logging as transformers_logging

from hearth.text.v1 import text_service_pb2 as pb
from hearth.text.v1 import text_service_pb2_grpc as pb_grpc
from serving_core.grpc_host import GrpcHost
from serving_core.structured_logging import configure_logging, log_fields
from text_service.engine import EngineRequest, SamplingOptions, TextEngine
from text_service.engine_choice import load_engine
from text_service.prompts import PromptEncoder
from text_service.servicer import Serving, TextGenerationServicer
from text_service.settings import TextSettings
from text_service.validation import TextLimits

BATCHING_LOGGER = "ContinuousBatchingLogger"
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["TextGenerationService"].full_name
WARM_UP_PROMPT = "A hearth is the fireplace at the heart of a home. Describe one."
WARM_UP_REQUESTS = (
    SamplingOptions(max_new_tokens=8),
    SamplingOptions(max_new_tokens=8, temperature=0.7, top_p=0.9, top_k=40, repetition_penalty=1.1, stop=("\n\n",)),
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
    """Runs a greedy and a sampled request through the engine, one after the other, before SERVING."""
    started = time.perf_counter()
    prompt_ids = encoder.encode(WARM_UP_PROMPT, []).token_ids
    for index, sampling in enumerate(WARM_UP_REQUESTS):
        request_id = f"warm-up-{index}"
        engine.submit(EngineRequest(request_id, prompt_ids, sampling, time.perf_counter()))
        async for _event in engine.stream(request_id):
            pass
    log_fields(logger, "warmed up", seconds=round(time.perf_counter() - started, 2))


async def serve(settings: TextSettings) -> None:
    """Runs the service until SIGTERM/SIGINT, then drains in-flight requests and stops the engine."""
    configure_logging(settings.log_level)
    route_library_logs()
    host = GrpcHost(
        bind=settings.bind,
        service_name=SERVICE_NAME,
        grace_seconds=settings.grace_seconds,
        max_message_bytes=settings.max_message_mib * 1024 * 1024,
    )
    servicer = TextGenerationServicer()
    pb_grpc.add_TextGenerationServiceServicer_to_server(servicer, host.server)
    engines: list[TextEngine] = []

    async def load() -> None:
        loaded = await asyncio.to_thread(load_engine, settings)
        engines.append(loaded.engine)
        loaded.engine.start()
        encoder = PromptEncoder(loaded.tokenizer)
        if settings.warm_up:
            await warm_up(loaded.engine, encoder)
        limits = request_limits(settings, loaded.context_length)
        servicer.attach(Serving(loaded.engine, encoder, limits, loaded.facts))

    await host.start()
    try:
        await host.run(load)
    finally:
        for engine in engines:
            await engine.close()
        await host.server.stop(0)  # drained already, unless loading failed and left it listening
