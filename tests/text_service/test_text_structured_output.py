"""Guided decoding, tool calls and logprobs through the real service, on each engine and the embedded model."""

import json
import re
from concurrent.futures import ThreadPoolExecutor

import grpc
import jsonschema
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from hearth.text.v1 import text_service_pb2 as pb
from hearth.text.v1 import text_service_pb2_grpc as pb_grpc
from tests.service_processes import ServiceProcess
from tests.text_service.text_client import CALL_TIMEOUT, text_stub

PERSON_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 12},
        "age": {"type": "integer"},
        "role": {"enum": ["cook", "smith", "sailor"]},
        "home": {
            "type": "object",
            "properties": {"town": {"type": "string", "maxLength": 12}, "by_the_sea": {"type": "boolean"}},
            "required": ["town", "by_the_sea"],
            "additionalProperties": False,
        },
        "tools": {"type": "array", "items": {"enum": ["axe", "net", "pot"]}, "minItems": 1, "maxItems": 3},
    },
    "required": ["name", "age", "role", "home", "tools"],
    "additionalProperties": False,
}
WEATHER_TOOL = pb.ToolDefinition(
    name="get_weather",
    description="The weather in a town today.",
    parameters=json.dumps(
        {
            "type": "object",
            "properties": {"town": {"type": "string", "maxLength": 16}, "unit": {"enum": ["celsius", "fahrenheit"]}},
            "required": ["town", "unit"],
            "additionalProperties": False,
        }
    ),
)
CLOCK_TOOL = pb.ToolDefinition(name="get_time", description="The time now.")
REQUESTS_PER_RPC = 5


def _params(content: str, max_new_tokens: int = 120, **fields: object) -> pb.TextParams:
    sampling = pb.SamplingParams(max_new_tokens=max_new_tokens, temperature=fields.pop("temperature", 0.0), seed=7)
    return pb.TextParams(messages=[pb.ChatMessage(role="user", content=content)], sampling=sampling, **fields)


def _stream(stub: pb_grpc.TextGenerationServiceStub, params: pb.TextParams) -> pb.GenerateResponse:
    """A streamed request assembled into the unary response's shape (tool call deltas joined by index)."""
    text, token_ids, logprobs, calls = [], [], [], {}
    reply = pb.GenerateResponse()
    for message in stub.GenerateStream(pb.GenerateStreamRequest(params=params), timeout=CALL_TIMEOUT):
        text.append(message.text)
        token_ids.extend(message.token_ids)
        logprobs.extend(message.logprobs)
        for delta in message.tool_calls:
            call = calls.setdefault(delta.index, pb.ToolCall())
            call.id, call.name = call.id or delta.id, call.name or delta.name
            call.arguments += delta.arguments
        if message.finish_reason:
            reply.finish_reason = message.finish_reason
    reply.text = "".join(text)
    reply.token_ids.extend(token_ids)
    reply.logprobs.extend(logprobs)
    reply.tool_calls.extend(calls[index] for index in sorted(calls))
    return reply


def _both_ways(target: str, params: list[pb.TextParams]) -> list[pb.GenerateResponse]:
    """Every request unary and streamed, all at once (constrained requests batch with each other)."""
    with text_stub(target) as stub, ThreadPoolExecutor(len(params) * 2) as pool:
        unary = [pool.submit(stub.Generate, pb.GenerateRequest(params=p), timeout=CALL_TIMEOUT) for p in params]
        streamed = [pool.submit(_stream, stub, p) for p in params]
        return [future.result() for future in unary + streamed]


def test_json_schema_output_parses_and_validates_unary_and_streamed(text_service: ServiceProcess) -> None:
    prompts = ["Describe a villager.", "Invent a sailor.", "A cook from the hills.", "Anyone at all.", "A smith."]
    guided = pb.GuidedDecoding(json_schema=json.dumps(PERSON_SCHEMA))
    replies = _both_ways(
        text_service.target,
        [_params(prompt, 200, guided=guided) for prompt in prompts[:REQUESTS_PER_RPC]],
    )
    for reply in replies:
        assert reply.finish_reason == pb.FINISH_REASON_END_OF_SEQUENCE, reply.text
        jsonschema.validate(json.loads(reply.text), PERSON_SCHEMA)


def test_regex_and_choice_outputs_match_in_full(text_service: ServiceProcess) -> None:
    pattern = r"[0-9]{3}-[A-Z]{2}"
    choices = ["hearth", "chimney", "kettle on the fire"]
    regex_reply, choice_reply, regex_streamed, choice_streamed = _both_ways(
        text_service.target,
        [
            _params("Give me a code.", 20, guided=pb.GuidedDecoding(regex=pattern)),
            _params("Which is warmest?", 20, guided=pb.GuidedDecoding(choice=pb.ChoiceList(choices=choices))),
        ],
    )
    assert re.fullmatch(pattern, regex_reply.text)
    assert re.fullmatch(pattern, regex_streamed.text)
    assert choice_reply.text in choices
    assert choice_streamed.text == choice_reply.text


def test_a_grammar_constrains_the_output(text_service: ServiceProcess) -> None:
    grammar = 'root ::= "The fire is " colour "."\ncolour ::= "red" | "orange" | "blue"'
    params = _params("Tell me about the fire.", 20, guided=pb.GuidedDecoding(grammar=grammar))
    for reply in _both_ways(text_service.target, [params]):
        assert re.fullmatch(r"The fire is (red|orange|blue)\.", reply.text)


def test_a_named_tool_choice_returns_a_call_whose_arguments_validate(text_service: ServiceProcess) -> None:
    params = _params(
        "What is the weather in Oslo?",
        80,
        tools=[CLOCK_TOOL, WEATHER_TOOL],
        tool_choice=pb.ToolChoice(name="get_weather"),
    )
    unary, streamed = _both_ways(text_service.target, [params])
    for reply in (unary, streamed):
        assert reply.finish_reason == pb.FINISH_REASON_TOOL_CALLS
        assert reply.text == ""
        (call,) = reply.tool_calls
        assert call.name == "get_weather"
        assert call.id.startswith("call_")
        jsonschema.validate(json.loads(call.arguments), json.loads(WEATHER_TOOL.parameters))
    assert streamed.tool_calls[0].arguments == unary.tool_calls[0].arguments


def test_a_tool_result_turn_is_accepted_after_the_call(text_service: ServiceProcess) -> None:
    call = pb.ToolCall(id="call_1", name="get_weather", arguments='{"town": "Oslo", "unit": "celsius"}')
    messages = [
        pb.ChatMessage(role="user", content="Weather in Oslo?"),
        pb.ChatMessage(role="assistant", tool_calls=[call]),
        pb.ChatMessage(role="tool", tool_call_id="call_1", content='{"temperature": -3}'),
    ]
    params = pb.TextParams(messages=messages, tools=[WEATHER_TOOL], sampling=pb.SamplingParams(max_new_tokens=8))
    with text_stub(text_service.target) as stub:
        reply = stub.Generate(pb.GenerateRequest(params=params), timeout=CALL_TIMEOUT)
    assert reply.usage.completion_tokens > 0


def _capabilities(stub: pb_grpc.TextGenerationServiceStub) -> pb.TextCapabilities:
    return stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=CALL_TIMEOUT).capabilities


def test_greedy_logprobs_put_the_chosen_token_first(text_service: ServiceProcess) -> None:
    with text_stub(text_service.target) as stub:
        top = min(3, _capabilities(stub).max_top_logprobs)
        params = _params("Name a colour of fire.", 12, logprobs=True, top_logprobs=top)
        unary, streamed = _both_ways(text_service.target, [params])
    assert [entry.token_id for entry in unary.logprobs] == list(unary.token_ids)
    assert [entry.token_id for entry in streamed.logprobs] == list(unary.token_ids)
    batched_together = pytest.approx([entry.logprob for entry in unary.logprobs], abs=1e-3)
    assert [entry.logprob for entry in streamed.logprobs] == batched_together
    for entry in unary.logprobs:
        assert entry.logprob <= 0.0
        assert len(entry.top_logprobs) == top
        if top:
            assert entry.top_logprobs[0].token_id == entry.token_id
            assert entry.top_logprobs[0].logprob == pytest.approx(entry.logprob)
            values = [candidate.logprob for candidate in entry.top_logprobs]
            assert values == sorted(values, reverse=True)
    assert b"".join(entry.token_bytes for entry in unary.logprobs).decode() == unary.text


def test_sampled_logprobs_belong_to_the_sampled_tokens(text_service: ServiceProcess) -> None:
    with text_stub(text_service.target) as stub:
        top = _capabilities(stub).max_top_logprobs
        params = _params("Name a colour of fire.", 16, logprobs=True, top_logprobs=top, temperature=1.3)
        greedy_params = _params("Name a colour of fire.", 1, logprobs=True, top_logprobs=top)
        sampled = stub.Generate(pb.GenerateRequest(params=params), timeout=CALL_TIMEOUT)
        first = stub.Generate(pb.GenerateRequest(params=greedy_params), timeout=CALL_TIMEOUT).logprobs[0]
    assert [entry.token_id for entry in sampled.logprobs] == list(sampled.token_ids)
    for entry in sampled.logprobs:
        assert entry.logprob <= 0.0
        listed = {candidate.token_id: candidate.logprob for candidate in entry.top_logprobs}
        if entry.token_id in listed:
            assert listed[entry.token_id] == pytest.approx(entry.logprob)
        elif listed:
            assert entry.logprob <= min(listed.values())
    same_position = {candidate.token_id: candidate.logprob for candidate in first.top_logprobs}
    same_position[first.token_id] = first.logprob
    if sampled.token_ids[0] in same_position:
        assert sampled.logprobs[0].logprob == pytest.approx(same_position[sampled.token_ids[0]], abs=1e-3)


def test_more_alternatives_than_the_engine_reports_are_refused_not_ignored(text_service: ServiceProcess) -> None:
    """Beyond the contract's limit the request is invalid; within it but beyond the engine, unimplemented."""
    with text_stub(text_service.target) as stub:
        info = stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=CALL_TIMEOUT)
        most = info.capabilities.max_top_logprobs
        params = _params("Hi.", 4, logprobs=True, top_logprobs=most + 1)
        with pytest.raises(grpc.RpcError) as refused:
            stub.Generate(pb.GenerateRequest(params=params), timeout=CALL_TIMEOUT)
    within_contract = most < info.limits.max_top_logprobs
    expected = grpc.StatusCode.UNIMPLEMENTED if within_contract else grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.code() == expected
    assert _field_named(refused.value) == "top_logprobs"


def _field_named(error: grpc.RpcError) -> str:
    status = rpc_status.from_call(error)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            return bad.field_violations[0].field
    raise AssertionError("no BadRequest detail")


@pytest.mark.parametrize(
    ("guided", "field", "words"),
    [
        (
            pb.GuidedDecoding(json_schema='{"type": "object", "properties": {"a": {"type": "strin"}}}'),
            "guided.json_schema",
            "strin",
        ),
        (pb.GuidedDecoding(json_schema="{not json"), "guided.json_schema", "not valid JSON"),
        (pb.GuidedDecoding(regex="(yes|no"), "guided.regex", "unclosed group"),
        (pb.GuidedDecoding(grammar='root ::= "a" | b'), "guided.grammar", "'b'"),
    ],
)
def test_a_broken_guide_is_refused_naming_its_field(
    text_service: ServiceProcess, guided: pb.GuidedDecoding, field: str, words: str
) -> None:
    with text_stub(text_service.target) as stub, pytest.raises(grpc.RpcError) as refused:
        stub.Generate(pb.GenerateRequest(params=_params("Hi.", 4, guided=guided)), timeout=CALL_TIMEOUT)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _field_named(refused.value) == field
    assert words in refused.value.details()
