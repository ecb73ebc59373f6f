"""The gRPC face of the text engine: proto messages in, engine calls, proto messages out.

Each generation RPC validates its request, renders and tokenizes the prompt off the event loop, checks it
against the context length, submits it to the engine and relays the engine's events. A call that ends
early (client cancel, disconnect, deadline) cancels its request in ``finally``, which frees its batch
slot at the next step. Every RPC runs in serving_core's request scope: one JSON log line, whatever its
outcome, and every error as its status.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

import grpc

from hearth.text.v1 import text_service_pb2 as pb
from hearth.text.v1 import text_service_pb2_grpc as pb_grpc
from serving_core.request_errors import NotReady
from serving_core.request_scope import RequestScope, request_scope
from text_service.engine import Completion, EngineEvent, EngineRequest, TextEngine
from text_service.engine_choice import ModelFacts
from text_service.prompts import EncodedPrompt, PromptEncoder
from text_service.response_pieces import Piece, ResponsePieces, tool_call_message
from text_service.validation import TextLimits, ValidRequest, check_generate_request, check_prompt_input, fit_to_context

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Serving:
    """Everything the servicer needs once the model is loaded and warm."""

    engine: TextEngine
    encoder: PromptEncoder
    limits: TextLimits
    facts: ModelFacts


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


def _stream_piece(piece: Piece, request_id: str) -> pb.GenerateStreamResponse:
    return pb.GenerateStreamResponse(
        text=piece.text,
        token_ids=piece.token_ids,
        request_id=request_id,
        logprobs=piece.logprobs,
        tool_calls=piece.call_deltas(),
    )


def _report(scope: RequestScope, completion: Completion) -> None:
    scope.report(
        finish_reason=completion.finish_reason.value,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        queue_s=round(completion.queue_seconds, 4),
        ttft_s=round(completion.time_to_first_token_seconds, 4),
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
        self, serving: Serving, request: pb.GenerateRequest | pb.GenerateStreamRequest, scope: RequestScope
    ) -> tuple[ValidRequest, EncodedPrompt]:
        """Validates, tokenizes off the loop, checks the context, submits; returns once the engine holds it."""
        encoder, engine = serving.encoder, serving.engine
        valid = check_generate_request(request, serving.limits, encoder.has_chat_template, engine.capabilities)
        scope.request_id = valid.request_id
        tools = valid.tool_use.tools if valid.tool_use is not None else ()
        prompt = await asyncio.to_thread(encoder.encode, valid.prompt.prompt, valid.prompt.messages, tools)
        sampling = fit_to_context(valid, len(prompt.token_ids), serving.limits)
        engine.submit(
            EngineRequest(valid.request_id, prompt.token_ids, sampling, scope.started, valid.guide, valid.top_logprobs)
        )
        return valid, prompt

    @staticmethod
    async def _events(serving: Serving, request_id: str, scope: RequestScope) -> AsyncIterator[EngineEvent]:
        """The request's deltas, then its Completion; leaving early cancels the request."""
        completion: Completion | None = None
        try:
            async for event in serving.engine.stream(request_id):
                if isinstance(event, Completion):
                    completion = event
                yield event
        finally:
            if completion is None:
                completion = serving.engine.cancel(request_id)
            if completion is not None:
                _report(scope, completion)

    async def Generate(self, request: pb.GenerateRequest, context: grpc.aio.ServicerContext) -> pb.GenerateResponse:
        async with request_scope(logger, "Generate", context) as scope:
            serving = self._ready()
            valid, prompt = await self._admit(serving, request, scope)
            pieces = ResponsePieces(serving.encoder, valid.tool_use)
            texts = [prompt.text] if valid.include_prompt else []
            token_ids: list[int] = []
            logprobs: list[pb.TokenLogprob] = []
            async with aclosing(self._events(serving, valid.request_id, scope)) as events:
                async for event in events:
                    if isinstance(event, Completion):
                        texts.append(pieces.last_piece().text)
                        return pb.GenerateResponse(
                            text="".join(texts),
                            token_ids=token_ids,
                            finish_reason=pieces.finish_reason(event),
                            usage=_usage(event),
                            timings=_timings(event),
                            request_id=valid.request_id,
                            logprobs=logprobs,
                            tool_calls=[tool_call_message(call) for call in pieces.calls],
                        )
                    piece = pieces.piece(event)
                    texts.append(piece.text)
                    token_ids.extend(piece.token_ids)
                    logprobs.extend(piece.logprobs)
            raise RuntimeError(f"the engine ended request {valid.request_id!r} without a Completion")
        raise AssertionError("unreachable: every refusal aborts the call")

    async def GenerateStream(
        self, request: pb.GenerateStreamRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.GenerateStreamResponse]:
        async with request_scope(logger, "GenerateStream", context) as scope:
            serving = self._ready()
            valid, prompt = await self._admit(serving, request, scope)
            request_id = valid.request_id
            pieces = ResponsePieces(serving.encoder, valid.tool_use)
            async with aclosing(self._events(serving, request_id, scope)) as events:
                if valid.include_prompt:
                    yield pb.GenerateStreamResponse(text=prompt.text, request_id=request_id)
                async for event in events:
                    if isinstance(event, Completion):
                        if last := pieces.last_piece():
                            yield _stream_piece(last, request_id)
                        yield pb.GenerateStreamResponse(
                            finish_reason=pieces.finish_reason(event),
                            usage=_usage(event),
                            timings=_timings(event),
                            request_id=request_id,
                        )
                        return
                    yield _stream_piece(pieces.piece(event), request_id)
            raise RuntimeError(f"the engine ended request {request_id!r} without a Completion")

    async def Tokenize(self, request: pb.TokenizeRequest, context: grpc.aio.ServicerContext) -> pb.TokenizeResponse:
        async with request_scope(logger, "Tokenize", context):
            serving = self._ready()
            prompt = check_prompt_input(request, serving.limits, serving.encoder.has_chat_template)
            encoded = await asyncio.to_thread(serving.encoder.encode, prompt.prompt, prompt.messages)
            tokens = serving.encoder.token_strings(encoded.token_ids)
            return pb.TokenizeResponse(token_ids=encoded.token_ids, tokens=tokens)
        raise AssertionError("unreachable: every refusal aborts the call")

    async def GetModelInfo(
        self, request: pb.GetModelInfoRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetModelInfoResponse:
        async with request_scope(logger, "GetModelInfo", context, routine=True):
            return _model_info(self._ready())
        raise AssertionError("unreachable: every refusal aborts the call")


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
            max_guided_chars=limits.guided.max_chars,
            max_schema_depth=limits.guided.max_schema_depth,
            max_choices=limits.guided.max_choices,
            max_tools=limits.max_tools,
            max_top_logprobs=limits.max_top_logprobs,
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
        capabilities=pb.TextCapabilities(
            guided=engine.capabilities.guided_kinds,
            logprobs=engine.capabilities.logprobs,
            max_top_logprobs=min(engine.capabilities.max_top_logprobs, limits.max_top_logprobs),
            tools="json_schema" in engine.capabilities.guided_kinds,
            chat_template_renders_tools=serving.encoder.template_renders_tools,
        ),
    )
