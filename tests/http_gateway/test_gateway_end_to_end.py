"""Issue 7's acceptance over the real services: original shapes, SSE, the openai SDK, cancellation, metrics."""

import base64
import json
import time
from collections.abc import Iterator

import grpc
import httpx
import openai
import pytest
from httpx_sse import connect_sse

from hearth.text.v1 import text_service_pb2 as text_pb2
from hearth.text.v1 import text_service_pb2_grpc
from tests.http_gateway.gateway_process import GatewayProcess
from tests.http_gateway.prometheus_text import metric_value
from tests.service_processes import ServiceProcess

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SMALL_IMAGE = {"num_inference_steps": 2, "height": 64, "width": 64}


@pytest.fixture(scope="module")
def http(gateway: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=300) as client:
        yield client


@pytest.fixture(scope="module")
def sdk(gateway: GatewayProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0, timeout=300) as client:
        yield client


def sse_events(http: httpx.Client, path: str, body: dict) -> list[tuple[str, dict]]:
    with connect_sse(http, "POST", path, json=body) as source:
        assert source.response.status_code == 200
        return [(event.event, json.loads(event.data)) for event in source.iter_sse()]


def test_original_bodies_give_original_shapes(http: httpx.Client) -> None:
    prompt = "Once upon a time, in a land far, far away,"
    text = http.post("/generate-text", json={"prompt": prompt, "max_new_tokens": 100, "temperature": 0.8})
    assert text.status_code == 200
    assert text.json()["generated_text"].startswith(prompt)
    assert text.json()["usage"]["completion_tokens"] <= 100
    image = http.post("/generate-image", json={"prompt": "a cozy hearth"})
    assert image.status_code == 200
    body = image.json()
    assert body["message"] == "Image generated successfully."
    assert base64.b64decode(body["image_base64"]).startswith(PNG_MAGIC)
    assert (body["width"], body["height"]) == (512, 512)
    health = http.get("/health").json()
    assert {"api_status", "text_model_loaded", "image_model_loaded", "device"} <= set(health)
    assert (health["text_model_loaded"], health["image_model_loaded"]) == (True, True)


def test_sse_deltas_join_to_the_unary_text(http: httpx.Client) -> None:
    body = {"prompt": "The three primary colours are", "max_new_tokens": 16, "do_sample": False}
    unary = http.post("/generate-text", json=body).json()["generated_text"]
    events = sse_events(http, "/generate-text", {**body, "stream": True})
    assert events[-1][0] == "done"
    joined = "".join(data["text"] for name, data in events if name == "token")
    assert joined == unary == events[-1][1]["generated_text"]
    assert events[-1][1]["finish_reason"] in {"length", "eos", "stop"}


def test_image_stream_reports_every_step_then_the_image(http: httpx.Client) -> None:
    events = sse_events(http, "/generate-image", {"prompt": "embers", **SMALL_IMAGE, "stream": True})
    assert [name for name, _ in events] == ["progress", "progress", "image", "done"]
    assert base64.b64decode(events[2][1]["image_base64"]).startswith(PNG_MAGIC)


def test_openai_sdk_completions_and_chat(sdk: openai.OpenAI) -> None:
    completion = sdk.completions.create(model="hearth", prompt="1, 2, 3,", max_tokens=8, temperature=0)
    assert completion.choices[0].text
    assert completion.usage.completion_tokens <= 8
    streamed = sdk.completions.create(model="hearth", prompt="1, 2, 3,", max_tokens=8, temperature=0, stream=True)
    assert "".join(chunk.choices[0].text for chunk in streamed if chunk.choices) == completion.choices[0].text

    messages = [{"role": "user", "content": "Name one colour."}]
    chat = sdk.chat.completions.create(model="hearth", messages=messages, max_tokens=12, temperature=0)
    assert chat.choices[0].message.role == "assistant"
    assert chat.choices[0].message.content
    assert chat.usage.prompt_tokens > 0
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
