"""Structured output, tools and logprobs through the gateway, over the fake text service and the openai SDK.

What reaches the service (the contract's fields) and what the SDK makes of the answers; whether a model
honours a constraint is the end-to-end suite's business.
"""

import json

import httpx
import openai
import pytest
from pydantic import BaseModel

from hearth.text.v1 import text_service_pb2 as text_pb2
from tests.http_gateway.fake_backends import TOOL_ARGUMENTS, TOOL_CALL_ID, FakeBackend
from tests.http_gateway.sse_reading import read_events

SCHEMA = {"type": "object", "properties": {"colour": {"enum": ["red", "blue"]}}, "required": ["colour"]}
USER = [{"role": "user", "content": "Hi"}]


class Forecast(BaseModel):
    city: str
    days: int


FORECAST_TOOL = openai.pydantic_function_tool(Forecast, name="forecast")
CALL_FORECAST = {"type": "function", "function": {"name": "forecast"}}


def last_params(fake_text: FakeBackend) -> text_pb2.TextParams:
    return fake_text.log.requests[-1].params


def calls_of(message: object) -> list[tuple]:
    """A message's tool calls as (id, name, arguments, parsed arguments), the same for whole and streamed ones."""
    return [(c.id, c.function.name, c.function.arguments, c.function.parsed_arguments) for c in message.tool_calls]


@pytest.mark.parametrize(
    ("response_format", "schema"),
    [
        ({"type": "text"}, None),
        ({"type": "json_object"}, {"type": "object"}),
        ({"type": "json_schema", "json_schema": {"name": "pick", "schema": SCHEMA, "strict": True}}, SCHEMA),
    ],
)
async def test_response_format_becomes_guided_decoding(
    client: httpx.AsyncClient, fake_text: FakeBackend, response_format: dict, schema: dict | None
) -> None:
    body = {"messages": USER, "max_tokens": 2, "response_format": response_format}
    assert (await client.post("/v1/chat/completions", json=body)).status_code == 200
    guided = last_params(fake_text).guided
    if schema is None:
        assert guided.WhichOneof("kind") is None
    else:
        assert json.loads(guided.json_schema) == schema


@pytest.mark.parametrize(
    ("extra", "guided"),
    [
        ({"json_schema": SCHEMA}, text_pb2.GuidedDecoding(json_schema=json.dumps(SCHEMA, separators=(",", ":")))),
        ({"regex": "[0-9]{3}"}, text_pb2.GuidedDecoding(regex="[0-9]{3}")),
        ({}, text_pb2.GuidedDecoding()),
    ],
)
async def test_generate_text_takes_a_schema_or_a_regex(
    client: httpx.AsyncClient, fake_text: FakeBackend, extra: dict, guided: text_pb2.GuidedDecoding
) -> None:
    reply = await client.post("/generate-text", json={"prompt": "Hi", "max_new_tokens": 2, **extra})
    assert reply.status_code == 200
    assert last_params(fake_text).guided == guided


async def test_generate_text_refuses_two_constraints_and_unusable_schemas(client: httpx.AsyncClient) -> None:
    both = await client.post("/generate-text", json={"prompt": "Hi", "json_schema": SCHEMA, "regex": "a"})
    assert both.status_code == 422
    assert "set at most one" in both.json()["error"]["message"]
    not_json = await client.post(
        "/generate-text",
        content='{"prompt": "Hi", "json_schema": {"maximum": NaN}}',
        headers={"content-type": "application/json"},
    )
    assert not_json.status_code == 400
    assert not_json.json()["error"]["param"] == "json_schema"


async def test_tools_tool_choice_and_tool_turns_reach_the_service(
    client: httpx.AsyncClient, fake_text: FakeBackend
) -> None:
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "forecast", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    tools = [
        {"type": "function", "function": {"name": "forecast", "description": "the weather", "parameters": SCHEMA}},
        {"type": "function", "function": {"name": "clock"}},
    ]
    body = {"messages": messages, "tools": tools, "tool_choice": "required", "max_tokens": 2}
    assert (await client.post("/v1/chat/completions", json=body)).status_code == 200
    params = last_params(fake_text)
    assert [(tool.name, tool.description) for tool in params.tools] == [("forecast", "the weather"), ("clock", "")]
    assert (json.loads(params.tools[0].parameters), params.tools[1].parameters) == (SCHEMA, "")
    assert params.tool_choice.mode == text_pb2.TOOL_CHOICE_MODE_REQUIRED
    assert list(params.messages[1].tool_calls) == [text_pb2.ToolCall(id="call_1", name="forecast", arguments="{}")]
    assert (params.messages[2].role, params.messages[2].tool_call_id) == ("tool", "call_1")
    without_tools = {"messages": USER, "tool_choice": "none", "max_tokens": 2}
    assert (await client.post("/v1/chat/completions", json=without_tools)).status_code == 200
    assert not last_params(fake_text).HasField("tool_choice")


async def test_a_named_tool_call_streams_into_the_unary_call(
    sdk: openai.AsyncOpenAI, client: httpx.AsyncClient, fake_text: FakeBackend
) -> None:
    request = {
        "model": "any",
        "messages": USER,
        "max_tokens": 3,
        "tools": [FORECAST_TOOL],
        "tool_choice": CALL_FORECAST,
    }
    unary = await sdk.chat.completions.parse(**request)
    assert last_params(fake_text).tool_choice.name == "forecast"
    choice = unary.choices[0]
    assert (choice.finish_reason, choice.message.content) == ("tool_calls", None)
    assert calls_of(choice.message) == [(TOOL_CALL_ID, "forecast", TOOL_ARGUMENTS, Forecast(city="Paris", days=3))]

    async with sdk.chat.completions.stream(**request) as stream:
        streamed = await stream.get_final_completion()
    assert calls_of(streamed.choices[0].message) == calls_of(choice.message)
    assert streamed.choices[0].finish_reason == "tool_calls"

    events = await read_events(client, "/v1/chat/completions", {**request, "stream": True})
    pieces = [piece for _, chunk in events[:-1] for piece in chunk["choices"][0]["delta"].get("tool_calls", [])]
    half = len(TOOL_ARGUMENTS) // 2
    assert pieces == [
        {
            "index": 0,
            "id": TOOL_CALL_ID,
            "type": "function",
            "function": {"name": "forecast", "arguments": TOOL_ARGUMENTS[:half]},
        },
        {"index": 0, "function": {"arguments": TOOL_ARGUMENTS[half:]}},
    ]
    assert all(
        chunk["choices"][0]["delta"].get("content") in (None, "") for _, chunk in events[:-1] if chunk["choices"]
    )


async def test_chat_logprobs_have_openais_shape(sdk: openai.AsyncOpenAI, fake_text: FakeBackend) -> None:
    request = {"model": "any", "messages": USER, "max_tokens": 3, "logprobs": True, "top_logprobs": 2}
    unary = await sdk.chat.completions.create(**request)
    assert (last_params(fake_text).logprobs, last_params(fake_text).top_logprobs) == (True, 2)
    content = unary.choices[0].logprobs.content
    assert [(entry.token, entry.logprob, entry.bytes) for entry in content] == [
        (" w0", 0.0, list(b" w0")),
        (" w1", -0.25, list(b" w1")),
        (" w2", -0.5, list(b" w2")),
    ]
    assert [(top.token, top.logprob) for top in content[0].top_logprobs] == [(" a0", 0.0), (" a1", -9999.0)]
    stream = await sdk.chat.completions.create(**request, stream=True)
    streamed = [
        entry
        async for chunk in stream
        for choice in chunk.choices
        if choice.logprobs
        for entry in choice.logprobs.content
    ]
    assert streamed == content
    plain = await sdk.chat.completions.create(model="any", messages=USER, max_tokens=1)
    assert plain.choices[0].logprobs is None


@pytest.mark.parametrize("echo", [False, True])
async def test_completion_logprobs_have_the_legacy_shape(sdk: openai.AsyncOpenAI, echo: bool) -> None:
    request = {"model": "any", "prompt": "Hello", "max_tokens": 2, "logprobs": 1, "echo": echo}
    unary = (await sdk.completions.create(**request)).choices[0]
    start = len("Hello") if echo else 0
    assert unary.logprobs.tokens == [" w0", " w1"]
    assert unary.logprobs.token_logprobs == [0.0, -0.25]
    assert unary.logprobs.top_logprobs == [{" a0": -9999.0}, {" a0": -9999.0}]
    assert unary.logprobs.text_offset == [start, start + 3]
    assert unary.text[unary.logprobs.text_offset[1] :] == " w1"
    stream = await sdk.completions.create(**request, stream=True)
    chunks = [choice.logprobs async for chunk in stream for choice in chunk.choices if choice.logprobs]
    assert [offset for chunk in chunks for offset in chunk.text_offset] == unary.logprobs.text_offset
    assert [token for chunk in chunks for token in chunk.tokens] == unary.logprobs.tokens


@pytest.mark.parametrize(
    ("path", "body", "field", "param"),
    [
        (
            "/v1/chat/completions",
            {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": SCHEMA}}},
            "guided.json_schema",
            "response_format.json_schema.schema",
        ),
        ("/v1/chat/completions", {"response_format": {"type": "json_object"}}, "guided.json_schema", "response_format"),
        ("/v1/chat/completions", {}, "guided", "response_format"),
        ("/v1/chat/completions", {}, "tools[1].parameters", "tools[1].function.parameters"),
        ("/v1/chat/completions", {}, "tool_choice.name", "tool_choice.function.name"),
        (
            "/v1/chat/completions",
            {},
            "messages[2].tool_calls[0].arguments",
            "messages[2].tool_calls[0].function.arguments",
        ),
        ("/v1/chat/completions", {}, "top_logprobs", "top_logprobs"),
        ("/v1/completions", {}, "top_logprobs", "logprobs"),
        ("/generate-text", {}, "guided.json_schema", "json_schema"),
        ("/generate-text", {}, "guided.regex", "regex"),
    ],
)
@pytest.mark.parametrize("reason", ["INVALID_FIELD", "UNSUPPORTED_FIELD"])
async def test_refused_fields_are_named_as_the_route_names_them(
    client: httpx.AsyncClient, path: str, body: dict, field: str, param: str, reason: str
) -> None:
    code = "INVALID_ARGUMENT" if reason == "INVALID_FIELD" else "UNIMPLEMENTED"
    command = f"fail:{code}:reason={reason}:field=params.{field}"
    prompt = {"messages": [{"role": "user", "content": command}]} if "chat" in path else {"prompt": command}
    for stream in (False, True):
        reply = await client.post(path, json={**prompt, **body, "stream": stream})
        assert reply.status_code == 400
        error = reply.json()["error"]
        assert (error["param"], error["code"]) == (param, code.lower())
        assert f"{param}: must be <= 8" in error["message"]
