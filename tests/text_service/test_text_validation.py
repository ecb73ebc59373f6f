"""Every invalid field is refused with INVALID_ARGUMENT naming it, and nothing a client sends crashes the service."""

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hearth.text.v1 import text_service_pb2 as pb
from tests.service_processes import ServiceProcess
from tests.text_service.text_client import CALL_TIMEOUT, text_stub

USER = pb.ChatMessage(role="user", content="hi")
LONG_PROMPT = "fire " * 5000  # 5001 tokens: room for 3191 more in the 8192-token context


def _sampling(**fields: object) -> pb.SamplingParams:
    return pb.SamplingParams(**{"max_new_tokens": 2, **fields})


INVALID = [
    ("prompt", pb.GenerateRequest(params=pb.TextParams(sampling=_sampling()))),
    ("prompt", pb.GenerateRequest(params=pb.TextParams(prompt="x", messages=[USER]))),
    ("prompt", pb.GenerateRequest(params=pb.TextParams(prompt="x" * 32769))),
    ("messages", pb.GenerateRequest(params=pb.TextParams(messages=[USER] * 257))),
    (
        "messages[1].role",
        pb.GenerateRequest(params=pb.TextParams(messages=[USER, pb.ChatMessage(role="wizard", content="x")])),
    ),
    (
        "messages[0].content",
        pb.GenerateRequest(params=pb.TextParams(messages=[pb.ChatMessage(role="user", content="")])),
    ),
    ("messages", pb.GenerateRequest(params=pb.TextParams(messages=[pb.ChatMessage(role="user", content="x" * 32769)]))),
    (
        "sampling.max_new_tokens",
        pb.GenerateRequest(params=pb.TextParams(prompt="x", sampling=pb.SamplingParams(max_new_tokens=0))),
    ),
    (
        "sampling.max_new_tokens",
        pb.GenerateRequest(params=pb.TextParams(prompt="x", sampling=pb.SamplingParams(max_new_tokens=4097))),
    ),
    (
        "sampling.temperature",
        pb.GenerateRequest(params=pb.TextParams(prompt="x", sampling=_sampling(temperature=-0.5))),
    ),
    ("sampling.temperature", pb.GenerateRequest(params=pb.TextParams(prompt="x", sampling=_sampling(temperature=2.5)))),
    (
        "sampling.temperature",
        pb.GenerateRequest(params=pb.TextParams(prompt="x", sampling=_sampling(temperature=float("nan")))),
    ),
    ("sampling.top_p", pb.GenerateRequest(params=pb.TextParams(prompt="x", sampling=_sampling(top_p=0.0)))),
    ("sampling.top_p", pb.GenerateRequest(params=pb.TextParams(prompt="x", sampling=_sampling(top_p=1.5)))),
    ("sampling.top_k", pb.GenerateRequest(params=pb.TextParams(prompt="x", sampling=_sampling(top_k=1001)))),
    (
        "sampling.repetition_penalty",
        pb.GenerateRequest(params=pb.TextParams(prompt="x", sampling=_sampling(repetition_penalty=0.0))),
    ),
    (
        "sampling.repetition_penalty",
        pb.GenerateRequest(params=pb.TextParams(prompt="x", sampling=_sampling(repetition_penalty=11.0))),
    ),
    (
        "sampling.stop",
        pb.GenerateRequest(params=pb.TextParams(prompt="x", sampling=_sampling(stop=[str(i) for i in range(9)]))),
    ),
    ("sampling.stop[1]", pb.GenerateRequest(params=pb.TextParams(prompt="x", sampling=_sampling(stop=["ok", ""])))),
    ("sampling.stop[0]", pb.GenerateRequest(params=pb.TextParams(prompt="x", sampling=_sampling(stop=["é" * 65])))),
    ("request_id", pb.GenerateRequest(params=pb.TextParams(prompt="x"), request_id="r" * 129)),
    (
        "sampling.max_new_tokens",
        pb.GenerateRequest(params=pb.TextParams(prompt=LONG_PROMPT, sampling=pb.SamplingParams(max_new_tokens=4000))),
    ),
    (
        "prompt",
        pb.GenerateRequest(params=pb.TextParams(prompt="1 " * 9000, sampling=pb.SamplingParams(max_new_tokens=1))),
    ),
]


def _field_violations(error: grpc.RpcError) -> list[str]:
    status = rpc_status.from_call(error)
    assert status is not None, "the error carries a google.rpc.Status"
    violations = []
    for detail in status.details:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            violations.extend(v.field for v in bad_request.field_violations)
    return violations


@pytest.mark.parametrize(("field", "request_message"), INVALID, ids=[f"{f}-{i}" for i, (f, _) in enumerate(INVALID)])
def test_an_invalid_field_is_refused_by_name(
    text_service: ServiceProcess, field: str, request_message: pb.GenerateRequest
) -> None:
    stream_message = pb.GenerateStreamRequest()
    stream_message.ParseFromString(request_message.SerializeToString())
    with text_stub(text_service.target) as stub:
        for call in (
            lambda: stub.Generate(request_message, timeout=CALL_TIMEOUT),
            lambda: list(stub.GenerateStream(stream_message, timeout=CALL_TIMEOUT)),
        ):
            with pytest.raises(grpc.RpcError) as caught:
                call()
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert caught.value.details().startswith(f"{field}: ")
            assert _field_violations(caught.value) == [field]


def test_the_limit_is_in_the_message(text_service: ServiceProcess) -> None:
    with text_stub(text_service.target) as stub, pytest.raises(grpc.RpcError) as caught:
        stub.Generate(
            pb.GenerateRequest(params=pb.TextParams(prompt="x", sampling=pb.SamplingParams(max_new_tokens=5000)))
        )
    assert "4096" in caught.value.details()


def test_tokenize_validates_its_input_too(text_service: ServiceProcess) -> None:
    with text_stub(text_service.target) as stub, pytest.raises(grpc.RpcError) as caught:
        stub.Tokenize(pb.TokenizeRequest(), timeout=CALL_TIMEOUT)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _field_violations(caught.value) == ["prompt"]


def test_a_duplicate_request_id_in_flight_is_refused(text_service: ServiceProcess) -> None:
    with text_stub(text_service.target) as stub:
        first = stub.GenerateStream(
            pb.GenerateStreamRequest(
                params=pb.TextParams(prompt="Once", sampling=pb.SamplingParams(max_new_tokens=64)), request_id="same-id"
            )
        )
        next(first)
        with pytest.raises(grpc.RpcError) as caught:
            stub.Generate(
                pb.GenerateRequest(params=pb.TextParams(prompt="x"), request_id="same-id"), timeout=CALL_TIMEOUT
            )
        first.cancel()
    assert _field_violations(caught.value) == ["request_id"]


text_fields = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32), st.sampled_from([0.0, 0.5, 1.0]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    prompt=text_fields,
    roles=st.lists(st.sampled_from(["user", "system", "assistant", "", "tool"]), max_size=3),
    contents=text_fields,
    max_new_tokens=st.sampled_from([0, 1, 3, 4097, 2**32 - 1]),
    temperature=floats,
    top_p=st.one_of(st.none(), floats),
    top_k=st.sampled_from([0, 1, 40, 1000, 1001, 2**32 - 1]),
    penalty=st.one_of(st.none(), floats),
    seed=st.one_of(st.none(), st.integers(0, 2**64 - 1)),
    stop=st.lists(text_fields, max_size=10),
    request_id=st.one_of(st.just(""), text_fields),
)
def test_nothing_a_client_sends_crashes_the_service(
    text_service: ServiceProcess,
    prompt: str,
    roles: list[str],
    contents: str,
    max_new_tokens: int,
    temperature: float,
    top_p: float | None,
    top_k: int,
    penalty: float | None,
    seed: int | None,
    stop: list[str],
    request_id: str,
) -> None:
    sampling = pb.SamplingParams(temperature=temperature, top_k=top_k, stop=stop)
    sampling.max_new_tokens = max_new_tokens
    for name, value in (("top_p", top_p), ("repetition_penalty", penalty)):
        if value is not None:
            setattr(sampling, name, value)
    if seed is not None:
        sampling.seed = seed
    messages = [pb.ChatMessage(role=role, content=contents) for role in roles]
    request = pb.GenerateRequest(
        params=pb.TextParams(prompt=prompt, messages=messages, sampling=sampling), request_id=request_id
    )
    with text_stub(text_service.target) as stub:
        try:
            reply = stub.Generate(request, timeout=CALL_TIMEOUT)
        except grpc.RpcError as error:
            refused = error
        else:
            refused = None
            assert reply.usage.completion_tokens <= max_new_tokens
    if refused is not None:
        assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.details()
    assert text_service.process is not None
    assert text_service.process.poll() is None
