"""Issue 16's acceptance through the real gateway and text service on the embedded model, with the openai SDK.

Greedy and few tokens throughout: the point is that constrained output, tool calls and logprobs arrive
in shapes that validate and that the SDK accepts, streamed and unary alike.
"""

import json
import re

import httpx
import jsonschema
import openai
import pytest
from httpx_sse import connect_sse
from pydantic import BaseModel

from tests.cli.hearth_processes import text_model_info
from tests.service_processes import ServiceProcess

# Nested objects, an array, an enum and required fields, bounded so a greedy reply ends within the tokens.
SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 12},
        "colour": {"enum": ["red", "green", "blue"]},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 8}, "maxItems": 2},
        "size": {
            "type": "object",
            "properties": {"width": {"type": "integer", "minimum": 0, "maximum": 99}},
            "required": ["width"],
            "additionalProperties": False,
        },
    },
    "required": ["name", "colour", "tags", "size"],
    "additionalProperties": False,
}
ASK = "Describe a fox as JSON."
TOKENS = 80
GREEDY = {"model": "hearth", "temperature": 0, "max_tokens": TOKENS}


class Forecast(BaseModel):
    city: str
    days: int


class Pet(BaseModel):
    name: str
    legs: int


def streamed_text(http: httpx.Client, body: dict) -> str:
    """The joined deltas of a /generate-text stream."""
    with connect_sse(http, "POST", "/generate-text", json={**body, "stream": True}) as source:
        assert source.response.status_code == 200, source.response.read()
        events = [(event.event, json.loads(event.data)) for event in source.iter_sse()]
    assert events[-1][0] == "done"
    return "".join(data["text"] for name, data in events if name == "token")


def generated_json(http: httpx.Client, sdk: openai.OpenAI, route: str) -> str:
    """The reply to ASK constrained by SCHEMA, through one of the four ways a client can ask for it."""
    if route.startswith("rest"):
        body = {"prompt": ASK, "max_new_tokens": TOKENS, "do_sample": False, "include_prompt": False}
        body["json_schema"] = SCHEMA
        if route == "rest-stream":
            return streamed_text(http, body)
        reply = http.post("/generate-text", json=body)
        assert reply.status_code == 200, reply.text
        return reply.json()["generated_text"]
    response_format = {"type": "json_schema", "json_schema": {"name": "fox", "schema": SCHEMA, "strict": True}}
    request = {**GREEDY, "messages": [{"role": "user", "content": ASK}], "response_format": response_format}
    if route == "openai-stream":
        chunks = sdk.chat.completions.create(**request, stream=True)
        return "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    return sdk.chat.completions.create(**request).choices[0].message.content


@pytest.mark.parametrize("route", ["rest", "rest-stream", "openai", "openai-stream"])
def test_json_schema_constrained_output_validates(
    gateway_http: httpx.Client, gateway_sdk: openai.OpenAI, route: str
) -> None:
    jsonschema.validate(json.loads(generated_json(gateway_http, gateway_sdk, route)), SCHEMA)


def test_a_regex_constrains_the_whole_generated_text(gateway_http: httpx.Client) -> None:
    body = {"prompt": "Call me at", "max_new_tokens": 16, "do_sample": False, "include_prompt": False}
    reply = gateway_http.post("/generate-text", json={**body, "regex": "[0-9]{3}-[0-9]{4}"})
    assert reply.status_code == 200, reply.text
    assert re.fullmatch("[0-9]{3}-[0-9]{4}", reply.json()["generated_text"])


def test_parse_with_a_pydantic_model_returns_the_object(gateway_sdk: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "Describe a dog."}]
    parsed = gateway_sdk.chat.completions.parse(**GREEDY, messages=messages, response_format=Pet)
    assert isinstance(parsed.choices[0].message.parsed, Pet)


def test_a_named_tool_is_called_with_valid_arguments_streamed_or_not(gateway_sdk: openai.OpenAI) -> None:
    tool = openai.pydantic_function_tool(Forecast, name="forecast")
    request = {
        **GREEDY,
        "messages": [{"role": "user", "content": "What is the weather in Paris for the next 3 days?"}],
        "tools": [tool],
        "tool_choice": {"type": "function", "function": {"name": "forecast"}},
    }
    unary = gateway_sdk.chat.completions.parse(**request)
    assert unary.choices[0].finish_reason == "tool_calls"
    [call] = unary.choices[0].message.tool_calls
    assert call.function.name == "forecast"
    jsonschema.validate(json.loads(call.function.arguments), tool["function"]["parameters"])
    assert isinstance(call.function.parsed_arguments, Forecast)
    with gateway_sdk.chat.completions.stream(**request) as stream:
        streamed = stream.get_final_completion()
    [streamed_call] = streamed.choices[0].message.tool_calls
    assert (streamed_call.function.name, streamed_call.function.arguments) == ("forecast", call.function.arguments)
    assert streamed_call.id.startswith("call_")
    assert streamed.choices[0].finish_reason == "tool_calls"

    answered = [
        *request["messages"],
        unary.choices[0].message.model_dump(include={"role", "content", "tool_calls"}, exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"forecast": "sunny"}'},
    ]
    reply = gateway_sdk.chat.completions.create(**{**GREEDY, "max_tokens": 8}, messages=answered, tools=[tool])
    assert reply.usage.prompt_tokens > unary.usage.prompt_tokens, "the call and its result are in the prompt"


def test_logprobs_come_in_shapes_the_sdk_reads(gateway_sdk: openai.OpenAI, text_service: ServiceProcess) -> None:
    """As many alternatives as the engine reports (its capabilities say); one more is refused naming the field."""
    most = text_model_info(text_service.target).capabilities.max_top_logprobs
    top = min(2, most)
    request = {**GREEDY, "max_tokens": 4, "messages": [{"role": "user", "content": "Hi"}]}
    chat = gateway_sdk.chat.completions.create(**request, logprobs=True, top_logprobs=top)
    content = chat.choices[0].logprobs.content
    assert len(content) == chat.usage.completion_tokens
    for entry in content:
        assert entry.logprob <= 0
        assert len(entry.top_logprobs) == top
        assert [alternative.token for alternative in entry.top_logprobs[:1]] == [entry.token][:top]
        assert entry.top_logprobs == sorted(entry.top_logprobs, key=lambda alternative: -alternative.logprob)
    streamed = gateway_sdk.chat.completions.create(**request, logprobs=True, top_logprobs=top, stream=True)
    pieces = [chunk.choices[0].logprobs for chunk in streamed if chunk.choices and chunk.choices[0].logprobs]
    assert [entry for piece in pieces for entry in piece.content] == content
    with pytest.raises(openai.BadRequestError) as refused:
        gateway_sdk.chat.completions.create(**request, logprobs=True, top_logprobs=most + 1)
    assert refused.value.param == "top_logprobs"

    legacy = gateway_sdk.completions.create(
        model="hearth", prompt="1, 2, 3,", max_tokens=4, temperature=0, logprobs=top
    )
    logprobs = legacy.choices[0].logprobs
    assert "".join(logprobs.tokens) == legacy.choices[0].text
    assert logprobs.text_offset == [len("".join(logprobs.tokens[:index])) for index in range(len(logprobs.tokens))]
    assert [len(alternatives) for alternatives in logprobs.top_logprobs] == [top] * len(logprobs.tokens)


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/generate-text", {"prompt": "Hi", "regex": "([0-9]"}, "regex"),
        ("/generate-text", {"prompt": "Hi", "json_schema": {"type": "no-such-type"}}, "json_schema"),
        (
            "/v1/chat/completions",
            {
                "messages": [{"role": "user", "content": "Hi"}],
                "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": 7}}},
            },
            "response_format.json_schema.schema",
        ),
        (
            "/v1/chat/completions",
            {
                "messages": [{"role": "user", "content": "Hi"}],
                "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "no-such-type"}}}],
            },
            "tools[0].function.parameters",
        ),
    ],
)
def test_a_broken_constraint_is_a_400_naming_the_field(
    gateway_http: httpx.Client, path: str, body: dict, param: str
) -> None:
    reply = gateway_http.post(path, json=body)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["param"] == param
    assert error["message"].startswith(f"{param}: ")
