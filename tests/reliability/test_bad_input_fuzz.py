"""Bad input: hypothesis fuzzes every field of both services' request messages, request ids included.

Each request is a tiny valid one with one or two fields drawn at or beyond their documented limits (huge,
negative, zero, NaN, infinite, empty, unknown enum numbers, oversized lists; for the image fields an
edit's input and mask: garbage, truncated, GIF, too many pixels, a mask of another size or with alpha); the
wire itself is fuzzed with bytes that are no valid message or carry invalid UTF-8 in a string field.
Every answer is a success or INVALID_ARGUMENT with ErrorInfo reason INVALID_FIELD; only a message over the
size limit may be RESOURCE_EXHAUSTED; never INTERNAL, UNKNOWN or a crash. After every example the
service holds no active or queued request, and after every test a real Generate still succeeds. Valid draws
stay tiny (at most 2 tokens, 72x72 px, 2 images of 2 steps) so the run stays short.
"""

import time
from collections.abc import Iterator

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from hearth.image.v1 import image_service_pb2 as image_pb
from hearth.image.v1 import image_service_pb2_grpc as image_grpc
from hearth.text.v1 import text_service_pb2 as text_pb
from hearth.text.v1 import text_service_pb2_grpc as text_grpc
from serving_core.request_errors import ERROR_DOMAIN
from tests.image_service.image_client import encoded, input_image, left_half_mask
from tests.reliability.conftest import LONG_PROMPT, StartImage
from tests.service_processes import ServiceProcess

# The *_serves_after fixtures check once per test, after every example: function scope is what they want.
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
U32_MAX, U64_MAX = 2**32 - 1, 2**64 - 1
IDLE_WITHIN_SECONDS = 10

edge_floats = st.floats(width=32, allow_nan=True, allow_infinity=True)
short_text = st.text(max_size=24)
request_ids = st.text(max_size=160)

Stub = text_grpc.TextGenerationServiceStub | image_grpc.ImageGenerationServiceStub


def _error(call: grpc.UnaryUnaryMultiCallable, request: object) -> grpc.RpcError | None:
    try:
        call(request, timeout=120)
    except grpc.RpcError as error:
        return error
    return None


def _stream_error(call: grpc.UnaryStreamMultiCallable, request: object) -> grpc.RpcError | None:
    try:
        for _ in call(request, timeout=120):
            pass
    except grpc.RpcError as error:
        return error
    return None


def _assert_ok_or_invalid_field(error: grpc.RpcError | None) -> None:
    """No error, or INVALID_ARGUMENT whose ErrorInfo says INVALID_FIELD in the hearth domain."""
    if error is None:
        return
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
    status = rpc_status.from_call(error)
    assert status is not None, error.details()
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info), status.details
    assert (info.reason, info.domain) == ("INVALID_FIELD", ERROR_DOMAIN)


def _assert_idle(stub: Stub, request: object) -> None:
    """No active or queued request is left behind (a leaked slot never comes back)."""
    deadline = time.monotonic() + IDLE_WITHIN_SECONDS
    stats = stub.GetModelInfo(request, timeout=10).stats
    while (stats.active_requests, stats.queued_requests) != (0, 0) and time.monotonic() < deadline:
        time.sleep(0.1)
        stats = stub.GetModelInfo(request, timeout=10).stats
    assert (stats.active_requests, stats.queued_requests) == (0, 0)


def _assert_text_serves(stub: text_grpc.TextGenerationServiceStub) -> None:
    _assert_idle(stub, text_pb.GetModelInfoRequest())
    reply = stub.Generate(
        text_pb.GenerateRequest(
            params=text_pb.TextParams(
                prompt=LONG_PROMPT, sampling=text_pb.SamplingParams(max_new_tokens=2, temperature=0)
            )
        ),
        timeout=120,
    )
    assert reply.usage.completion_tokens == 2


def _assert_image_serves(stub: image_grpc.ImageGenerationServiceStub) -> None:
    _assert_idle(stub, image_pb.GetModelInfoRequest())
    reply = stub.Generate(image_pb.GenerateRequest(params=image_pb.ImageParams(**VALID_IMAGE)), timeout=120)
    assert [(image.width, image.height, image.seed) for image in reply.images] == [(64, 64, 1)]


def _running(service: ServiceProcess) -> bool:
    return service.process is not None and service.process.poll() is None


def _assert_alive(service: ServiceProcess) -> None:
    assert _running(service), service.log_tail()
    with grpc.insecure_channel(service.target) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


@pytest.fixture(scope="module")
def text_stub(text_service: ServiceProcess) -> Iterator[text_grpc.TextGenerationServiceStub]:
    with grpc.insecure_channel(text_service.target) as channel:
        yield text_grpc.TextGenerationServiceStub(channel)


@pytest.fixture(scope="module")
def image_stub(image_service: ServiceProcess) -> Iterator[image_grpc.ImageGenerationServiceStub]:
    with grpc.insecure_channel(image_service.target) as channel:
        yield image_grpc.ImageGenerationServiceStub(channel)


@pytest.fixture
def text_serves_after(text_stub: text_grpc.TextGenerationServiceStub) -> Iterator[None]:
    """After the test: the text service is idle and a real Generate succeeds."""
    yield
    _assert_text_serves(text_stub)


@pytest.fixture
def image_serves_after(image_stub: image_grpc.ImageGenerationServiceStub) -> Iterator[None]:
    """After the test: the image service is idle and a real Generate succeeds."""
    yield
    _assert_image_serves(image_stub)


def _one_or_two_bad(draw: st.DrawFn, valid: dict, edges: dict[str, st.SearchStrategy]) -> dict:
    """`valid` with one or two fields replaced by edge values: a bad field is then the only reason to refuse,
    so each field's validation is exercised on its own (a draw with every field random hides most of them)."""
    fields = dict(valid)
    for name in draw(st.lists(st.sampled_from(sorted(edges)), min_size=1, max_size=2, unique=True)):
        fields[name] = draw(edges[name])
    return fields


VALID_SAMPLING = {"max_new_tokens": 2, "temperature": 0.0}
SAMPLING_EDGES: dict[str, st.SearchStrategy] = {
    "max_new_tokens": st.sampled_from([0, 1, 4_097, 8_193, U32_MAX]),
    "temperature": edge_floats,
    "top_p": edge_floats,
    "top_k": st.sampled_from([0, 1, 1_000, 1_001, U32_MAX]),
    "repetition_penalty": edge_floats,
    "seed": st.integers(0, U64_MAX),
    "stop": st.lists(st.one_of(short_text, st.just(""), st.just("x" * 129)), max_size=10),
}
CHAT = st.lists(
    st.builds(
        text_pb.ChatMessage,
        role=st.sampled_from(["user", "system", "assistant", "", "robot", "USER"]),
        content=short_text,
    ),
    max_size=4,
)
TEXT_EDGES: dict[str, st.SearchStrategy] = {
    "prompt": st.one_of(short_text, st.just(""), st.sampled_from(["a" * 32_769, "a" * 200_000])),
    "messages": st.one_of(CHAT, st.just([text_pb.ChatMessage(role="user", content="hi")] * 257)),
    "include_prompt": st.booleans(),
    "request_id": request_ids,
    "sampling": st.composite(
        lambda draw: text_pb.SamplingParams(**_one_or_two_bad(draw, VALID_SAMPLING, SAMPLING_EDGES))
    )(),
}


def _text_request(
    message_type: type[text_pb.GenerateRequest] | type[text_pb.GenerateStreamRequest], fields: dict
) -> text_pb.GenerateRequest | text_pb.GenerateStreamRequest:
    """A GenerateRequest or GenerateStreamRequest: request_id beside the TextParams, the rest inside them."""
    params = text_pb.TextParams(**{name: value for name, value in fields.items() if name != "request_id"})
    return message_type(params=params, request_id=fields.get("request_id", ""))


@st.composite
def text_requests(draw: st.DrawFn) -> dict:
    """The fields shared by GenerateRequest and GenerateStreamRequest: a tiny valid request, one or two bad."""
    valid = {"prompt": "Hello", "sampling": text_pb.SamplingParams(**VALID_SAMPLING)}
    return _one_or_two_bad(draw, valid, TEXT_EDGES)


VALID_IMAGE = {
    "prompt": "a lighthouse",
    "num_inference_steps": 2,
    "width": 64,
    "height": 64,
    "seed": 1,
    "num_images": 1,
    "scheduler": "euler",
}
SIZES = st.sampled_from([0, 7, 8, 63, 65, 72, 2_049, U32_MAX])
IMAGE_EDGES: dict[str, st.SearchStrategy] = {
    "prompt": st.one_of(short_text, st.just(""), st.just("p" * 4_097)),
    "negative_prompt": st.one_of(short_text, st.just("n" * 4_097)),
    "num_inference_steps": st.sampled_from([0, 1, 151, U32_MAX]),
    "guidance_scale": edge_floats,
    "width": SIZES,
    "height": SIZES,
    "seed": st.integers(0, U64_MAX),
    "num_images": st.sampled_from([0, 2, 9, U32_MAX]),
    "scheduler": st.one_of(st.sampled_from(["Euler a", "DPM++ 2M", "ddim", "pndm", "EULER"]), short_text),
    "output_format": st.integers(-3, 7),
    "init_image": st.one_of(
        st.binary(max_size=64),
        st.sampled_from(
            [
                encoded(input_image()),
                encoded(input_image(72, 72), "JPEG"),
                encoded(input_image(70, 66), "WEBP"),
                encoded(input_image())[:120],
                encoded(input_image(), "GIF"),
                encoded(input_image(8, 8)),
                encoded(Image.new("RGB", (2_100, 2_100))),
            ]
        ),
    ),
    "mask_image": st.one_of(
        st.binary(max_size=32),
        st.sampled_from(
            [encoded(left_half_mask()), encoded(left_half_mask(64, 72)), encoded(input_image().convert("RGBA"))]
        ),
    ),
    "strength": edge_floats,
    "preview_every": st.sampled_from([0, 1, 2, U32_MAX]),
}


@st.composite
def image_params(draw: st.DrawFn) -> image_pb.ImageParams:
    """A tiny valid request (64x64, 2 steps) with one or two fields at or beyond their limits."""
    return image_pb.ImageParams(**_one_or_two_bad(draw, VALID_IMAGE, IMAGE_EDGES))


@FUZZ
@given(fields=text_requests())
@pytest.mark.usefixtures("text_serves_after")
def test_text_generate_answers_bad_fields_with_invalid_argument(
    text_service: ServiceProcess, text_stub: text_grpc.TextGenerationServiceStub, fields: dict
) -> None:
    _assert_ok_or_invalid_field(_error(text_stub.Generate, _text_request(text_pb.GenerateRequest, fields)))
    assert _running(text_service), text_service.log_tail()
    _assert_idle(text_stub, text_pb.GetModelInfoRequest())


@FUZZ
@given(fields=text_requests())
@pytest.mark.usefixtures("text_serves_after")
def test_text_stream_answers_bad_fields_with_invalid_argument(
    text_service: ServiceProcess, text_stub: text_grpc.TextGenerationServiceStub, fields: dict
) -> None:
    _assert_ok_or_invalid_field(
        _stream_error(text_stub.GenerateStream, _text_request(text_pb.GenerateStreamRequest, fields))
    )
    assert _running(text_service), text_service.log_tail()
    _assert_idle(text_stub, text_pb.GetModelInfoRequest())


@FUZZ
@given(fields=text_requests())
@pytest.mark.usefixtures("text_serves_after")
def test_tokenize_answers_bad_fields_with_invalid_argument(
    text_stub: text_grpc.TextGenerationServiceStub, fields: dict
) -> None:
    request = text_pb.TokenizeRequest(prompt=fields.get("prompt", ""), messages=fields.get("messages", []))
    _assert_ok_or_invalid_field(_error(text_stub.Tokenize, request))


@FUZZ
@given(params=image_params(), request_id=request_ids, stream=st.booleans())
@pytest.mark.usefixtures("image_serves_after")
def test_image_generate_answers_bad_fields_with_invalid_argument(
    image_service: ServiceProcess,
    image_stub: image_grpc.ImageGenerationServiceStub,
    params: image_pb.ImageParams,
    request_id: str,
    stream: bool,
) -> None:
    if stream:
        request = image_pb.GenerateStreamRequest(params=params, request_id=request_id)
        _assert_ok_or_invalid_field(_stream_error(image_stub.GenerateStream, request))
    else:
        request = image_pb.GenerateRequest(params=params, request_id=request_id)
        _assert_ok_or_invalid_field(_error(image_stub.Generate, request))
    assert _running(image_service), image_service.log_tail()
    _assert_idle(image_stub, image_pb.GetModelInfoRequest())


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2): string, bytes or embedded message."""
    return bytes([number << 3 | 2, len(payload)]) + payload


BAD_UTF8 = b"caf\xc3(\xff\xfe"
RAW_METHODS = {
    "text Generate": ("/hearth.text.v1.TextGenerationService/Generate", _field(1, BAD_UTF8)),
    "text GenerateStream": ("/hearth.text.v1.TextGenerationService/GenerateStream", _field(1, BAD_UTF8)),
    "text Tokenize": ("/hearth.text.v1.TextGenerationService/Tokenize", _field(1, BAD_UTF8)),
    "image Generate": ("/hearth.image.v1.ImageGenerationService/Generate", _field(1, _field(1, BAD_UTF8))),
    "image GenerateStream": (
        "/hearth.image.v1.ImageGenerationService/GenerateStream",
        _field(1, _field(1, BAD_UTF8)),
    ),
}


def _raw_error(target: str, method: str, payload: bytes) -> grpc.RpcError | None:
    """Sends `payload` as the request's wire bytes, bypassing the client's own serialization."""
    with grpc.insecure_channel(target) as channel:
        if method.endswith("Stream"):
            return _stream_error(channel.unary_stream(method), payload)
        return _error(channel.unary_unary(method), payload)


@pytest.mark.parametrize("name", sorted(RAW_METHODS))
def test_invalid_utf8_and_garbage_on_the_wire_are_invalid_argument(name: str, request: pytest.FixtureRequest) -> None:
    method, bad_utf8 = RAW_METHODS[name]
    text = method.startswith("/hearth.text")
    service = request.getfixturevalue("text_service" if text else "image_service")
    for payload in (bad_utf8, b"\xff\xff\xff\xff", _field(1, b"abc")[:-1]):
        error = _raw_error(service.target, method, payload)
        assert error is not None, payload
        _assert_ok_or_invalid_field(error)
    _assert_alive(service)
    request.getfixturevalue("text_serves_after" if text else "image_serves_after")


def test_a_text_message_over_the_size_limit_is_resource_exhausted(
    text_service: ServiceProcess, text_stub: text_grpc.TextGenerationServiceStub
) -> None:
    oversized = text_pb.GenerateRequest(params=text_pb.TextParams(prompt="a" * (17 * 2**20)))  # the limit is 16 MiB
    error = _error(text_stub.Generate, oversized)
    assert error is not None
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    _assert_alive(text_service)
    _assert_text_serves(text_stub)


def test_an_image_message_over_the_size_limit_is_resource_exhausted(start_image_service: StartImage) -> None:
    service = start_image_service(HEARTH_IMAGE_MAX_MESSAGE_MIB="1")
    oversized = image_pb.GenerateRequest(params=image_pb.ImageParams(prompt="a" * (2 * 2**20)))
    with grpc.insecure_channel(service.target) as channel:
        stub = image_grpc.ImageGenerationServiceStub(channel)
        error = _error(stub.Generate, oversized)
        assert error is not None
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        _assert_alive(service)
        _assert_image_serves(stub)
