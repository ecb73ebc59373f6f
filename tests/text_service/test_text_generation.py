"""Generation through the real service on the embedded model: what a gRPC client sees."""

import pytest

from hearth.text.v1 import text_service_pb2 as pb
from tests.service_processes import ServiceProcess
from tests.text_service.text_client import (
    CALL_TIMEOUT,
    STORY_PROMPT,
    read_stream,
    stream_request,
    text_stub,
    unary_request,
)

CHAT = [pb.ChatMessage(role="user", content="Name three colours of a fire.")]


def test_greedy_unary_and_stream_agree_and_the_deltas_join_to_the_unary_text(text_service: ServiceProcess) -> None:
    with text_stub(text_service.target) as stub:
        unary = stub.Generate(unary_request(max_new_tokens=24), timeout=CALL_TIMEOUT)
        streamed = read_stream(stub, stream_request(max_new_tokens=24))
    assert unary.text
    assert streamed.text == unary.text
    assert streamed.token_ids == list(unary.token_ids)
    assert len(streamed.deltas) > 2, "one message per delta, not one blob"
    assert all("\ufffd" not in delta for delta in streamed.deltas)
    assert streamed.final is not None
    assert streamed.final.finish_reason == unary.finish_reason
    assert streamed.final.usage == unary.usage
    assert unary.usage.completion_tokens == len(unary.token_ids)
    assert unary.usage.total_tokens == unary.usage.prompt_tokens + unary.usage.completion_tokens


def test_max_new_tokens_bounds_the_output(text_service: ServiceProcess) -> None:
    with text_stub(text_service.target) as stub:
        reply = stub.Generate(unary_request(max_new_tokens=5), timeout=CALL_TIMEOUT)
    assert reply.finish_reason in (pb.FINISH_REASON_LENGTH, pb.FINISH_REASON_END_OF_SEQUENCE)
    assert reply.usage.completion_tokens <= 5
    if reply.finish_reason == pb.FINISH_REASON_LENGTH:
        assert reply.usage.completion_tokens == 5


def test_a_seeded_sampled_request_repeats_exactly(text_service: ServiceProcess) -> None:
    sampling = {"max_new_tokens": 24, "temperature": 1.0, "top_p": 0.95, "top_k": 50, "seed": 1234}
    with text_stub(text_service.target) as stub:
        first = stub.Generate(unary_request(**sampling), timeout=CALL_TIMEOUT)
        second = read_stream(stub, stream_request(**sampling))
        other_seeds = {
            stub.Generate(unary_request(**{**sampling, "seed": seed}), timeout=CALL_TIMEOUT).text for seed in (1, 2)
        }
    assert second.text == first.text
    assert other_seeds != {first.text}, "different seeds should not all give the seeded text"


def test_sampling_restricted_to_the_top_token_is_greedy(text_service: ServiceProcess) -> None:
    with text_stub(text_service.target) as stub:
        greedy = stub.Generate(unary_request(max_new_tokens=12), timeout=CALL_TIMEOUT)
        top_k = stub.Generate(unary_request(max_new_tokens=12, temperature=1.5, top_k=1), timeout=CALL_TIMEOUT)
        top_p = stub.Generate(unary_request(max_new_tokens=12, temperature=1.5, top_p=1e-6), timeout=CALL_TIMEOUT)
    assert top_k.text == greedy.text
    assert top_p.text == greedy.text


def test_a_stop_sequence_spanning_tokens_ends_the_output_before_it(text_service: ServiceProcess) -> None:
    with text_stub(text_service.target) as stub:
        full = stub.Generate(unary_request(max_new_tokens=32), timeout=CALL_TIMEOUT)
        words = full.text.split(" ")
        assert len(words) > 6, full.text
        stop = " ".join(words[4:6])  # two words: several tokens, and a space inside
        cut = full.text.index(stop)
        stopped = read_stream(stub, stream_request(max_new_tokens=32, stop=[stop, "never appears ~~~"]))
    assert stopped.text == full.text[:cut]
    assert stopped.final is not None
    assert stopped.final.finish_reason == pb.FINISH_REASON_STOP_SEQUENCE
    assert stop not in stopped.text
    assert stopped.final.usage.completion_tokens < full.usage.completion_tokens


def test_include_prompt_puts_the_prompt_in_front(text_service: ServiceProcess) -> None:
    with text_stub(text_service.target) as stub:
        plain = stub.Generate(unary_request(max_new_tokens=8), timeout=CALL_TIMEOUT)
        request = unary_request(max_new_tokens=8)
        request.params.include_prompt = True
        with_prompt = stub.Generate(request, timeout=CALL_TIMEOUT)
        stream = stream_request(max_new_tokens=8)
        stream.params.include_prompt = True
        streamed = read_stream(stub, stream)
    assert with_prompt.text == STORY_PROMPT + plain.text
    assert streamed.deltas[0] == STORY_PROMPT
    assert streamed.text == with_prompt.text


def test_chat_messages_get_the_chat_template_and_tokenize_agrees(text_service: ServiceProcess) -> None:
    with text_stub(text_service.target) as stub:
        reply = stub.Generate(
            pb.GenerateRequest(params=pb.TextParams(messages=CHAT, sampling=pb.SamplingParams(max_new_tokens=16))),
            timeout=CALL_TIMEOUT,
        )
        tokens = stub.Tokenize(pb.TokenizeRequest(messages=CHAT), timeout=CALL_TIMEOUT)
        request = pb.GenerateRequest(
            params=pb.TextParams(messages=CHAT, sampling=pb.SamplingParams(max_new_tokens=4), include_prompt=True)
        )
        templated = stub.Generate(request, timeout=CALL_TIMEOUT)
    assert reply.text.strip()
    assert reply.usage.prompt_tokens == len(tokens.token_ids)
    assert "<|im_start|>assistant" in "".join(tokens.tokens)
    assert templated.text.startswith("<|im_start|>")
    assert "Name three colours of a fire." in templated.text


def test_tokenize_returns_ids_and_their_strings(text_service: ServiceProcess) -> None:
    with text_stub(text_service.target) as stub:
        tokens = stub.Tokenize(pb.TokenizeRequest(prompt="héllo wörld 🙂"), timeout=CALL_TIMEOUT)
        reply = stub.Generate(
            pb.GenerateRequest(
                params=pb.TextParams(prompt="héllo wörld 🙂", sampling=pb.SamplingParams(max_new_tokens=1))
            )
        )
    assert len(tokens.token_ids) == len(tokens.tokens) > 3
    assert reply.usage.prompt_tokens == len(tokens.token_ids)


def test_model_info_describes_model_limits_and_engine(text_service: ServiceProcess, text_engine: str) -> None:
    with text_stub(text_service.target) as stub:
        info = stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=CALL_TIMEOUT)
    assert info.model_id == "SmolLM2-135M-Instruct.Q4_1"
    assert (info.dtype, info.device) == ("float32", "cpu")
    assert info.has_chat_template
    assert info.limits.context_length == 8192
    assert info.limits.max_new_tokens_limit == 4096
    assert info.engine.name == f"{text_engine}-continuous-batching"
    assert info.engine.max_batch_size >= 16
    assert info.stats.finished_requests >= 2, "the warm-up requests went through the engine"


@pytest.mark.parametrize("temperature", [0.0, 0.7])
def test_a_request_with_a_repetition_penalty_completes(text_service: ServiceProcess, temperature: float) -> None:
    with text_stub(text_service.target) as stub:
        plain = stub.Generate(unary_request(max_new_tokens=24, temperature=temperature, seed=5), timeout=CALL_TIMEOUT)
        penalized = stub.Generate(
            unary_request(max_new_tokens=24, temperature=temperature, seed=5, repetition_penalty=1.8),
            timeout=CALL_TIMEOUT,
        )
    assert penalized.text
    assert penalized.text != plain.text
