"""The gRPC face of the text engine: proto messages in, engine calls, proto messages out.

Each generation RPC validates its request, renders and tokenizes the prompt off the event loop, checks it
against the context length, submits it to the engine and relays the engine's events. A call that ends
early (client cancel, disconnect, deadline) cancels its request in ``finally``, which frees its batch
slot at the next step. Every request ends with one JSON log line, whatever its outcome.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc

from hearth.text.v1 import text_service_pb2 as pb
from hearth.text.v1 import text_service_pb2_grpc as pb_grpc
from serving_core.request_errors import NotReady, RequestError, abort_with
from serving_core.structured_logging import log_fields
from text_service.engine import Completion, EngineRequest, FinishReason, TextDelta, TextEngine
from text_service.engine_choice import ModelFacts
from text_service.prompts import EncodedPrompt, PromptEncoder
from text_service.validation import (
    TextLimits,
    ValidRequest,
    check_generate_request,
    check_prompt_input,
    fit_to_context,
)

logger = logging.getLogger(__name__)

FINISH_REASONS = {
    FinishReason.LENGTH: pb.FINISH_REASON_LENGTH,
    FinishReason.STOP_SEQUENCE: pb.FINISH_REASON_STOP_SEQUENCE,
    FinishReason.END_OF_SEQUENCE: pb.FINISH_REASON_END_OF_SEQUENCE,
    FinishReason.CANCELLED: pb.FINISH_REASON_CANCELLED,
}


@dataclass(frozen=True)
class Serving:
    """Everything the servicer needs once the model is loaded and warm."""

    engine: TextEngine
    encoder: PromptEncoder
    limits: TextLimits
    facts: ModelFacts


@dataclass
class _RequestLog:
    """What the request's log line reports; filled in as the request goes."""

    rpc: str
    request_id: str = ""
    error: str = ""
    completion: Completion | None = None
    started: float = field(default_factory=time.perf_counter)

    def emit(self) -> None:
        line: dict[str, Any] = {"rpc": self.rpc, "request_id": self.request_id}
        if self.error:
            line["error"] = self.error
        if self.completion is not None:
            c = self.completion
            line.update(
                finish_reason=c.finish_reason.value,
                prompt_tokens=c.prompt_tokens,
                completion_tokens=c.completion_tokens,
                queue_s=round(c.queue_seconds, 4),
                ttft_s=round(c.time_to_first_token_seconds, 4),
                total_s=round(c.total_seconds, 4),
            )
        else:
            if not self.error:
                line["finish_reason"] = FinishReason.CANCELLED.value
            line["total_s"] = round(time.perf_counter() - self.started, 4)
        log_fields(logger, "request", **line)


def _usage(completion: Completion) -> pb.Usage:
    return pb.Usage(
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        total_tokens=completion.prompt_tokens + completion.completion_tokens,
    )


def _timings(completion: Completion) -> pb.Timings:
    return pb.Timings(
        queue_seconds=completion.queue_seconds,
        time_to_first_token_seconds=completion.time_to_first_token_seconds,
        total_seconds=completion.total_seconds,
    )


class TextGenerationServicer(pb_grpc.TextGenerationServiceServicer):
    """Serves TextGenerationService; answers UNAVAILABLE until ``attach`` hands it the warm engine."""

    def __init__(self) -> None:
        self._serving: Serving | None = None

    def attach(self, serving: Serving) -> None:
        self._serving = serving

    def _ready(self) -> Serving:
        if self._serving is None:
            raise NotReady("the text model is still loading; retry when health reports SERVING")
        return self._serving

    async def _admit(
        self, serving: Serving, request: pb.GenerateRequest | pb.GenerateStreamRequest, log: _RequestLog
    ) -> tuple[ValidRequest, EncodedPrompt]:
        """Validates, tokenizes off the loop, checks the context, submits; returns once the engine holds it."""
        arrival = log.started
        valid = check_generate_request(request, serving.limits, serving.encoder.has_chat_template)
        log.request_id = valid.request_id
        prompt = await asyncio.to_thread(serving.encoder.encode, valid.prompt.prompt, valid.prompt.messages)
        sampling = fit_to_context(valid, len(prompt.token_ids), serving.limits)
        serving.engine.submit(EngineRequest(valid.request_id, prompt.token_ids, sampling, arrival))
        return valid, prompt

    @asynccontextmanager
    async def _deltas(
        self, serving: Serving, request_id: str, log: _RequestLog
    ) -> AsyncIterator[AsyncIterator[TextDelta]]:
        """The request's deltas, its Completion landing in the log; leaving early cancels the request."""

        async def relay() -> AsyncIterator[TextDelta]:
            async for event in serving.engine.stream(request_id):
                if isinstance(event, Completion):
                    log.completion = event
                else:
                    yield event

        try:
            async with aclosing(relay()) as deltas:
                yield deltas
        finally:
            if log.completion is None:
                log.completion = serving.engine.cancel(request_id)

    @asynccontextmanager
    async def _answering(self, context: grpc.aio.ServicerContext, log: _RequestLog) -> AsyncIterator[None]:
        """Turns refusals and bugs into gRPC statuses and writes the request's log line, however the call ends."""
        try:
            yield
        except RequestError as error:
            log.error = error.code.name
            await abort_with(context, error)
        except Exception:
            log.error = grpc.StatusCode.INTERNAL.name
            logger.exception("request failed", extra={"fields": {"request_id": log.request_id}})
            await abort_with(context, RequestError(f"internal error (request id {log.request_id})"))
        finally:
            log.emit()

    async def Generate(self, request: pb.GenerateRequest, context: grpc.aio.ServicerContext) -> pb.GenerateResponse:
        log = _RequestLog("Generate")
        async with self._answering(context, log):
            serving = self._ready()
            valid, prompt = await self._admit(serving, request, log)
            texts = [prompt.text] if valid.include_prompt else []
            token_ids: list[int] = []
            async with self._deltas(serving, valid.request_id, log) as deltas:
                async for delta in deltas:
                    texts.append(delta.text)
                    token_ids.extend(delta.token_ids)
            assert log.completion is not None
            return pb.GenerateResponse(
                text="".join(texts),
                token_ids=token_ids,
                finish_reason=FINISH_REASONS[log.completion.finish_reason],
                usage=_usage(log.completion),
                timings=_timings(log.completion),
                request_id=valid.request_id,
            )

    async def GenerateStream(
        self, request: pb.GenerateStreamRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.GenerateStreamResponse]:
        log = _RequestLog("GenerateStream")
        async with self._answering(context, log):
            serving = self._ready()
            valid, prompt = await self._admit(serving, request, log)
            request_id = valid.request_id
            async with self._deltas(serving, request_id, log) as deltas:
                if valid.include_prompt:
                    yield pb.GenerateStreamResponse(text=prompt.text, request_id=request_id)
                async for delta in deltas:
                    yield pb.GenerateStreamResponse(text=delta.text, token_ids=delta.token_ids, request_id=request_id)
            assert log.completion is not None
            yield pb.GenerateStreamResponse(
                finish_reason=FINISH_REASONS[log.completion.finish_reason],
                usage=_usage(log.completion),
                timings=_timings(log.completion),
                request_id=request_id,
            )

    async def Tokenize(self, request: pb.TokenizeRequest, context: grpc.aio.ServicerContext) -> pb.TokenizeResponse:
        try:
            serving = self._ready()
            prompt = check_prompt_input(request, serving.limits, serving.encoder.has_chat_template)
            encoded = await asyncio.to_thread(serving.encoder.encode, prompt.prompt, prompt.messages)
            tokens = serving.encoder.token_strings(encoded.token_ids)
            return pb.TokenizeResponse(token_ids=encoded.token_ids, tokens=tokens)
        except RequestError as error:
            await abort_with(context, error)

    async def GetModelInfo(
        self, request: pb.GetModelInfoRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetModelInfoResponse:
        try:
            return _model_info(self._ready())
        except RequestError as error:
            await abort_with(context, error)


def _model_info(serving: Serving) -> pb.GetModelInfoResponse:
    limits, engine = serving.limits, serving.engine
    stats = engine.stats()
    return pb.GetModelInfoResponse(
        model_id=serving.facts.model_id,
        dtype=serving.facts.dtype,
        device=serving.facts.device,
        has_chat_template=serving.encoder.has_chat_template,
        limits=pb.TextLimits(
            context_length=limits.context_length,
            default_max_new_tokens=limits.default_max_new_tokens,
            max_new_tokens_limit=limits.max_new_tokens_limit,
            max_prompt_chars=limits.max_prompt_chars,
            max_stop_sequences=limits.max_stop_sequences,
            max_queue=limits.max_queue,
        ),
        engine=pb.EngineSettings(
            name=engine.description.name,
            max_batch_size=engine.description.max_batch_size,
            attention=engine.description.attention,
        ),
        stats=pb.EngineStats(
            active_requests=stats.active_requests,
            queued_requests=stats.queued_requests,
            finished_requests=stats.finished_requests,
            generated_tokens=stats.generated_tokens,
            peak_batch_size=stats.peak_batch_size,
            last_batch_size=stats.last_batch_size,
            decode_steps=stats.decode_steps,
            kv_cache_usage=stats.kv_cache_usage,
        ),
    )
