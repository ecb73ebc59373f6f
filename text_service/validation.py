"""Checking every field of a text request against the limits in force, before any model work.

Each refusal is an InvalidField naming the field (in proto path form, e.g. ``sampling.top_p`` or
``messages[2].role``, paths inside ``TextParams``) and the limit, so a client can fix its request without
reading the server's logs. GenerateRequest and GenerateStreamRequest both carry one ``TextParams`` and a
``request_id``, so one function checks both. A field the engine cannot honour (its EngineCapabilities) is
refused as UnsupportedField, never ignored.
"""

import json
import math
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace

from hearth.text.v1 import text_service_pb2 as pb
from serving_core.request_errors import InvalidField, UnsupportedField
from text_service.engine import EngineCapabilities, SamplingOptions
from text_service.guided import Guide, GuidedLimits, check_choices, check_guide, parse_json_schema
from text_service.prompts import ChatTurn
from text_service.tool_calls import ToolCall, ToolSpec, ToolUse

ROLES = ("system", "user", "assistant", "tool")
MAX_REQUEST_ID_CHARS = 128
MAX_TEMPERATURE = 2.0
MAX_TOP_K = 1000
MAX_REPETITION_PENALTY = 10.0
MAX_TOOL_CALLS_PER_MESSAGE = 16
MAX_TOOL_CALL_ID_CHARS = 64
TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
TOOL_CHOICE_MODES = {
    pb.TOOL_CHOICE_MODE_UNSPECIFIED: "auto",
    pb.TOOL_CHOICE_MODE_AUTO: "auto",
    pb.TOOL_CHOICE_MODE_NONE: "none",
    pb.TOOL_CHOICE_MODE_REQUIRED: "required",
}
DEFAULT_GUIDED_LIMITS = GuidedLimits(max_chars=16384, max_schema_depth=16, max_choices=256)


@dataclass(frozen=True)
class TextLimits:
    """The limits GetModelInfo reports and validation enforces."""

    context_length: int
    default_max_new_tokens: int
    max_new_tokens_limit: int
    max_prompt_chars: int
    max_messages: int
    max_stop_sequences: int
    max_stop_bytes: int
    max_queue: int
    guided: GuidedLimits = DEFAULT_GUIDED_LIMITS
    max_tools: int = 64
    max_top_logprobs: int = 5


@dataclass(frozen=True)
class PromptInput:
    """A raw prompt or chat messages (exactly one is set)."""

    prompt: str
    messages: list[ChatTurn]

    @property
    def field(self) -> str:
        """The field to name when the prompt as a whole is refused."""
        return "messages" if self.messages else "prompt"


@dataclass(frozen=True)
class ValidRequest:
    """A generation request that passed validation; ``max_new_tokens`` is None when the client set none."""

    request_id: str
    prompt: PromptInput
    sampling: SamplingOptions
    max_new_tokens: int | None
    include_prompt: bool
    guide: Guide | None = None
    top_logprobs: int | None = None
    tool_use: ToolUse | None = None


def check_prompt_input(
    request: pb.TextParams | pb.TokenizeRequest, limits: TextLimits, has_chat_template: bool
) -> PromptInput:
    """Exactly one of prompt and messages, within the size limits; chat only if the model has a template."""
    if request.prompt and request.messages:
        raise InvalidField("prompt", "set either prompt or messages, not both")
    if request.messages:
        return PromptInput("", _check_messages(request.messages, limits, has_chat_template))
    if not request.prompt:
        raise InvalidField("prompt", "must not be empty (or send chat messages instead)")
    if len(request.prompt) > limits.max_prompt_chars:
        raise InvalidField("prompt", f"{len(request.prompt)} characters; at most {limits.max_prompt_chars}")
    return PromptInput(request.prompt, [])


def _check_messages(messages: Sequence[pb.ChatMessage], limits: TextLimits, has_chat_template: bool) -> list[ChatTurn]:
    if not has_chat_template:
        raise InvalidField("messages", "this model has no chat template; send a raw prompt")
    if len(messages) > limits.max_messages:
        raise InvalidField("messages", f"{len(messages)} messages; at most {limits.max_messages}")
    turns = []
    call_ids: set[str] = set()
    for index, message in enumerate(messages):
        if message.role not in ROLES:
            raise InvalidField(f"messages[{index}].role", f"must be one of {', '.join(ROLES)}; got {message.role!r}")
        if not message.content and message.role != "assistant":
            raise InvalidField(f"messages[{index}].content", "must not be empty (only an assistant turn may be)")
        calls = _check_message_calls(message, f"messages[{index}]")
        call_ids.update(call.id for call in calls)
        if (message.role == "tool") != bool(message.tool_call_id):
            raise InvalidField(f"messages[{index}].tool_call_id", "required on a tool turn, and only there")
        if message.tool_call_id and message.tool_call_id not in call_ids:
            raise InvalidField(
                f"messages[{index}].tool_call_id",
                f"{message.tool_call_id!r} names no tool call of an earlier assistant turn",
            )
        turns.append(ChatTurn(message.role, message.content, calls, message.tool_call_id))
    total = sum(len(turn.content) for turn in turns)
    if total > limits.max_prompt_chars:
        raise InvalidField("messages", f"{total} characters of content; at most {limits.max_prompt_chars}")
    return turns


def _check_message_calls(message: pb.ChatMessage, path: str) -> tuple[ToolCall, ...]:
    """An assistant turn's earlier calls: each with an id, a tool name and JSON object arguments."""
    if message.tool_calls and message.role != "assistant":
        raise InvalidField(f"{path}.tool_calls", "only an assistant turn carries tool calls")
    if len(message.tool_calls) > MAX_TOOL_CALLS_PER_MESSAGE:
        count = len(message.tool_calls)
        raise InvalidField(f"{path}.tool_calls", f"{count} calls; at most {MAX_TOOL_CALLS_PER_MESSAGE}")
    calls = []
    for index, call in enumerate(message.tool_calls):
        where = f"{path}.tool_calls[{index}]"
        if not 1 <= len(call.id) <= MAX_TOOL_CALL_ID_CHARS:
            raise InvalidField(f"{where}.id", f"must be 1 to {MAX_TOOL_CALL_ID_CHARS} characters; got {len(call.id)}")
        if not TOOL_NAME.fullmatch(call.name):
            raise InvalidField(f"{where}.name", "must be 1 to 64 characters of a-z, A-Z, 0-9, _ and -")
        try:
            arguments = json.loads(call.arguments or "{}")
        except json.JSONDecodeError as error:
            raise InvalidField(f"{where}.arguments", f"not valid JSON: {error}") from None
        if not isinstance(arguments, dict):
            raise InvalidField(f"{where}.arguments", "must be a JSON object")
        calls.append(ToolCall(call.id, call.name, json.dumps(arguments, ensure_ascii=False)))
    return tuple(calls)


def _check_range(field: str, value: float, low: float, high: float, *, low_open: bool = False) -> None:
    """NaN fails every comparison, so it is refused like any other out-of-range value."""
    above_low = value > low if low_open else value >= low
    if not (above_low and value <= high and math.isfinite(value)):
        opening = "(" if low_open else "["
        raise InvalidField(field, f"must be in {opening}{low:g}, {high:g}]; got {value:g}")


def _check_sampling(sampling: pb.SamplingParams, limits: TextLimits) -> tuple[SamplingOptions, int | None]:
    requested = sampling.max_new_tokens if sampling.HasField("max_new_tokens") else None
    if requested is not None and not 1 <= requested <= limits.max_new_tokens_limit:
        raise InvalidField("sampling.max_new_tokens", f"must be in [1, {limits.max_new_tokens_limit}]; got {requested}")
    _check_range("sampling.temperature", sampling.temperature, 0.0, MAX_TEMPERATURE)
    top_p = sampling.top_p if sampling.HasField("top_p") else 1.0
    _check_range("sampling.top_p", top_p, 0.0, 1.0, low_open=True)
    if sampling.top_k > MAX_TOP_K:
        raise InvalidField("sampling.top_k", f"must be in [0, {MAX_TOP_K}] (0 is off); got {sampling.top_k}")
    penalty = sampling.repetition_penalty if sampling.HasField("repetition_penalty") else 1.0
    _check_range("sampling.repetition_penalty", penalty, 0.0, MAX_REPETITION_PENALTY, low_open=True)
    if len(sampling.stop) > limits.max_stop_sequences:
        raise InvalidField("sampling.stop", f"{len(sampling.stop)} stop strings; at most {limits.max_stop_sequences}")
    for index, stop in enumerate(sampling.stop):
        size = len(stop.encode())
        if not 1 <= size <= limits.max_stop_bytes:
            raise InvalidField(f"sampling.stop[{index}]", f"must be 1 to {limits.max_stop_bytes} bytes; got {size}")
    options = SamplingOptions(
        max_new_tokens=requested or limits.default_max_new_tokens,
        temperature=sampling.temperature,
        top_p=top_p,
        top_k=sampling.top_k,
        repetition_penalty=penalty,
        seed=sampling.seed if sampling.HasField("seed") else secrets.randbits(63),
        stop=tuple(sampling.stop),
    )
    return options, requested


def _check_logprobs(params: pb.TextParams, limits: TextLimits, capabilities: EngineCapabilities) -> int | None:
    """The number of alternatives to report per token, or None when logprobs are off."""
    if params.top_logprobs > limits.max_top_logprobs:
        raise InvalidField("top_logprobs", f"must be in [0, {limits.max_top_logprobs}]; got {params.top_logprobs}")
    if params.top_logprobs and not params.logprobs:
        raise InvalidField("top_logprobs", "needs logprobs set to true")
    if not params.logprobs:
        return None
    if not capabilities.logprobs:
        raise UnsupportedField("logprobs", "this service's engine does not report logprobs")
    if params.top_logprobs > capabilities.max_top_logprobs:
        raise UnsupportedField(
            "top_logprobs",
            f"this service's engine reports at most {capabilities.max_top_logprobs} alternatives per token; "
            f"got {params.top_logprobs}",
        )
    return params.top_logprobs


def _check_guided(guided: pb.GuidedDecoding, limits: TextLimits, capabilities: EngineCapabilities) -> Guide | None:
    kind = guided.WhichOneof("kind")
    if kind is None:
        return None
    path = f"guided.{kind}"
    if kind not in capabilities.guided_kinds:
        raise UnsupportedField(path, f"this service's engine supports {', '.join(capabilities.guided_kinds) or 'none'}")
    if kind == "choice":
        return check_choices(list(guided.choice.choices), path, limits.guided)
    return check_guide(kind, getattr(guided, kind), path, limits.guided)


def _check_tools(params: pb.TextParams, limits: TextLimits) -> ToolUse | None:
    """The offered tools (valid names, unique, valid argument schemas) and the tool choice among them."""
    choice = params.tool_choice.WhichOneof("choice")
    if not params.tools:
        if choice == "name" or (choice == "mode" and params.tool_choice.mode != pb.TOOL_CHOICE_MODE_NONE):
            raise InvalidField("tool_choice", "needs tools")
        return None
    if not params.messages:
        raise InvalidField("tools", "tools need chat messages, not a raw prompt")
    if len(params.tools) > limits.max_tools:
        raise InvalidField("tools", f"{len(params.tools)} tools; at most {limits.max_tools}")
    specs: list[ToolSpec] = []
    for index, tool in enumerate(params.tools):
        if not TOOL_NAME.fullmatch(tool.name):
            raise InvalidField(f"tools[{index}].name", "must be 1 to 64 characters of a-z, A-Z, 0-9, _ and -")
        if any(spec.name == tool.name for spec in specs):
            raise InvalidField(f"tools[{index}].name", f"{tool.name!r} is offered twice")
        if len(tool.description) > limits.max_prompt_chars:
            raise InvalidField(f"tools[{index}].description", f"at most {limits.max_prompt_chars} characters")
        schema = parse_json_schema(f"tools[{index}].parameters", tool.parameters or '{"type": "object"}', limits.guided)
        specs.append(ToolSpec(tool.name, tool.description, schema))
    forced = params.tool_choice.name if choice == "name" else None
    if forced is not None and all(spec.name != forced for spec in specs):
        raise InvalidField("tool_choice.name", f"{forced!r} is none of the request's tools")
    mode = TOOL_CHOICE_MODES.get(params.tool_choice.mode, "auto") if choice == "mode" else "auto"
    return ToolUse(tuple(specs), "required" if forced else mode, forced)


def check_generate_request(
    request: pb.GenerateRequest | pb.GenerateStreamRequest,
    limits: TextLimits,
    has_chat_template: bool,
    capabilities: EngineCapabilities,
) -> ValidRequest:
    """Checks a GenerateRequest or GenerateStreamRequest; raises InvalidField naming the first bad field.

    Everything is checked, schemas, regexes and grammars compiled, before the prompt is tokenized.
    """
    if len(request.request_id) > MAX_REQUEST_ID_CHARS:
        raise InvalidField("request_id", f"{len(request.request_id)} characters; at most {MAX_REQUEST_ID_CHARS}")
    params = request.params
    prompt = check_prompt_input(params, limits, has_chat_template)
    sampling, requested = _check_sampling(params.sampling, limits)
    top_logprobs = _check_logprobs(params, limits, capabilities)
    guide = _check_guided(params.guided, limits, capabilities)
    tool_use = _check_tools(params, limits)
    if tool_use is not None and tool_use.parses_calls and guide is not None:
        raise InvalidField("guided", "cannot be combined with tools unless tool_choice is none")
    if tool_use is not None and tool_use.constrained:
        if "json_schema" not in capabilities.guided_kinds:
            raise UnsupportedField("tool_choice", "forcing a tool call needs JSON Schema guided decoding")
        guide = check_guide("json_schema", tool_use.call_schema(), "tool_choice", limits.guided)
    return ValidRequest(
        request_id=request.request_id or uuid.uuid4().hex,
        prompt=prompt,
        sampling=sampling,
        max_new_tokens=requested,
        include_prompt=params.include_prompt,
        guide=guide,
        top_logprobs=top_logprobs,
        tool_use=tool_use,
    )


def fit_to_context(valid: ValidRequest, prompt_tokens: int, limits: TextLimits) -> SamplingOptions:
    """Prompt plus output must fit the context: an explicit max_new_tokens that does not fit is refused, the
    default one shrinks to the room left."""
    room = limits.context_length - prompt_tokens
    if room < 1:
        raise InvalidField(
            valid.prompt.field,
            f"{prompt_tokens} tokens leave no room to generate; the context length is {limits.context_length}",
        )
    if valid.max_new_tokens is not None and valid.max_new_tokens > room:
        raise InvalidField(
            "sampling.max_new_tokens",
            f"{valid.max_new_tokens} plus the prompt's {prompt_tokens} tokens exceeds the context length "
            f"{limits.context_length}; at most {room} here",
        )
    if valid.sampling.max_new_tokens > room:
        return replace(valid.sampling, max_new_tokens=room)
    return valid.sampling
