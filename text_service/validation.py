"""Checking every field of a text request against the limits in force, before any model work.

Each refusal is an InvalidField naming the field (in proto path form, e.g. ``sampling.top_p`` or
``messages[2].role``, paths inside ``TextParams``) and the limit, so a client can fix its request without
reading the server's logs. GenerateRequest and GenerateStreamRequest both carry one ``TextParams`` and a
``request_id``, so one function checks both.
"""

import math
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace

from hearth.text.v1 import text_service_pb2 as pb
from serving_core.request_errors import InvalidField
from text_service.engine import SamplingOptions
from text_service.prompts import ChatTurn

ROLES = ("system", "user", "assistant")
MAX_REQUEST_ID_CHARS = 128
MAX_TEMPERATURE = 2.0
MAX_TOP_K = 1000
MAX_REPETITION_PENALTY = 10.0


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
    for index, message in enumerate(messages):
        if message.role not in ROLES:
            raise InvalidField(f"messages[{index}].role", f"must be one of {', '.join(ROLES)}; got {message.role!r}")
        if not message.content and message.role != "assistant":
            raise InvalidField(f"messages[{index}].content", "must not be empty (only an assistant turn may be)")
        turns.append(ChatTurn(message.role, message.content))
    total = sum(len(turn.content) for turn in turns)
    if total > limits.max_prompt_chars:
        raise InvalidField("messages", f"{total} characters of content; at most {limits.max_prompt_chars}")
    return turns


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


def check_generate_request(
    request: pb.GenerateRequest | pb.GenerateStreamRequest, limits: TextLimits, has_chat_template: bool
) -> ValidRequest:
    """Checks a GenerateRequest or GenerateStreamRequest; raises InvalidField naming the first bad field."""
    if len(request.request_id) > MAX_REQUEST_ID_CHARS:
        raise InvalidField("request_id", f"{len(request.request_id)} characters; at most {MAX_REQUEST_ID_CHARS}")
    params = request.params
    prompt = check_prompt_input(params, limits, has_chat_template)
    sampling, requested = _check_sampling(params.sampling, limits)
    return ValidRequest(
        request_id=request.request_id or uuid.uuid4().hex,
        prompt=prompt,
        sampling=sampling,
        max_new_tokens=requested,
        include_prompt=params.include_prompt,
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
