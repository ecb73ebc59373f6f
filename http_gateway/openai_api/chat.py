"""POST /v1/chat/completions: OpenAI chat, whole or streamed as ``chat.completion.chunk`` chunks.

The text service applies the model's own chat template; the gateway only maps OpenAI's message shapes
(text content parts joined, ``developer`` as ``system``, tool calls and tool results) onto the contract's
ChatMessage, ``response_format`` onto guided decoding, and tools, tool choice and logprobs one to one.
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
from http_gateway.guided_decoding import json_schema_guide
from http_gateway.openai_api import tool_calls
from http_gateway.openai_api.logprobs import chat_logprobs
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
    JsonObjectFormat,
    JsonSchemaFormat,
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

FIELD_NAMES = {"max_new_tokens": "max_completion_tokens", "guided": "response_format", **tool_calls.FIELD_NAMES}
# What json_object (or a json_schema format that gives no schema) asks for: any JSON object.
ANY_OBJECT = {"type": "object"}


def _content(message: ChatMessageIn) -> str:
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    return "\n".join(part.text for part in message.content)


def _messages(body: ChatCompletionRequest) -> list[text_pb2.ChatMessage]:
    return [
        text_pb2.ChatMessage(
            role="system" if message.role == "developer" else message.role,
            content=_content(message),
            tool_calls=tool_calls.contract_tool_calls(message.tool_calls or []),
            tool_call_id=message.tool_call_id or "",
        )
        for message in body.messages
    ]


def _guided(body: ChatCompletionRequest) -> tuple[text_pb2.GuidedDecoding | None, dict[str, str]]:
    """``response_format`` as guided decoding, and the name the service's errors about it should get."""
    response_format = body.response_format
    if isinstance(response_format, JsonObjectFormat):
        return json_schema_guide(ANY_OBJECT, "response_format"), {"guided.json_schema": "response_format"}
    if isinstance(response_format, JsonSchemaFormat):
        field = "response_format.json_schema.schema"
        schema = response_format.json_schema.json_schema or ANY_OBJECT
        return json_schema_guide(schema, field), {"guided.json_schema": field}
    return None, {}


def _params(body: ChatCompletionRequest) -> tuple[text_pb2.TextParams, dict[str, str]]:
    """Every choice's input but its sampling, and the route's names for the contract's fields."""
    guided, guided_names = _guided(body)
    params = text_pb2.TextParams(
        messages=_messages(body),
        guided=guided,
        logprobs=bool(body.logprobs),
        top_logprobs=body.top_logprobs or 0,
        tools=tool_calls.contract_tools(body.tools or []),
    )
    if body.tool_choice is not None and (body.tools or body.tool_choice != "none"):
        params.tool_choice.CopyFrom(tool_calls.contract_tool_choice(body.tool_choice))
    return params, {**FIELD_NAMES, **guided_names}


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
    shared, field_names = _params(body)
    calls = TextCalls(state, request, field_names)
    completion_id = f"chatcmpl-{calls.request_id}"
    created, model = int(time.time()), text_model_name(state, body.model)
    max_tokens = body.max_completion_tokens or body.max_tokens
    params = [text_pb2.TextParams(sampling=openai_sampling(body, max_tokens, choice)) for choice in range(body.n)]
    for choice in params:
        choice.MergeFrom(shared)
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
                message=ChatMessageOut(
                    content=reply.text if reply.text or not reply.tool_calls else None,
                    tool_calls=tool_calls.openai_tool_calls(reply.tool_calls),
                ),
                logprobs=chat_logprobs(reply.logprobs) if body.logprobs else None,
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
        for dumped, choice in zip(data["choices"], choices, strict=True):
            dumped["delta"] = choice.delta.model_dump(exclude_none=True)
        return json_event(data)


async def _chunks(
    streams: list[OpenedStream[text_pb2.GenerateStreamResponse]], make: _ChunkMaker
) -> AsyncIterator[ServerSentEvent]:
    yield make(
        [ChatChunkChoice(index=index, delta=ChatDelta(role="assistant", content="")) for index in range(len(streams))]
    )
    usages: dict[int, text_pb2.Usage] = {}
    async for index, message in merged(streams):
        if message.text or message.logprobs or message.tool_calls:
            delta = ChatDelta(
                content=message.text or None,
                tool_calls=tool_calls.openai_tool_call_deltas(message.tool_calls) or None,
            )
            logprobs = chat_logprobs(message.logprobs) if message.logprobs else None
            yield make([ChatChunkChoice(index=index, delta=delta, logprobs=logprobs)])
        if message.finish_reason:
            usages[index] = message.usage
            reason = openai_finish_reason(message.finish_reason)
            yield make([ChatChunkChoice(index=index, delta=ChatDelta(), finish_reason=reason)])
    if make.include_usage:
        yield make([], total_usage([usages[index] for index in sorted(usages)], len(streams)))
    yield OPENAI_DONE
