"""The original routes over fake backends: original bodies in, original shapes out, SSE formats."""

import asyncio
import base64
from collections.abc import Callable
from typing import Any

import httpx

from hearth.image.v1 import image_service_pb2 as image_pb2
from tests.http_gateway.fake_backends import FakeBackend
from tests.http_gateway.sse_reading import read_events


async def test_original_text_body_gives_original_shape_and_defaults(
    client: httpx.AsyncClient, fake_text: FakeBackend
) -> None:
    response = await client.post("/generate-text", json={"prompt": "Once upon a time,"})
    assert response.status_code == 200
    body = response.json()
    assert body["generated_text"].startswith("Once upon a time, w0 w1")
    assert body["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 100
    sent = fake_text.log.requests[-1]
    assert sent.params.include_prompt
    assert sent.params.sampling.max_new_tokens == 100
    assert abs(sent.params.sampling.temperature - 0.7) < 1e-6


async def test_do_sample_false_is_greedy_and_extra_fields_reach_the_contract(
    client: httpx.AsyncClient, fake_text: FakeBackend
) -> None:
    body = {
        "prompt": "p",
        "max_new_tokens": 5,
        "temperature": 1.3,
        "do_sample": False,
        "seed": 2**64 - 1,
        "stop": ["\n\n"],
        "top_k": 40,
        "top_p": 0.9,
        "repetition_penalty": 1.1,
        "include_prompt": False,
    }
    response = await client.post("/generate-text", json=body)
    assert response.json()["generated_text"] == " w0 w1 w2 w3 w4"
    sampling = fake_text.log.requests[-1].params.sampling
    assert sampling.temperature == 0
    assert (sampling.seed, list(sampling.stop), sampling.top_k) == (2**64 - 1, ["\n\n"], 40)
    assert abs(sampling.top_p - 0.9) < 1e-6


async def test_text_stream_deltas_join_to_the_unary_text(client: httpx.AsyncClient) -> None:
    body = {"prompt": "Count:", "max_new_tokens": 6}
    unary = (await client.post("/generate-text", json=body)).json()
    events = await read_events(client, "/generate-text", {**body, "stream": True})
    names = [name for name, _ in events]
    assert names == ["token"] * 7 + ["done"]
    tokens = [data for name, data in events if name == "token"]
    assert tokens[1] == {"text": " w0", "token_ids": [0]}
    done = events[-1][1]
    assert "".join(token["text"] for token in tokens) == unary["generated_text"] == done["generated_text"]
    assert done["finish_reason"] == "length"
    assert done["usage"] == {"prompt_tokens": 3, "completion_tokens": 6, "total_tokens": 9}
    assert set(done["timings"]) == {"queue_seconds", "time_to_first_token_seconds", "total_seconds"}


async def test_original_image_body_gives_original_shape(client: httpx.AsyncClient, fake_image: FakeBackend) -> None:
    response = await client.post("/generate-image", json={"prompt": "a hearth"})
    assert response.status_code == 200
    body = response.json()
    assert base64.b64decode(body["image_base64"]) == b"image-0"
    assert body["message"] == "Image generated successfully."
    assert "images" not in body
    params = fake_image.log.requests[-1].params
    assert (params.num_inference_steps, params.width, params.height) == (50, 512, 512)
    assert abs(params.guidance_scale - 7.5) < 1e-6


async def test_image_extras_and_several_images(client: httpx.AsyncClient, fake_image: FakeBackend) -> None:
    body = {
        "prompt": "a hearth",
        "negative_prompt": "blur",
        "seed": 7,
        "num_images": 2,
        "scheduler": "euler_a",
        "output_format": "webp",
        "width": 64,
        "height": 128,
    }
    reply = (await client.post("/generate-image", json=body)).json()
    assert [image["seed"] for image in reply["images"]] == [7, 8]
    assert reply["message"] == "2 images generated successfully."
    params = fake_image.log.requests[-1].params
    assert (params.negative_prompt, params.scheduler, params.output_format) == (
        "blur",
        "euler_a",
        image_pb2.OUTPUT_FORMAT_WEBP,
    )


async def test_image_stream_sends_progress_then_images_then_done(client: httpx.AsyncClient) -> None:
    events = await read_events(
        client, "/generate-image", {"prompt": "x", "num_inference_steps": 3, "num_images": 2, "stream": True}
    )
    assert [name for name, _ in events] == ["progress"] * 3 + ["image"] * 2 + ["done"]
    assert events[0][1] == {"step": 1, "total_steps": 3, "elapsed_seconds": 0.01}
    image = events[3][1]
    assert (image["index"], image["mime_type"], base64.b64decode(image["image_base64"])) == (0, "image/png", b"image-0")
    assert events[-1][1]["message"] == "2 images generated successfully."
    assert events[-1][1]["timings"]["batch_size"] == 2


async def test_health_reports_both_backends_and_readiness(client: httpx.AsyncClient) -> None:
    health = (await client.get("/health")).json()
    assert health["api_status"] == "running"
    assert (health["text_model_loaded"], health["image_model_loaded"], health["device"]) == (True, True, "cpu")
    assert health["text"]["model_id"] == "fake-text"
    assert (await client.get("/health/ready")).status_code == 200


async def test_readiness_fails_while_a_backend_is_not_serving(
    client: httpx.AsyncClient, fake_text: FakeBackend
) -> None:
    await fake_text.set_serving(False)
    try:
        health = await _poll_health(client, lambda h: not h["text_model_loaded"])
        assert health["text"]["status"] == "not_serving"
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert "text backend not_serving" in ready.json()["error"]["message"]
        refused = await client.post("/generate-text", json={"prompt": "p"})
        assert refused.status_code == 503
    finally:
        await fake_text.set_serving(True)
    await _poll_health(client, lambda h: h["text_model_loaded"])
    assert (await client.post("/generate-text", json={"prompt": "p", "max_new_tokens": 1})).status_code == 200


async def _poll_health(
    client: httpx.AsyncClient, condition: Callable[[dict[str, Any]], bool], attempts: int = 100
) -> dict[str, Any]:
    for _ in range(attempts):
        health = (await client.get("/health")).json()
        if condition(health):
            return health
        await asyncio.sleep(0.05)
    raise AssertionError(f"health never reached the condition: {health}")
