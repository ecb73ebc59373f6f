"""Issue 7's acceptance over the real services: original shapes, SSE, the openai SDK, cancellation, metrics."""

import base64
import json
import time

import grpc
import httpx
import openai
from httpx_sse import connect_sse

from hearth.text.v1 import text_service_pb2 as text_pb2
from hearth.text.v1 import text_service_pb2_grpc
from tests.http_gateway.prometheus_text import metric_value
from tests.image_service.image_client import log_records
from tests.reliability.conftest import LONG_PROMPT
from tests.service_processes import ServiceProcess

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SMALL_IMAGE = {"num_inference_steps": 2, "height": 64, "width": 64}


def sse_events(http: httpx.Client, path: str, body: dict) -> list[tuple[str, dict]]:
    with connect_sse(http, "POST", path, json=body) as source:
        assert source.response.status_code == 200
        return [(event.event, json.loads(event.data)) for event in source.iter_sse()]


def _token_count(text_service: ServiceProcess, prompt: str = "", messages: list[dict] | None = None) -> int:
    """How many tokens the text service makes of a prompt or chat (with its template), as Generate counts."""
    chat = [text_pb2.ChatMessage(**message) for message in messages or []]
    with grpc.insecure_channel(text_service.target) as channel:
        stub = text_service_pb2_grpc.TextGenerationServiceStub(channel)
        return len(stub.Tokenize(text_pb2.TokenizeRequest(prompt=prompt, messages=chat), timeout=30).token_ids)


def _assert_exact_usage(usage: dict, finish_reason: str, asked: int, prompt_tokens: int) -> None:
    """Only the end of sequence or a stop string may end a completion before the asked number of tokens."""
    assert usage["prompt_tokens"] == prompt_tokens
    if finish_reason == "length":
        assert usage["completion_tokens"] == asked
    else:
        assert 0 < usage["completion_tokens"] < asked
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_original_bodies_give_original_shapes(http: httpx.Client, text_service: ServiceProcess) -> None:
    prompt = "Once upon a time, in a land far, far away,"
    text = http.post("/generate-text", json={"prompt": prompt, "max_new_tokens": 100, "temperature": 0.8})
    assert text.status_code == 200
    generated = text.json()["generated_text"]
    assert generated.startswith(prompt)
    assert generated[len(prompt) :].strip()
    _assert_exact_usage(text.json()["usage"], text.json()["finish_reason"], 100, _token_count(text_service, prompt))
    image = http.post("/generate-image", json={"prompt": "a cozy hearth"})
    assert image.status_code == 200
    body = image.json()
    assert body["message"] == "Image generated successfully."
    assert base64.b64decode(body["image_base64"]).startswith(PNG_MAGIC)
    assert (body["width"], body["height"]) == (512, 512)
    health = http.get("/health").json()
    assert {"api_status", "text_model_loaded", "image_model_loaded", "device"} <= set(health)
    assert (health["text_model_loaded"], health["image_model_loaded"]) == (True, True)


def test_sse_deltas_join_to_the_unary_text(http: httpx.Client, text_service: ServiceProcess) -> None:
    body = {"prompt": LONG_PROMPT, "max_new_tokens": 16, "do_sample": False, "include_prompt": False}
    unary = http.post("/generate-text", json=body).json()
    events = sse_events(http, "/generate-text", {**body, "stream": True})
    names = [name for name, _ in events]
    assert names == ["token"] * (len(events) - 1) + ["done"]
    joined = "".join(data["text"] for name, data in events if name == "token")
    assert joined.strip()
    assert joined == unary["generated_text"] == events[-1][1]["generated_text"]
    assert sum(len(data["token_ids"]) for name, data in events if name == "token") == 16
    done = events[-1][1]
    assert done["finish_reason"] == unary["finish_reason"] == "length"
    assert done["usage"] == unary["usage"]
    _assert_exact_usage(done["usage"], "length", 16, _token_count(text_service, LONG_PROMPT))


def test_image_stream_reports_every_step_then_the_image(http: httpx.Client) -> None:
    events = sse_events(http, "/generate-image", {"prompt": "embers", **SMALL_IMAGE, "stream": True})
    assert [name for name, _ in events] == ["progress", "progress", "image", "done"]
    assert base64.b64decode(events[2][1]["image_base64"]).startswith(PNG_MAGIC)


def test_openai_sdk_completions_and_chat(sdk: openai.OpenAI, text_service: ServiceProcess) -> None:
    completion = sdk.completions.create(model="hearth", prompt=LONG_PROMPT, max_tokens=8, temperature=0)
    assert completion.choices[0].text.strip()
    assert completion.choices[0].finish_reason == "length"
    _assert_exact_usage(completion.usage.model_dump(), "length", 8, _token_count(text_service, LONG_PROMPT))
    streamed = sdk.completions.create(model="hearth", prompt=LONG_PROMPT, max_tokens=8, temperature=0, stream=True)
    assert "".join(chunk.choices[0].text for chunk in streamed if chunk.choices) == completion.choices[0].text

    messages = [{"role": "user", "content": "Name one colour."}]
    chat = sdk.chat.completions.create(model="hearth", messages=messages, max_tokens=12, temperature=0)
    assert chat.choices[0].message.role == "assistant"
    assert chat.choices[0].message.content.strip()
    reason = chat.choices[0].finish_reason
    _assert_exact_usage(chat.usage.model_dump(), reason, 12, _token_count(text_service, messages=messages))
    stream = sdk.chat.completions.create(
        model="hearth",
        messages=messages,
        max_tokens=12,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == chat.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == chat.usage.completion_tokens


def test_several_choices_with_echo_each_get_their_own_request_id(
    http: httpx.Client, text_service: ServiceProcess
) -> None:
    """The text service refuses two requests in flight with one id: n choices are n ids, all from the header's."""
    body = {"model": "hearth", "prompt": LONG_PROMPT, "max_tokens": 4, "n": 3, "echo": True, "seed": 11}
    reply = http.post("/v1/completions", json=body, headers={"x-request-id": "e2e-choices"})
    assert reply.status_code == 200, reply.text
    choices = reply.json()["choices"]
    assert [choice["index"] for choice in choices] == [0, 1, 2]
    for choice in choices:
        assert choice["text"].startswith(LONG_PROMPT)
        assert choice["text"][len(LONG_PROMPT) :].strip()
    usage = reply.json()["usage"]
    assert usage["prompt_tokens"] == _token_count(text_service, LONG_PROMPT)
    assert usage["completion_tokens"] == 3 * 4
    for request_id in ("e2e-choices", "e2e-choices-1", "e2e-choices-2"):
        assert len(log_records(text_service, "request", request_id)) == 1, request_id


def test_several_streamed_chat_choices_each_complete(sdk: openai.OpenAI, text_service: ServiceProcess) -> None:
    messages = [{"role": "user", "content": "Write a long story about a lighthouse."}]
    stream = sdk.chat.completions.create(
        model="hearth",
        messages=messages,
        max_tokens=6,
        n=2,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    texts, finished = ["", ""], {}
    for chunk in chunks:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
            if choice.finish_reason:
                finished[choice.index] = choice.finish_reason
    assert texts[0].strip()
    assert texts[0] == texts[1]
    assert finished == {0: "length", 1: "length"}
    assert chunks[-1].usage.completion_tokens == 2 * 6
    assert chunks[-1].usage.prompt_tokens == _token_count(text_service, messages=messages)


def test_openai_sdk_images_and_models(sdk: openai.OpenAI) -> None:
    images = sdk.images.generate(
        prompt="a lantern", n=2, size="64x64", response_format="b64_json", extra_body={"num_inference_steps": 2}
    )
    assert len(images.data) == 2
    assert all(base64.b64decode(image.b64_json).startswith(PNG_MAGIC) for image in images.data)
    assert len(sdk.models.list().data) == 2


def _engine_stats(target: str) -> text_pb2.EngineStats:
    with grpc.insecure_channel(target) as channel:
        stub = text_service_pb2_grpc.TextGenerationServiceStub(channel)
        return stub.GetModelInfo(text_pb2.GetModelInfoRequest(), timeout=10).stats


def test_disconnecting_mid_stream_leaves_no_active_request(http: httpx.Client, text_service: ServiceProcess) -> None:
    body = {"prompt": "1, 2, 3, 4, 5, 6,", "max_new_tokens": 2000, "do_sample": False, "stream": True}
    seen = []
    with connect_sse(http, "POST", "/generate-text", json=body) as source:
        for event in source.iter_sse():
            seen.append(event.event)
            if len(seen) == 4:
                break
    assert "done" not in seen
    deadline = time.monotonic() + 60  # guards against a hang; 2000 tokens would take minutes on this CPU
    stats = _engine_stats(text_service.target)
    while (stats.active_requests or stats.queued_requests) and time.monotonic() < deadline:
        time.sleep(0.1)
        stats = _engine_stats(text_service.target)
    assert (stats.active_requests, stats.queued_requests) == (0, 0)


def test_metrics_count_real_requests(http: httpx.Client) -> None:
    before = http.get("/metrics").text
    http.post("/generate-text", json={"prompt": "Hi", "max_new_tokens": 2})
    after = http.get("/metrics").text
    labels = {"route": "/generate-text", "kind": "completion"}
    assert metric_value(after, "hearth_gateway_tokens_total", **labels) > metric_value(
        before, "hearth_gateway_tokens_total", **labels
    )
    assert metric_value(after, "hearth_gateway_backend_up", backend="text") == 1
