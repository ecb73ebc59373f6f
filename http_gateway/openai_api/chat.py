"""POST /v1/chat/completions: OpenAI chat, whole or streamed as ``chat.completion.chunk`` chunks.

The text service applies the model's own chat template; the gateway only maps OpenAI's message shapes
(text content parts joined, ``developer`` as ``system``) onto the contract's ChatMessage.
"""

import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from hearth.text.v1 import text_service_pb2 as text_pb2
from http_gateway.backend_calls import OpenedStream, TextCalls
from http_gateway.cancellation import cancel_on_disconnect
from http_gateway.error_handlers import ERROR_RESPONSES
from http_gateway.gateway_state import GatewayState, gateway_state
from http_gateway.openai_api.model_names import text_model_name
from http_gateway.openai_api.protocol import (
    ChatChoice,
    ChatChunkChoice,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    ChatDelta,
    ChatMessageIn,
    ChatMessageOut,
)
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

FIELD_NAMES = {"max_new_tokens": "max_completion_tokens"}


def _content(message: ChatMessageIn) -> str:
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    return "\n".join(part.text for part in message.content)


def _messages(body: ChatCompletionRequest) -> list[text_pb2.ChatMessage]:
    return [
        text_pb2.ChatMessage(role="system" if message.role == "developer" else message.role, content=_content(message))
        for message in body.messages
    ]


@router.post(
    "/chat/completions",
    response_model=ChatCompletionResponse,
    responses={
        200: {"content": openai_chunks("with stream=true: chat.completion.chunk chunks", ChatCompletionChunk)},
        **ERROR_RESPONSES,
    },
    summary="OpenAI chat completions",
)
async def create_chat_completion(
    body: ChatCompletionRequest,
    request: Request,
    state: Annotated[GatewayState, Depends(gateway_state)],
) -> ChatCompletionResponse | EventSourceResponse:
    """Answers the conversation ``n`` times with the model's chat template applied by the text service."""
    calls = TextCalls(state, request, FIELD_NAMES)
    messages = _messages(body)
    completion_id = f"chatcmpl-{calls.request_id}"
    created, model = int(time.time()), text_model_name(state, body.model)
    max_tokens = body.max_completion_tokens or body.max_tokens
    params = [
        text_pb2.TextParams(messages=messages, sampling=openai_sampling(body, max_tokens, choice))
        for choice in range(body.n)
    ]
    if body.stream:
        streams = await cancel_on_disconnect(request, open_choices(calls, params))
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        chunks = _chunks(streams, _ChunkMaker(completion_id, created, model, include_usage))
        return event_stream(request, state, chunks, streams, error_event=None)
    replies = await cancel_on_disconnect(request, generate_choices(calls, params))
    return ChatCompletionResponse(
        id=completion_id,
        created=created,
        model=model,
        choices=[
            ChatChoice(
                index=index,
                message=ChatMessageOut(content=reply.text),
                finish_reason=openai_finish_reason(reply.finish_reason),
            )
            for index, reply in enumerate(replies)
        ],
        usage=total_usage([reply.usage for reply in replies], body.n),
    )


class _ChunkMaker:
    """Builds the chunk events of one streamed chat completion."""

    def __init__(self, completion_id: str, created: int, model: str, include_usage: bool) -> None:
        self.completion_id, self.created, self.model = completion_id, created, model
        self.include_usage = include_usage

    def __call__(self, choices: list[ChatChunkChoice], usage: Any = None) -> ServerSentEvent:
        chunk = ChatCompletionChunk(
            id=self.completion_id, created=self.created, model=self.model, choices=choices, usage=usage
        )
        data = chunk.model_dump(exclude={"usage"} if not self.include_usage else None)
        for choice in data["choices"]:
            choice["delta"] = {key: value for key, value in choice["delta"].items() if value is not None}
        return json_event(data)


async def _chunks(
    streams: list[OpenedStream[text_pb2.GenerateStreamResponse]], make: _ChunkMaker
) -> AsyncIterator[ServerSentEvent]:
    yield make(
        [ChatChunkChoice(index=index, delta=ChatDelta(role="assistant", content="")) for index in range(len(streams))]
    )
    usages: dict[int, text_pb2.Usage] = {}
    async for index, message in merged(streams):
        if message.text:
            yield make([ChatChunkChoice(index=index, delta=ChatDelta(content=message.text))])
        if message.finish_reason:
            usages[index] = message.usage
            reason = openai_finish_reason(message.finish_reason)
            yield make([ChatChunkChoice(index=index, delta=ChatDelta(), finish_reason=reason)])
    if make.include_usage:
        yield make([], total_usage([usages[index] for index in sorted(usages)], len(streams)))
    yield OPENAI_DONE
