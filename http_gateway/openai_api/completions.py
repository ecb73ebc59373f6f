"""POST /v1/completions: OpenAI's legacy completions, whole or streamed as ``text_completion`` chunks."""

import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from hearth.text.v1 import text_service_pb2 as text_pb2
from http_gateway.backend_calls import OpenedStream, TextCalls
from http_gateway.cancellation import cancel_on_disconnect
from http_gateway.error_handlers import ERROR_RESPONSES
from http_gateway.gateway_state import GatewayState, gateway_state
from http_gateway.openai_api.logprobs import completion_logprobs
from http_gateway.openai_api.model_names import text_model_name
from http_gateway.openai_api.protocol import CompletionChoice, CompletionRequest, CompletionResponse
from http_gateway.openai_api.text_choices import (
    generate_choices,
    merged,
    open_choices,
    openai_finish_reason,
    openai_sampling,
    total_usage,
)
from http_gateway.sse import OPENAI_DONE, event_stream, json_event
from http_gateway.sse_schema import openai_chunks

router = APIRouter(prefix="/v1", tags=["openai"])

FIELD_NAMES = {"max_new_tokens": "max_tokens", "include_prompt": "echo", "prompt": "prompt", "top_logprobs": "logprobs"}


def _prompts(body: CompletionRequest) -> list[str]:
    return [body.prompt] if isinstance(body.prompt, str) else list(body.prompt)


@router.post(
    "/completions",
    response_model=CompletionResponse,
    responses={
        200: {"content": openai_chunks("with stream=true: text_completion chunks", CompletionResponse)},
        **ERROR_RESPONSES,
    },
    summary="OpenAI completions",
)
async def create_completion(
    body: CompletionRequest,
    request: Request,
    state: Annotated[GatewayState, Depends(gateway_state)],
) -> CompletionResponse | EventSourceResponse:
    """Continues each prompt ``n`` times; ``echo`` puts the prompt in front of each choice's text.

    With ``logprobs``, each choice gets OpenAI's legacy lists for its generated tokens; the offsets count
    from the start of the choice's text, so with ``echo`` the first one is the prompt's length.
    """
    calls = TextCalls(state, request, FIELD_NAMES)
    jobs = [(prompt, choice) for prompt in _prompts(body) for choice in range(body.n)]
    completion_id = f"cmpl-{calls.request_id}"
    created, model = int(time.time()), text_model_name(state, body.model)
    params = [
        text_pb2.TextParams(
            prompt=prompt,
            sampling=openai_sampling(body, body.max_tokens, choice),
            include_prompt=body.echo,
            logprobs=body.logprobs is not None,
            top_logprobs=body.logprobs or 0,
        )
        for prompt, choice in jobs
    ]
    starts = [len(prompt) if body.echo else 0 for prompt, _ in jobs]
    if body.stream:
        streams = await cancel_on_disconnect(request, open_choices(calls, params))
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        chunks = _chunks(streams, completion_id, created, model, body.n, include_usage, starts)
        return event_stream(request, state, chunks, streams, error_event=None)
    replies = await cancel_on_disconnect(request, generate_choices(calls, params))
    return CompletionResponse(
        id=completion_id,
        created=created,
        model=model,
        choices=[
            CompletionChoice(
                index=index,
                text=reply.text,
                logprobs=completion_logprobs(reply.logprobs, starts[index])[0] if body.logprobs is not None else None,
                finish_reason=openai_finish_reason(reply.finish_reason),
            )
            for index, reply in enumerate(replies)
        ],
        usage=total_usage([reply.usage for reply in replies], body.n),
    )


async def _chunks(
    streams: list[OpenedStream[text_pb2.GenerateStreamResponse]],
    completion_id: str,
    created: int,
    model: str,
    choices_per_prompt: int,
    include_usage: bool,
    offsets: list[int],
) -> AsyncIterator[ServerSentEvent]:
    """One chunk per delta; ``offsets`` (each choice's next text offset) advance with the logprobs sent."""
    usages: dict[int, text_pb2.Usage] = {}

    def chunk(choices: list[CompletionChoice], usage: object = None) -> ServerSentEvent:
        data = CompletionResponse(id=completion_id, created=created, model=model, choices=choices, usage=usage)
        return json_event(data.model_dump(exclude={"usage"} if not include_usage else None))

    async for index, message in merged(streams):
        reason = openai_finish_reason(message.finish_reason) if message.finish_reason else None
        if reason:
            usages[index] = message.usage
        logprobs = None
        if message.logprobs:
            logprobs, offsets[index] = completion_logprobs(message.logprobs, offsets[index])
        if message.text or reason or logprobs:
            yield chunk([CompletionChoice(index=index, text=message.text, logprobs=logprobs, finish_reason=reason)])
    if include_usage:
        yield chunk([], total_usage([usages[index] for index in sorted(usages)], choices_per_prompt))
    yield OPENAI_DONE
