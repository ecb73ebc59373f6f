"""Guides, logprobs, tools and tool turns are checked before any model work: the refusals a client sees."""

import json

import pytest

from hearth.text.v1 import text_service_pb2 as pb
from serving_core.request_errors import InvalidField, UnsupportedField
from text_service.engine import EngineCapabilities
from text_service.validation import TextLimits, check_generate_request

LIMITS = TextLimits(
    context_length=2048,
    default_max_new_tokens=50,
    max_new_tokens_limit=80,
    max_prompt_chars=1000,
    max_messages=8,
    max_stop_sequences=2,
    max_stop_bytes=8,
    max_queue=1,
)
ALL = EngineCapabilities(guided_kinds=("json_schema", "regex", "choice", "grammar"), logprobs=True, max_top_logprobs=5)
NO_GRAMMAR_NO_TOP = EngineCapabilities(
    guided_kinds=("json_schema", "regex", "choice"), logprobs=True, max_top_logprobs=0
)
HI = [pb.ChatMessage(role="user", content="hi")]
TOOL = pb.ToolDefinition(
    name="get_weather", parameters='{"type": "object", "properties": {"town": {"type": "string"}}}'
)


def _nested(depth: int) -> dict:
    schema: dict = {"type": "string"}
    for _ in range(depth - 1):
        schema = {"type": "object", "properties": {"inner": schema}}
    return schema


def _check(capabilities: EngineCapabilities = ALL, **params: object) -> object:
    params.setdefault("messages", HI)
    return check_generate_request(pb.GenerateRequest(params=pb.TextParams(**params)), LIMITS, True, capabilities)


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"guided": pb.GuidedDecoding(json_schema='{"type": 5}')}, "guided.json_schema", "not a valid JSON Schema"),
        ({"guided": pb.GuidedDecoding(json_schema="[1]")}, "guided.json_schema", "must be a JSON object"),
        ({"guided": pb.GuidedDecoding(json_schema="x" * 16385)}, "guided.json_schema", "at most 16384"),
        ({"guided": pb.GuidedDecoding(json_schema=json.dumps(_nested(17)))}, "guided.json_schema", "17 levels deep"),
        ({"guided": pb.GuidedDecoding(regex="")}, "guided.regex", "must not be empty"),
        ({"guided": pb.GuidedDecoding(regex="a{2,1}")}, "guided.regex", "does not compile"),
        ({"guided": pb.GuidedDecoding(choice=pb.ChoiceList())}, "guided.choice", "0 choices"),
        ({"guided": pb.GuidedDecoding(choice=pb.ChoiceList(choices=["a", ""]))}, "guided.choice[1]", "1 to 1024"),
        ({"guided": pb.GuidedDecoding(grammar='root ::= ("a"')}, "guided.grammar", "Expected ')'"),
        ({"top_logprobs": 2}, "top_logprobs", "needs logprobs"),
        ({"logprobs": True, "top_logprobs": 6}, "top_logprobs", "[0, 5]"),
        ({"tools": [TOOL], "messages": [], "prompt": "x"}, "tools", "chat messages"),
        ({"tools": [pb.ToolDefinition(name="no spaces")]}, "tools[0].name", "a-z"),
        ({"tools": [TOOL, TOOL]}, "tools[1].name", "offered twice"),
        ({"tools": [pb.ToolDefinition(name="t", parameters="{")]}, "tools[0].parameters", "not valid JSON"),
        ({"tools": [TOOL], "tool_choice": pb.ToolChoice(name="other")}, "tool_choice.name", "none of the request"),
        ({"tool_choice": pb.ToolChoice(mode=pb.TOOL_CHOICE_MODE_REQUIRED)}, "tool_choice", "needs tools"),
        ({"tools": [TOOL], "guided": pb.GuidedDecoding(regex="a")}, "guided", "unless tool_choice is none"),
    ],
)
def test_a_bad_field_is_refused_by_name(params: dict, field: str, words: str) -> None:
    with pytest.raises(InvalidField) as refused:
        _check(**params)
    assert type(refused.value) is InvalidField
    assert refused.value.field == field
    assert words in refused.value.description


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"guided": pb.GuidedDecoding(grammar='root ::= "a"')}, "guided.grammar"),
        ({"logprobs": True, "top_logprobs": 1}, "top_logprobs"),
    ],
)
def test_a_field_the_engine_cannot_honour_is_unsupported_not_ignored(params: dict, field: str) -> None:
    with pytest.raises(UnsupportedField) as refused:
        _check(NO_GRAMMAR_NO_TOP, **params)
    assert refused.value.field == field


def test_a_choice_list_becomes_a_regex_of_the_escaped_strings() -> None:
    valid = _check(guided=pb.GuidedDecoding(choice=pb.ChoiceList(choices=["a.b", "(c)"])))
    assert valid.guide.kind == "regex"
    assert valid.guide.text == r"a\.b|\(c\)"
    assert valid.guide.field == "guided.choice"


def test_a_named_tool_choice_constrains_the_output_to_that_tools_call() -> None:
    other = pb.ToolDefinition(name="get_time")
    valid = _check(tools=[other, TOOL], tool_choice=pb.ToolChoice(name="get_weather"))
    schema = json.loads(valid.guide.text)
    assert schema["properties"]["name"] == {"const": "get_weather"}
    assert schema["properties"]["arguments"] == json.loads(TOOL.parameters)
    required = _check(tools=[other, TOOL], tool_choice=pb.ToolChoice(mode=pb.TOOL_CHOICE_MODE_REQUIRED))
    assert [option["properties"]["name"]["const"] for option in json.loads(required.guide.text)["anyOf"]] == [
        "get_time",
        "get_weather",
    ]
    assert _check(tools=[TOOL]).guide is None, "auto leaves the output free"


def test_tool_turns_must_answer_an_earlier_call() -> None:
    call = pb.ToolCall(id="call_1", name="get_weather", arguments='{"town": "Oslo"}')
    calling = pb.ChatMessage(role="assistant", tool_calls=[call])
    answer = pb.ChatMessage(role="tool", tool_call_id="call_1", content="-3 C")
    assert len(_check(messages=[*HI, calling, answer]).prompt.messages) == 3
    with pytest.raises(InvalidField) as unknown:
        _check(messages=[*HI, calling, pb.ChatMessage(role="tool", tool_call_id="call_2", content="x")])
    assert unknown.value.field == "messages[2].tool_call_id"
    with pytest.raises(InvalidField) as missing:
        _check(messages=[*HI, pb.ChatMessage(role="tool", content="x")])
    assert missing.value.field == "messages[1].tool_call_id"
    bad_arguments = pb.ChatMessage(role="assistant", tool_calls=[pb.ToolCall(id="c", name="f", arguments="[1]")])
    with pytest.raises(InvalidField) as refused:
        _check(messages=[*HI, bad_arguments])
    assert refused.value.field == "messages[1].tool_calls[0].arguments"
