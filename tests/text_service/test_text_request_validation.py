"""Request checks that need no model: defaults, seeds and fitting the output into the context."""

import pytest

from hearth.text.v1 import text_service_pb2 as pb
from serving_core.request_errors import InvalidField
from text_service.engine import EngineCapabilities
from text_service.validation import TextLimits, check_generate_request, fit_to_context

LIMITS = TextLimits(
    context_length=100,
    default_max_new_tokens=50,
    max_new_tokens_limit=80,
    max_prompt_chars=1000,
    max_messages=4,
    max_stop_sequences=2,
    max_stop_bytes=8,
    max_queue=1,
)
ALL = EngineCapabilities(guided_kinds=("json_schema", "regex", "choice", "grammar"), logprobs=True, max_top_logprobs=5)


def test_an_unset_max_new_tokens_shrinks_to_the_room_left() -> None:
    valid = check_generate_request(pb.GenerateRequest(params=pb.TextParams(prompt="x")), LIMITS, True, ALL)
    assert fit_to_context(valid, 30, LIMITS).max_new_tokens == 50
    assert fit_to_context(valid, 70, LIMITS).max_new_tokens == 30


def test_an_explicit_max_new_tokens_that_does_not_fit_is_refused() -> None:
    request = pb.GenerateRequest(params=pb.TextParams(prompt="x", sampling=pb.SamplingParams(max_new_tokens=40)))
    valid = check_generate_request(request, LIMITS, True, ALL)
    assert fit_to_context(valid, 60, LIMITS).max_new_tokens == 40
    with pytest.raises(InvalidField, match="at most 39 here") as refused:
        fit_to_context(valid, 61, LIMITS)
    assert refused.value.field == "sampling.max_new_tokens"


def test_a_prompt_that_fills_the_context_is_refused_by_its_own_field() -> None:
    chat = pb.GenerateRequest(params=pb.TextParams(messages=[pb.ChatMessage(role="user", content="hi")]))
    with pytest.raises(InvalidField) as refused:
        fit_to_context(check_generate_request(chat, LIMITS, True, ALL), 100, LIMITS)
    assert refused.value.field == "messages"


def test_chat_needs_a_chat_template() -> None:
    chat = pb.GenerateRequest(params=pb.TextParams(messages=[pb.ChatMessage(role="user", content="hi")]))
    with pytest.raises(InvalidField, match="no chat template"):
        check_generate_request(chat, LIMITS, False, ALL)


def test_a_given_seed_is_kept_and_a_missing_one_is_drawn() -> None:
    seeded = check_generate_request(
        pb.GenerateRequest(params=pb.TextParams(prompt="x", sampling=pb.SamplingParams(seed=9))), LIMITS, True, ALL
    )
    drawn = {
        check_generate_request(pb.GenerateRequest(params=pb.TextParams(prompt="x")), LIMITS, True, ALL).sampling.seed
        for _ in range(3)
    }
    assert seeded.sampling.seed == 9
    assert len(drawn) == 3
    assert check_generate_request(pb.GenerateRequest(params=pb.TextParams(prompt="x")), LIMITS, True, ALL).request_id
