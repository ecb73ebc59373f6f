"""POST /generate-text: the original text route, whole or as Server-Sent Events."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from hearth.text.v1 import text_service_pb2 as text_pb2
from http_gateway.backend_calls import OpenedStream, TextCalls
from http_gateway.cancellation import cancel_on_disconnect
from http_gateway.error_handlers import ERROR_RESPONSES
from http_gateway.gateway_state import GatewayState, gateway_state
from http_gateway.guided_decoding import json_schema_guide
from http_gateway.original_api.protocol import TextDoneEvent, TextRequest, TextResponse, TextTokenEvent
from http_gateway.sse import event_stream, json_event
from http_gateway.sse_schema import named_events
from http_gateway.text_contract import TextTimings, Usage, finish_reason_name, sampling_params

router = APIRouter(tags=["original"])

STREAM_DOC = "with stream=true: `event: token` data {text, token_ids} per delta, then `event: done` (TextDoneEvent)"
FIELD_NAMES = {"guided.json_schema": "json_schema", "guided.regex": "regex"}


def _guided(body: TextRequest) -> text_pb2.GuidedDecoding | None:
    if body.json_schema is not None:
        return json_schema_guide(body.json_schema, "json_schema")
    if body.regex is not None:
        return text_pb2.GuidedDecoding(regex=body.regex)
    return None


def _sampling(body: TextRequest) -> text_pb2.SamplingParams:
    return sampling_params(
        max_new_tokens=body.max_new_tokens,
        temperature=body.temperature if body.do_sample else 0.0,
        top_p=body.top_p,
        top_k=body.top_k,
        repetition_penalty=body.repetition_penalty,
        seed=body.seed,
        stop=body.stop,
    )


@router.post(
    "/generate-text",
    response_model=TextResponse,
    responses={
        200: {"content": named_events(STREAM_DOC, {"token": TextTokenEvent, "done": TextDoneEvent})},
        **ERROR_RESPONSES,
    },
    summary="Continue a prompt (the original route)",
)
async def generate_text(
    body: TextRequest,
    request: Request,
    state: Annotated[GatewayState, Depends(gateway_state)],
) -> TextResponse | EventSourceResponse:
    """Continues ``prompt``; ``generated_text`` starts with the prompt unless include_prompt is false.

    ``json_schema`` or ``regex`` constrain the generated part (not the echoed prompt) to that language.
    """
    calls = TextCalls(state, request, FIELD_NAMES)
    params = text_pb2.TextParams(
        prompt=body.prompt, sampling=_sampling(body), include_prompt=body.include_prompt, guided=_guided(body)
    )
    if body.stream:
        stream = await cancel_on_disconnect(request, calls.stream(params))
        return event_stream(request, state, _text_events(stream), [stream], error_event="error")
    reply = await cancel_on_disconnect(request, calls.generate(params))
    return TextResponse(
        generated_text=reply.text,
        finish_reason=finish_reason_name(reply.finish_reason),
        usage=Usage.model_validate(reply.usage),
        timings=TextTimings.model_validate(reply.timings),
        request_id=reply.request_id or calls.request_id,
    )


async def _text_events(stream: OpenedStream[text_pb2.GenerateStreamResponse]) -> AsyncIterator[ServerSentEvent]:
    parts: list[str] = []
    async for message in stream.messages():
        if message.text or message.token_ids or not message.finish_reason:
            parts.append(message.text)
            yield json_event(TextTokenEvent(text=message.text, token_ids=list(message.token_ids)).model_dump(), "token")
        if message.finish_reason:
            done = TextDoneEvent(
                finish_reason=finish_reason_name(message.finish_reason),
                usage=Usage.model_validate(message.usage),
                timings=TextTimings.model_validate(message.timings),
                generated_text="".join(parts),
            )
            yield json_event(done.model_dump(), "done")
            return
